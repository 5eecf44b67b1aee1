"""The periodic CEM report: which period, what it contains, and its HTML and XLSX renderings."""
