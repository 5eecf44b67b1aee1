"""Reusable UI: filter bar, cards, chart builders, i18n and the one module holding Streamlit caching."""
