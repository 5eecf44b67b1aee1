"""Imported datasets: the list, the last import's result with its rejected rows, and deletion with a
confirmation step."""

from __future__ import annotations

import duckdb
import pandas as pd
import streamlit as st

from components import cache
from components.downloads import csv_download_button
from components.i18n import register, t
from components.safe_text import escape_markdown
from data import ingest
from data.ingest import ImportResult
from data.store import StoreError

register(
    {
        "datasets.title": ("已导入的数据集", "Imported datasets"),
        "datasets.empty": ("还没有数据集。上传一个文件开始。", "No datasets yet. Upload a file to start."),
        "datasets.pick": ("选择要删除的数据集", "Dataset to delete"),
        "datasets.delete": ("删除…", "Delete…"),
        "datasets.confirm": (
            "确定删除数据集“{name}”及其全部 {rows:,} 行吗？此操作不能撤销。",
            "Delete the dataset “{name}” and all its {rows:,} rows? This cannot be undone.",
        ),
        "datasets.yes": ("确认删除", "Yes, delete"),
        "datasets.no": ("取消", "Cancel"),
        "datasets.deleted": ("已删除数据集“{name}”。", "Deleted the dataset “{name}”."),
        "datasets.delete_failed": ("删除失败：{message}", "Delete failed: {message}"),
        "datasets.col.dataset_id": ("编号", "Id"),
        "datasets.col.name": ("名称", "Name"),
        "datasets.col.kind": ("类型", "Kind"),
        "datasets.col.feedback_rows": ("反馈行数", "Feedback rows"),
        "datasets.col.product_rows": ("产品行数", "Product rows"),
        "datasets.col.rows_read": ("读取行数", "Rows read"),
        "datasets.col.rows_rejected": ("被拒绝", "Rejected"),
        "datasets.col.rows_duplicate": ("重复", "Duplicates"),
        "datasets.col.source_file": ("来源文件", "Source file"),
        "datasets.col.encoding": ("编码", "Encoding"),
        "datasets.col.is_demo": ("演示数据", "Demo"),
        "datasets.col.imported_at": ("导入时间", "Imported at"),
        "result.title": ("导入结果：{name}", "Import result: {name}"),
        "result.read": ("读取行数", "Rows read"),
        "result.imported": ("已导入", "Imported"),
        "result.rejected": ("被拒绝", "Rejected"),
        "result.duplicates": ("重复（已跳过）", "Duplicates (skipped)"),
        "result.rejected_title": ("被拒绝的行（附原因）", "Rejected rows (with reasons)"),
        "result.download": ("下载被拒绝的行 CSV", "Download rejected rows (CSV)"),
    }
)

DISPLAY_COLUMNS = (
    "dataset_id", "name", "kind", "feedback_rows", "product_rows", "rows_read", "rows_rejected",
    "rows_duplicate", "source_file", "encoding", "is_demo", "imported_at",
)

KEY_PICK = "datasets_pick"
KEY_DELETE = "datasets_delete"
KEY_YES = "datasets_delete_yes"
KEY_NO = "datasets_delete_no"
KEY_PENDING = "datasets_pending_delete"
KEY_NOTICE = "datasets_notice"
KEY_DOWNLOAD = "result_rejected_download"


def import_result(result: ImportResult) -> None:
    """Counts of the last import and its rejected rows (table + CSV download)."""
    st.subheader(t("result.title", name=escape_markdown(result.name)))
    cols = st.columns(4)
    cols[0].metric(t("result.read"), f"{result.rows_read:,}")
    cols[1].metric(t("result.imported"), f"{result.imported:,}")
    cols[2].metric(t("result.rejected"), f"{result.rejected:,}")
    cols[3].metric(t("result.duplicates"), f"{result.duplicates:,}")
    if result.rejected:
        rejected = ingest.rejected_rows(cache.cursor(), result.dataset_id)
        st.caption(t("result.rejected_title"))
        st.dataframe(rejected, width="stretch", hide_index=True)
        csv_download_button(
            rejected, label=t("result.download"), file_name=f"rejected_{result.name}.csv", key=KEY_DOWNLOAD
        )


def _row_count(row: pd.Series) -> int:
    return int(row.get("feedback_rows", 0) or 0) + int(row.get("product_rows", 0) or 0)


def _display(frame: pd.DataFrame) -> pd.DataFrame:
    """The dataset list with the columns a person needs, headed in the UI language."""
    shown = [c for c in DISPLAY_COLUMNS if c in frame.columns]
    return frame[shown].rename(columns={c: t(f"datasets.col.{c}") for c in shown})


def datasets_panel() -> None:
    """The list of datasets and a delete button that asks for confirmation first."""
    st.subheader(t("datasets.title"))
    notice = st.session_state.pop(KEY_NOTICE, None)
    if notice:
        st.success(notice)
    frame = cache.datasets()
    if frame.empty:
        st.info(t("datasets.empty"))
        return
    st.dataframe(_display(frame), width="stretch", hide_index=True)
    names = dict(zip(frame["dataset_id"].astype(int), frame["name"].astype(str), strict=True))
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    choice = left.selectbox(
        t("datasets.pick"), options=list(names), format_func=lambda i: names.get(i, str(i)), index=None,
        key=KEY_PICK,
    )
    if right.button(t("datasets.delete"), key=KEY_DELETE, disabled=choice is None, icon=":material/delete:"):
        st.session_state[KEY_PENDING] = choice
    pending = st.session_state.get(KEY_PENDING)
    if pending is None or pending not in names:
        st.session_state.pop(KEY_PENDING, None)
        return
    row = frame[frame["dataset_id"].astype(int) == pending].iloc[0]
    st.warning(t("datasets.confirm", name=escape_markdown(names[pending]), rows=_row_count(row)))
    yes, no = st.columns(2)
    if yes.button(t("datasets.yes"), key=KEY_YES, type="primary"):
        st.session_state.pop(KEY_PENDING, None)
        try:
            ingest.delete_dataset(cache.write_cursor(), int(pending))
        except (StoreError, LookupError, ValueError, duckdb.Error) as exc:
            st.error(t("datasets.delete_failed", message=escape_markdown(exc)))
            return
        cache.clear_data_caches()
        st.session_state[KEY_NOTICE] = t("datasets.deleted", name=escape_markdown(names[pending]))
        st.session_state.pop(KEY_PICK, None)
        st.rerun()
    if no.button(t("datasets.no"), key=KEY_NO):
        st.session_state.pop(KEY_PENDING, None)
        st.rerun()
