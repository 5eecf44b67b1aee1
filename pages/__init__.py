"""One module per screen; each exposes ``render()`` and only orchestrates (see docs/ARCHITECTURE.md)."""
