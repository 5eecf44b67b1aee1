"""The 数据导入 flow: read an upload, confirm kind/name/mapping with a preview, import with progress.

The logic (``load_upload``, ``mapped_preview``, ``missing_required``, ``run_import``) is plain Python tested
directly; ``import_form`` renders it. Everything goes through the same engine as the CLI (``data.ingest``).
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath

import duckdb
import pandas as pd
import streamlit as st

from components import actions_ui, cache
from components.annotation_ui import annotate_with_progress
from components.i18n import register, t
from components.safe_text import escape_markdown
from data import ingest
from data.ingest import ImportResult
from data.mapping import FIELDS, KINDS, guess_kind, suggest_mapping
from data.readers import FileRefused, LoadedTable, read_table
from data.store import StoreError

Progress = Callable[[float, str], None]

UPLOAD_TYPES: tuple[str, ...] = ("csv", "tsv", "txt", "xlsx", "json", "jsonl", "parquet")
PREVIEW_ROWS = 20
NOT_MAPPED = ""

register(
    {
        "import.detected": (
            "已读取 {rows:,} 行、{cols} 列 · 格式 {format} · 编码 {encoding}",
            "Read {rows:,} rows, {cols} columns · format {format} · encoding {encoding}",
        ),
        "import.kind": ("数据类型", "Kind of data"),
        "import.kind.reviews": ("评论（电商/社交评价）", "Reviews (e-commerce, social)"),
        "import.kind.survey": ("调查（NPS 问卷）", "Survey (NPS questionnaire)"),
        "import.kind.products": ("产品参数表", "Product specifications"),
        "import.name": ("数据集名称", "Dataset name"),
        "import.name_exists": (
            "已有同名数据集“{name}”：新行会追加到该数据集，重复行自动跳过。",
            "A dataset named “{name}” exists: new rows are appended to it, duplicates skipped.",
        ),
        "import.mapping": ("字段对应（请确认）", "Column mapping (please confirm)"),
        "import.mapping_help": (
            "左侧是听见的字段，右侧选择文件中对应的列；不需要的字段选“不导入”。",
            "For each Tingjian field, pick the file's column; choose “not imported” for fields you don't "
            "need.",
        ),
        "import.not_mapped": ("（不导入）", "(not imported)"),
        "import.preview": ("映射后预览（前 {n} 行）", "Preview after mapping (first {n} rows)"),
        "import.missing": ("还缺少必需的字段：{fields}", "Required fields not mapped yet: {fields}"),
        "import.button": ("开始导入", "Import"),
        "import.progress": ("正在导入…", "Importing…"),
        "import.failed": (
            "导入失败，数据库没有改变：{message}", "Import failed, the store is unchanged: {message}"
        ),
        "import.no_name": ("请填写数据集名称。", "Please enter a dataset name."),
        "field.text": ("评论内容", "Text"),
        "field.rating": ("星级 1–5", "Rating 1–5"),
        "field.nps_score": ("NPS 打分 0–10", "NPS score 0–10"),
        "field.created_at": ("日期时间", "Date/time"),
        "field.brand": ("品牌", "Brand"),
        "field.product": ("型号", "Model"),
        "field.channel": ("渠道", "Channel"),
        "field.region": ("地区", "Region"),
        "field.store": ("门店", "Store"),
        "field.customer_id": ("客户编号", "Customer id"),
        "field.release_date": ("发布日期", "Release date"),
        "field.launch_price_cny": ("首发价（人民币）", "Launch price (CNY)"),
        "field.weight_g": ("重量（克）", "Weight (g)"),
        "field.thickness_mm": ("厚度（毫米）", "Thickness (mm)"),
        "field.battery_mah": ("电池（mAh）", "Battery (mAh)"),
        "field.screen_in": ("屏幕（英寸）", "Screen (in)"),
        "field.is_ours": ("是否本品", "Our product"),
    }
)

KEY_FILE = "import_file"
KEY_KIND = "import_kind"
KEY_NAME = "import_name"
KEY_BUTTON = "import_button"
KEY_SEEDED_FOR = "import_seeded_for"
KEY_LOADED = "import_loaded"
KEY_RESULT = "import_result"


def mapping_key(field: str) -> str:
    return f"import_map_{field}"


# --- logic ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """An uploaded file as read: its name, the table, and a refusal message when it could not be read."""

    filename: str
    table: LoadedTable | None
    refused: str | None
    data: bytes = dataclasses.field(default=b"", repr=False)  # raw bytes, for the SQL fast path


def load_upload(data: bytes, filename: str) -> Upload:
    """Read uploaded bytes; a file that cannot be imported gives its refusal message, never an exception."""
    try:
        return Upload(filename, read_table(data, filename), None, data)
    except FileRefused as exc:
        return Upload(filename, None, str(exc))


def default_name(filename: str) -> str:
    """The file name without its extension: the suggested dataset name."""
    return PurePath(filename).stem.strip() or filename


def required_fields(kind: str) -> list[tuple[str, ...]]:
    """Groups of fields of which at least one must be mapped, per kind."""
    if kind == "products":
        return [("product",)]
    return [("text", "rating", "nps_score")]


def missing_required(mapping: Mapping[str, str], kind: str) -> list[tuple[str, ...]]:
    """The required field groups that ``mapping`` leaves unmapped."""
    mapped = {f for f, c in mapping.items() if c}
    return [group for group in required_fields(kind) if not mapped.intersection(group)]


def mapped_preview(frame: pd.DataFrame, mapping: Mapping[str, str], rows: int = PREVIEW_ROWS) -> pd.DataFrame:
    """The first ``rows`` rows as they will be read: one column per mapped field, named by the field."""
    chosen = {f: c for f, c in mapping.items() if c and c in frame.columns}
    head = frame.head(rows)
    columns = {field: head[column].to_numpy() for field, column in chosen.items()}
    return pd.DataFrame(columns, index=head.index)


def run_import(
    con: duckdb.DuckDBPyConnection,
    upload: Upload,
    *,
    name: str,
    kind: str,
    mapping: Mapping[str, str],
    progress: Progress | None = None,
) -> ImportResult:
    """Import the upload through the shared engine (one transaction), then run the post-import steps.

    Raises :class:`FileRefused` when nothing can be imported, ``ValueError`` for a bad name or kind.
    """
    if upload.table is None:
        raise ValueError("the upload was refused; nothing to import")
    chosen = {f: c for f, c in mapping.items() if c}
    if upload.data and kind != "products":
        # ingest_file takes the SQL fast path for plain UTF-8 CSV/TSV and Parquet (same rows as the pandas
        # path, tests/test_ingest_fast.py) and falls back to the pandas path for everything else. The file
        # keeps its own name: it is stored as the dataset's source file and named in messages.
        with tempfile.TemporaryDirectory(prefix="tingjian-upload-") as folder:
            path = Path(folder) / (PurePath(upload.filename).name or "upload")
            path.write_bytes(upload.data)
            result = ingest.ingest_file(con, path, name=name, kind=kind, mapping=chosen, progress=progress)
    else:
        result = ingest.ingest_loaded(
            con, upload.table, name=name, kind=kind, mapping=chosen, progress=progress
        )
    after_import(con, result, progress)
    return result


def after_import(con: duckdb.DuckDBPyConnection, result: ImportResult, progress: Progress | None) -> None:
    """Post-import step: annotate the new rows (review sentiment, aspect mentions) with the same progress.

    Known texts come from the annotation cache (no model call); a re-imported file has nothing pending and
    loads no model. A failure (e.g. model weights missing) is shown as a warning: the rows stay imported.
    """
    if result.kind == "products":
        return None
    annotate_with_progress(con, result.dataset_id, progress)
    actions_ui.run_rules_after_import(con)  # after annotation: some rules read the annotations
    return None


# --- rendering -----------------------------------------------------------------------------------------


def progress_bar(label: str) -> tuple[Progress, Callable[[], None]]:
    """An ``st.progress`` bar as a ``(fraction, message)`` callback, and a function that removes it."""
    bar = st.progress(0.0, text=label)

    def update(fraction: float, message: str) -> None:
        bar.progress(min(max(float(fraction), 0.0), 1.0), text=message or label)

    return update, bar.empty


def current_upload() -> Upload | None:
    """The uploaded file, read once per upload (kept in session state), or None."""
    uploaded = st.session_state.get(KEY_FILE)
    if uploaded is None:
        st.session_state.pop(KEY_LOADED, None)
        return None
    saved = st.session_state.get(KEY_LOADED)
    if saved is not None and saved[0] == uploaded.file_id:
        return saved[1]
    upload = load_upload(uploaded.getvalue(), uploaded.name)
    st.session_state[KEY_LOADED] = (uploaded.file_id, upload)
    return upload


def _seed(upload: Upload, file_id: str) -> None:
    """Fill kind, name and mapping widgets with suggestions, once per uploaded file."""
    if st.session_state.get(KEY_SEEDED_FOR) == file_id or upload.table is None:
        return
    columns = list(upload.table.frame.columns)
    kind = guess_kind(columns)
    st.session_state[KEY_KIND] = kind
    st.session_state[KEY_NAME] = default_name(upload.filename)
    _seed_mapping(upload, kind)
    st.session_state[KEY_SEEDED_FOR] = file_id


def _seed_mapping(upload: Upload, kind: str) -> None:
    assert upload.table is not None
    frame = upload.table.frame
    suggestion = suggest_mapping(list(frame.columns), kind, sample=frame.head(200))
    for kind_fields in FIELDS.values():
        for field in kind_fields:
            st.session_state[mapping_key(field)] = suggestion.get(field, NOT_MAPPED)


def _on_kind_change() -> None:
    upload = st.session_state.get(KEY_LOADED, (None, None))[1]
    if upload is not None and upload.table is not None:
        _seed_mapping(upload, st.session_state[KEY_KIND])


def mapping_editor(columns: Iterable[str], kind: str) -> dict[str, str]:
    """One selectbox per field of ``kind`` (stable keys ``import_map_<field>``); returns the mapping."""
    options = [NOT_MAPPED, *columns]
    mapping: dict[str, str] = {}
    grid = st.columns(3)
    for i, field in enumerate(FIELDS[kind]):
        key = mapping_key(field)
        if st.session_state.get(key) not in options:
            st.session_state[key] = NOT_MAPPED
        mapping[field] = grid[i % 3].selectbox(
            t(f"field.{field}") + f" · {field}",
            options=options,
            format_func=lambda c: t("import.not_mapped") if c == NOT_MAPPED else str(c),
            key=key,
        )
    return {f: c for f, c in mapping.items() if c}


def import_form(upload: Upload, file_id: str, existing_names: Iterable[str]) -> ImportResult | None:
    """Kind, name, mapping with preview, and the import button; returns the result after an import."""
    assert upload.table is not None
    table = upload.table
    _seed(upload, file_id)
    st.caption(
        t("import.detected", rows=len(table.frame), cols=len(table.frame.columns), format=table.format,
          encoding=table.encoding)
    )
    left, right = st.columns(2)
    kind = left.selectbox(
        t("import.kind"), options=list(KINDS), format_func=lambda k: t(f"import.kind.{k}"), key=KEY_KIND,
        on_change=_on_kind_change,
    )
    name = right.text_input(t("import.name"), key=KEY_NAME, max_chars=200).strip()
    if name and name in set(existing_names):
        right.info(t("import.name_exists", name=escape_markdown(name)))
    st.subheader(t("import.mapping"))
    st.caption(t("import.mapping_help"))
    mapping = mapping_editor(table.frame.columns, kind)
    st.caption(t("import.preview", n=PREVIEW_ROWS))
    st.dataframe(mapped_preview(table.frame, mapping), width="stretch")
    missing = missing_required(mapping, kind)
    if missing:
        groups = " / ".join("、".join(t(f"field.{f}") for f in group) for group in missing)
        st.warning(t("import.missing", fields=groups))
    if not st.button(t("import.button"), key=KEY_BUTTON, type="primary", disabled=bool(missing) or not name):
        return None
    update, done = progress_bar(t("import.progress"))
    try:
        result = run_import(
            cache.write_cursor(), upload, name=name, kind=kind, mapping=mapping, progress=update
        )
    except (FileRefused, StoreError, ValueError, duckdb.Error) as exc:
        done()
        st.error(t("import.failed", message=escape_markdown(exc)))
        return None
    done()
    cache.clear_data_caches()
    st.session_state[KEY_RESULT] = result
    return result
