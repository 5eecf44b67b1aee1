"""The import engine behind the 数据导入 page, the CLI and the demo generator: one import = one transaction.

``ingest_file`` reads a file (:mod:`data.readers`), suggests a mapping and kind when none is given
(:mod:`data.mapping`) and hands the table to ``ingest_frame``, which validates every row
(:mod:`data.validate`) and writes, inside one transaction, the dataset row, the new feedback (or product)
rows and the rejected rows. If anything fails half-way the transaction is rolled back and the store is
exactly as before.

Duplicates: each feedback row gets ``content_hash`` = SHA-256 of its mapped values and unmapped source
columns, plus the occurrence number of identical rows within the file (so two identical "好评" rows in one
file both count). Rows whose hash is already stored are skipped with an anti-join, so re-importing a file
or an overlapping file adds nothing. ``feedback_id`` is allocated as max + row number under the single
writer. Products are upserted on (brand, product); a value missing in the new file keeps the stored one.

All row work is vectorised: the validated DataFrame is registered with DuckDB and written with
INSERT … SELECT. ``ingest_file`` first tries the SQL fast path (:mod:`data.ingest_sql`: UTF-8 CSV/TSV and
Parquet feedback files read, validated and hashed by DuckDB, with identical results) and falls back to the
pandas path for everything else.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from data import ingest_probe, ingest_sql, rollups
from data.mapping import FIELDS, KINDS, SPEC_FIELDS, guess_kind, suggest_mapping
from data.readers import FileRefused, LoadedTable, read_table
from data.store import WRITE_LOCK, transaction
from data.validate import Validated, validate_frame

Progress = Callable[[float, str], None]

# The content hash covers the mapped feedback fields, in this order; changing it would make re-imports of
# already stored files add their rows again (tests/test_ingest.py pins the order).
_HASH_FIELDS: tuple[str, ...] = ingest_sql.HASH_FIELDS
_PRODUCT_VALUE_COLUMNS: tuple[str, ...] = SPEC_FIELDS


class DatasetNotFound(LookupError):
    """No dataset has the given name or id."""


class DatasetKindMismatch(ValueError):
    """An import under an existing dataset name has a different kind."""


@dataclass(frozen=True)
class ImportResult:
    dataset_id: int
    name: str
    kind: str
    rows_read: int
    imported: int
    rejected: int
    duplicates: int
    encoding: str


@dataclass(frozen=True)
class DeletedDataset:
    dataset_id: int
    name: str
    feedback_rows: int
    product_rows: int
    rejected_rows: int


def _notify(progress: Progress | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(min(max(fraction, 0.0), 1.0), message)


def usable_mapping_problem(mapping: dict[str, str], kind: str, columns: list[str]) -> str | None:
    """Why ``mapping`` cannot import anything (None when it can)."""
    listed = ", ".join(f"'{c}'" for c in columns[:20]) + (" …" if len(columns) > 20 else "")
    if kind == "products":
        if "product" not in mapping:
            return (
                f"no model/product column found (columns: {listed}); "
                "name it with --map product=COLUMN or choose another kind"
            )
        return None
    if not any(field in mapping for field in ("text", "rating", "nps_score")):
        return (
            f"no usable text or score column found (columns: {listed}); name one with "
            "--map text=COLUMN, --map rating=COLUMN or --map nps_score=COLUMN"
        )
    return None


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    kind: str | None = None,
    mapping: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Read ``path`` and import it (see :func:`ingest_frame`); raises :class:`FileRefused` for a bad file."""
    file_path = Path(path)
    _notify(progress, 0.0, f"读取 {file_path.name}")
    if kind != "products":
        fast = ingest_probe.probe(file_path, file_path.name)
        if fast is not None:
            result = _ingest_fast(
                con, fast, name=name or file_path.stem, kind=kind, mapping=mapping, progress=progress
            )
            if result is not None:
                return result
    loaded = read_table(file_path, file_path.name)
    return ingest_loaded(
        con, loaded, name=name or file_path.stem, kind=kind, mapping=mapping, progress=progress
    )


def ingest_loaded(
    con: duckdb.DuckDBPyConnection,
    loaded: LoadedTable,
    *,
    name: str,
    kind: str | None = None,
    mapping: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import a table already read by :func:`data.readers.read_table` (the UI reads once for its preview)."""
    columns = list(loaded.frame.columns)
    kind = kind or guess_kind(columns)
    if mapping is None:
        mapping = suggest_mapping(columns, kind, loaded.frame.head(500))
    return ingest_frame(
        con,
        loaded.frame,
        name=name,
        kind=kind,
        mapping=mapping,
        source_file=loaded.filename,
        encoding=loaded.encoding,
        progress=progress,
        source_rows=loaded.source_rows,
        bad_lines=loaded.bad_lines,
    )


def ingest_frame(
    con: duckdb.DuckDBPyConnection,
    frame: pd.DataFrame,
    *,
    name: str,
    kind: str,
    mapping: dict[str, str] | None,
    source_file: str,
    encoding: str = "utf-8",
    is_demo: bool = False,
    progress: Progress | None = None,
    source_rows: list[int] | None = None,
    bad_lines: pd.DataFrame | None = None,
) -> ImportResult:
    """Validate ``frame`` and write it as one transaction under dataset ``name`` (appending if it exists).

    ``frame`` may hold strings (from a file) or typed columns (Timestamp, int, float). ``mapping`` is
    ``{field: column}``; ``None`` means "suggest from the headers". ``source_rows`` gives each row's number
    in the file (default 1, 2, …); ``bad_lines`` (``source_row``, ``reason``, ``raw_row``) are lines the
    reader could not split into fields, recorded as rejected. Raises :class:`FileRefused` when nothing can
    be imported from the table as a whole.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    name = " ".join(str(name).split())
    if not name:
        raise ValueError("a dataset needs a name")
    columns = [str(c) for c in frame.columns]
    if mapping is None:
        mapping = suggest_mapping(columns, kind, frame.head(500))
    mapping = {field: column for field, column in mapping.items() if column}
    problem = usable_mapping_problem(mapping, kind, columns)
    if problem:
        raise FileRefused(f"{source_file}: {problem}")
    if frame.empty and (bad_lines is None or bad_lines.empty):
        raise FileRefused(f"{source_file}: the table has no data rows; nothing to import")
    try:
        _notify(progress, 0.1, "校验数据")
        validated = validate_frame(frame, mapping, kind, source_rows=source_rows)
    except ValueError as exc:
        raise FileRefused(f"{source_file}: {exc}") from exc
    rejected = validated.rejected
    if bad_lines is not None and not bad_lines.empty:
        extra_rejected = bad_lines.assign(column_name=None)[
            ["source_row", "column_name", "reason", "raw_row"]
        ]
        rejected = pd.concat([extra_rejected, rejected], ignore_index=True).sort_values("source_row")
    rows_read = len(frame) + (0 if bad_lines is None else len(bad_lines))

    def write_rows(cur: duckdb.DuckDBPyConnection, dataset_id: int) -> tuple[int, int]:
        if kind == "products":
            return _upsert_products(cur, validated, dataset_id)
        return _insert_feedback(cur, validated, dataset_id)

    cur = con.cursor()
    try:
        return _write_import(
            cur,
            write_rows,
            rejected,
            name=name,
            kind=kind,
            source_file=source_file,
            encoding=encoding,
            mapping=mapping,
            is_demo=is_demo,
            rows_read=rows_read,
            progress=progress,
        )
    finally:
        cur.close()


def _write_import(
    cur: duckdb.DuckDBPyConnection,
    write_rows: Callable[[duckdb.DuckDBPyConnection, int], tuple[int, int]],
    rejected: pd.DataFrame,
    *,
    name: str,
    kind: str,
    source_file: str,
    encoding: str,
    mapping: dict[str, str],
    is_demo: bool,
    rows_read: int,
    progress: Progress | None,
) -> ImportResult:
    """One import as one transaction, for both paths: dataset row, ``write_rows`` (returns imported and
    duplicates), rejected rows, counters. Anything that must follow the feedback insert goes right after
    ``write_rows``."""
    _notify(progress, 0.4, "写入数据库")
    with WRITE_LOCK, transaction(cur):
        dataset_id = _dataset_for(cur, name, kind, source_file, encoding, mapping, is_demo)
        imported, duplicates = write_rows(cur, dataset_id)
        rollups.refresh_dataset(cur, dataset_id)  # same transaction: the dashboards' counts (data/rollups.py)
        _notify(progress, 0.85, "记录被拒绝的行")
        _insert_rejected(cur, rejected, dataset_id)
        cur.execute(
            "UPDATE datasets SET rows_read = rows_read + ?, rows_imported = rows_imported + ?,"
            " rows_rejected = rows_rejected + ?, rows_duplicate = rows_duplicate + ?"
            " WHERE dataset_id = ?",
            [rows_read, imported, len(rejected), duplicates, dataset_id],
        )
    _notify(progress, 1.0, f"完成：导入 {imported} 行，拒绝 {len(rejected)} 行，重复 {duplicates} 行")
    return ImportResult(
        dataset_id=dataset_id,
        name=name,
        kind=kind,
        rows_read=rows_read,
        imported=imported,
        rejected=len(rejected),
        duplicates=duplicates,
        encoding=encoding,
    )


def _ingest_fast(
    con: duckdb.DuckDBPyConnection,
    source: ingest_probe.FastSource,
    *,
    name: str,
    kind: str | None,
    mapping: dict[str, str] | None,
    progress: Progress | None,
) -> ImportResult | None:
    """Import a file through the SQL path (:mod:`data.ingest_sql`); None when it must take the pandas path.

    The same checks, messages and transaction as :func:`ingest_frame`; the rows never enter Python.
    """
    name = " ".join(str(name).split())
    if not name:
        raise ValueError("a dataset needs a name")
    cur = con.cursor()
    try:
        with ingest_sql.bounded_memory(cur, source):
            return _ingest_staged(cur, source, name=name, kind=kind, mapping=mapping, progress=progress)
    finally:
        ingest_sql.drop(cur)
        cur.close()


def _ingest_staged(
    cur: duckdb.DuckDBPyConnection,
    source: ingest_probe.FastSource,
    *,
    name: str,
    kind: str | None,
    mapping: dict[str, str] | None,
    progress: Progress | None,
) -> ImportResult | None:
    """The body of :func:`_ingest_fast` on its cursor (temporary tables live there)."""
    staged = ingest_sql.stage(cur, source)
    if staged is None or staged.rows == 0:
        return None
    columns = list(source.columns)
    kind = kind or guess_kind(columns)
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    if kind == "products":
        return None
    if mapping is None:
        mapping = suggest_mapping(columns, kind, staged.head)
    mapping = {field: column for field, column in mapping.items() if column}
    problem = usable_mapping_problem(mapping, kind, columns)
    if problem:
        raise FileRefused(f"{source.filename}: {problem}")
    _notify(progress, 0.1, "校验数据")
    try:
        checked = ingest_sql.check(cur, staged, mapping, kind)
    except ingest_sql.NotForThisPath:
        return None
    except ValueError as exc:
        raise FileRefused(f"{source.filename}: {exc}") from exc

    def write_rows(cur: duckdb.DuckDBPyConnection, dataset_id: int) -> tuple[int, int]:
        # hashed: the checked rows carry their content hash (computed while validating)
        imported = ingest_sql.insert_feedback_from(cur, checked.relation, dataset_id, True)
        return imported, checked.valid - imported

    return _write_import(
        cur,
        write_rows,
        checked.rejected,
        name=name,
        kind=kind,
        source_file=source.filename,
        encoding=source.encoding,
        mapping=mapping,
        is_demo=False,
        rows_read=staged.rows,
        progress=progress,
    )


def _dataset_for(
    cur: duckdb.DuckDBPyConnection,
    name: str,
    kind: str,
    source_file: str,
    encoding: str,
    mapping: dict[str, str],
    is_demo: bool,
) -> int:
    """The id of dataset ``name``: the existing one (same kind) or a new one."""
    found = cur.execute("SELECT dataset_id, kind FROM datasets WHERE name = ?", [name]).fetchall()
    mapping_json = json.dumps(mapping, ensure_ascii=False)
    if found:
        dataset_id, existing_kind = found[0]
        if existing_kind != kind:
            raise DatasetKindMismatch(
                f"dataset '{name}' already holds {existing_kind}, not {kind}; import under another --name"
            )
        cur.execute(
            "UPDATE datasets SET source_file = ?, encoding = ?, column_mapping = ? WHERE dataset_id = ?",
            [source_file, encoding, mapping_json, dataset_id],
        )
        return int(dataset_id)
    created = cur.execute(
        "INSERT INTO datasets (name, kind, source_file, encoding, column_mapping, is_demo)"
        " VALUES (?, ?, ?, ?, ?, ?) RETURNING dataset_id",
        [name, kind, source_file, encoding, mapping_json, is_demo],
    ).fetchall()
    return int(created[0][0])


def _insert_feedback(
    cur: duckdb.DuckDBPyConnection, validated: Validated, dataset_id: int
) -> tuple[int, int]:
    """Insert rows whose content hash is new; return (imported, duplicates)."""
    rows = validated.rows
    if rows.empty:
        return 0, 0
    cur.register("_tj_ingest_rows", rows)
    try:
        imported = ingest_sql.insert_feedback_from(cur, "_tj_ingest_rows", dataset_id)
    finally:
        cur.unregister("_tj_ingest_rows")
    return imported, len(rows) - imported


def _upsert_products(
    cur: duckdb.DuckDBPyConnection, validated: Validated, dataset_id: int
) -> tuple[int, int]:
    """Upsert products on (brand, product); return (inserted or changed, duplicates or unchanged)."""
    rows = validated.rows
    if rows.empty:
        return 0, 0
    keys = rows.assign(_key=rows["product"].str.lower())
    unique = keys.drop_duplicates(subset=["brand", "_key"], keep="last").drop(columns="_key")
    in_file_duplicates = len(rows) - len(unique)
    cur.register("_tj_ingest_raw_products", unique)
    try:
        # Keep the stored spelling of a model ("iPhone 11" vs "iphone 11") so sources merge on one row.
        cur.execute(
            """
            CREATE OR REPLACE TEMP TABLE _tj_ingest_products AS
            SELECT n.* REPLACE (coalesce(e.product, n.product) AS product)
            FROM _tj_ingest_raw_products n
            LEFT JOIN (
                SELECT brand, lower(product) AS lp, min(product) AS product FROM products GROUP BY ALL
            ) e
              ON e.brand = n.brand AND e.lp = lower(n.product)
            """
        )
        same = " AND ".join(
            f"coalesce(CAST(n.{c} AS DOUBLE), CAST(p.{c} AS DOUBLE))"
            f" IS NOT DISTINCT FROM CAST(p.{c} AS DOUBLE)"
            if c != "release_date"
            else "coalesce(CAST(n.release_date AS DATE), p.release_date) IS NOT DISTINCT FROM p.release_date"
            for c in _PRODUCT_VALUE_COLUMNS
        )
        cur.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _tj_changed_products AS
            SELECT n.* FROM _tj_ingest_products n
            WHERE NOT EXISTS (
                SELECT 1 FROM products p
                WHERE p.brand = n.brand AND p.product = n.product AND {same}
                  AND (p.is_ours OR NOT n.is_ours)
            )
            """
        )
        updates = ", ".join(f"{c} = coalesce(EXCLUDED.{c}, products.{c})" for c in _PRODUCT_VALUE_COLUMNS)
        cur.execute(
            f"""
            INSERT INTO products (brand, product, release_date, launch_price_cny, weight_g, thickness_mm,
                                  battery_mah, screen_in, is_ours, dataset_id, extra)
            SELECT brand, product, CAST(release_date AS DATE), launch_price_cny, weight_g, thickness_mm,
                   battery_mah, screen_in, is_ours, ?, CAST(extra AS JSON)
            FROM _tj_changed_products
            ON CONFLICT (brand, product) DO UPDATE SET {updates},
                is_ours = EXCLUDED.is_ours OR products.is_ours,
                dataset_id = EXCLUDED.dataset_id, extra = EXCLUDED.extra
            """,
            [dataset_id],
        )
        changed = int(cur.execute("SELECT count(*) FROM _tj_changed_products").fetchall()[0][0])
        cur.execute("DROP TABLE _tj_changed_products")
        cur.execute("DROP TABLE _tj_ingest_products")
    finally:
        cur.unregister("_tj_ingest_raw_products")
    return changed, in_file_duplicates + (len(unique) - changed)


def _insert_rejected(cur: duckdb.DuckDBPyConnection, rejected: pd.DataFrame, dataset_id: int) -> None:
    """Store rejected rows for download; counters in ``datasets`` still count every import run."""
    if rejected.empty:
        return
    frame = rejected[["source_row", "column_name", "reason", "raw_row"]].astype(
        {"source_row": "int64", "column_name": "object", "reason": "object", "raw_row": "object"}
    )
    cur.register("_tj_rejected", frame)
    try:
        # A rejection already listed for this dataset (the same file imported again) is not listed twice.
        cur.execute(
            "INSERT INTO rejected_rows (dataset_id, source_row, column_name, reason, raw_row)"
            " SELECT $id, t.source_row, t.column_name, t.reason, CAST(t.raw_row AS JSON) FROM _tj_rejected t"
            " WHERE NOT EXISTS (SELECT 1 FROM rejected_rows r WHERE r.dataset_id = $id"
            "   AND r.source_row = t.source_row AND r.reason = t.reason"
            "   AND CAST(r.raw_row AS VARCHAR)"
            "       IS NOT DISTINCT FROM CAST(CAST(t.raw_row AS JSON) AS VARCHAR))",
            {"id": dataset_id},
        )
    finally:
        cur.unregister("_tj_rejected")


def _resolve(cur: duckdb.DuckDBPyConnection, name_or_id: str | int) -> tuple[int, str]:
    if isinstance(name_or_id, int) and not isinstance(name_or_id, bool):
        rows = cur.execute(
            "SELECT dataset_id, name FROM datasets WHERE dataset_id = ?", [name_or_id]
        ).fetchall()
        if not rows:
            raise DatasetNotFound(f"no dataset numbered {name_or_id} (see: python cli.py datasets list)")
        return int(rows[0][0]), str(rows[0][1])
    rows = cur.execute("SELECT dataset_id, name FROM datasets WHERE name = ?", [str(name_or_id)]).fetchall()
    if not rows and str(name_or_id).strip().isdigit():
        rows = cur.execute(
            "SELECT dataset_id, name FROM datasets WHERE dataset_id = ?", [int(str(name_or_id).strip())]
        ).fetchall()
    if not rows:
        raise DatasetNotFound(
            f"no dataset named or numbered '{name_or_id}' (see: python cli.py datasets list)"
        )
    return int(rows[0][0]), str(rows[0][1])


def _tables_with_column(cur: duckdb.DuckDBPyConnection, column: str, exclude: set[str]) -> list[str]:
    rows = cur.execute(
        "SELECT DISTINCT c.table_name FROM information_schema.columns c"
        " JOIN information_schema.tables t ON t.table_name = c.table_name AND t.table_schema = c.table_schema"
        " WHERE c.column_name = ? AND c.table_schema = 'main' AND t.table_type = 'BASE TABLE'",
        [column],
    ).fetchall()
    return sorted(r[0] for r in rows if r[0] not in exclude)


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def delete_dataset(con: duckdb.DuckDBPyConnection, name_or_id: str | int) -> DeletedDataset:
    """Delete a dataset and everything that belongs to it, in one transaction.

    Besides ``feedback``, ``products`` and ``rejected_rows``, rows of any other table with a
    ``feedback_id`` column (annotations) or a ``dataset_id`` column are removed too, so nothing is orphaned.
    """
    cur = con.cursor()
    try:
        with WRITE_LOCK, transaction(cur):
            dataset_id, name = _resolve(cur, name_or_id)
            # Alerts and cases outlive their feedback (the link dangles; the 行动 page says so).
            kept = {"feedback", "alerts", "cases", "case_events"}
            for table in _tables_with_column(cur, "feedback_id", kept):
                cur.execute(
                    f"DELETE FROM {_quote_ident(table)} WHERE feedback_id IN"
                    " (SELECT feedback_id FROM feedback WHERE dataset_id = ?)",
                    [dataset_id],
                )
            counts: dict[str, int] = {}
            for table in _tables_with_column(cur, "dataset_id", {"datasets"}):
                deleted = cur.execute(
                    f"DELETE FROM {_quote_ident(table)} WHERE dataset_id = ?", [dataset_id]
                ).fetchall()
                counts[table] = int(deleted[0][0]) if deleted else 0
            cur.execute("DELETE FROM datasets WHERE dataset_id = ?", [dataset_id])
    finally:
        cur.close()
    return DeletedDataset(
        dataset_id=dataset_id,
        name=name,
        feedback_rows=counts.get("feedback", 0),
        product_rows=counts.get("products", 0),
        rejected_rows=counts.get("rejected_rows", 0),
    )


def list_datasets(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every dataset with its import counters and the rows it holds now (feedback_rows, product_rows)."""
    cur = con.cursor()
    try:
        return cur.execute(
            """
            SELECT d.dataset_id, d.name, d.kind, d.source_file, d.encoding, d.rows_read, d.rows_imported,
                   d.rows_rejected, d.rows_duplicate, d.is_demo, d.imported_at,
                   coalesce(f.n, 0) AS feedback_rows, coalesce(p.n, 0) AS product_rows
            FROM datasets d
            LEFT JOIN (SELECT dataset_id, count(*) AS n FROM feedback GROUP BY ALL) f USING (dataset_id)
            LEFT JOIN (SELECT dataset_id, count(*) AS n FROM products GROUP BY ALL) p USING (dataset_id)
            ORDER BY d.dataset_id
            """
        ).df()
    finally:
        cur.close()


def rejected_rows(con: duckdb.DuckDBPyConnection, dataset_id: int) -> pd.DataFrame:
    """The rejected rows of one dataset (source_row, column_name, reason, raw_row), in file order."""
    cur = con.cursor()
    try:
        return cur.execute(
            "SELECT source_row, column_name, reason, CAST(raw_row AS VARCHAR) AS raw_row FROM rejected_rows"
            " WHERE dataset_id = ? ORDER BY source_row",
            [int(dataset_id)],
        ).df()
    finally:
        cur.close()


def field_names(kind: str) -> tuple[str, ...]:
    """The fields a mapping for ``kind`` may name."""
    return FIELDS[kind]
