"""Command groups of ``cli.py``. Each module exposes ``register(...)`` adding its commands to the Typer app.

The CLI sits beside ``app.py`` at the top of the layer stack: it may import every layer except the UI.
"""
