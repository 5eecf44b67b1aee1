"""Where things live: the store file and the shared real-data corpora."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB_PATH = PROJECT_ROOT / "data" / "cem.duckdb"
DB_ENV_VAR = "TINGJIAN_DB"
SHARED_DATA_ENV_VAR = "TINGJIAN_SHARED_DATA"


def resolve_db_path(cli_value: str | os.PathLike[str] | None = None) -> Path:
    """Return the store path: an explicit ``--db`` value, else ``$TINGJIAN_DB``, else ``data/cem.duckdb``."""
    if cli_value:
        return Path(cli_value).expanduser()
    env_value = os.environ.get(DB_ENV_VAR)
    if env_value:
        return Path(env_value).expanduser()
    return DEFAULT_DB_PATH


def shared_data_dir() -> Path:
    """Return the folder of real corpora (``../shared/data`` beside the checkout unless overridden)."""
    env_value = os.environ.get(SHARED_DATA_ENV_VAR)
    if env_value:
        return Path(env_value).expanduser()
    return PROJECT_ROOT.parent / "shared" / "data"
