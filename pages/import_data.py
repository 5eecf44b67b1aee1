"""数据导入 Import: upload a file, confirm kind, name and mapping, import, see the result; manage datasets."""

from __future__ import annotations

import streamlit as st

from components import cache, datasets_panel, frame, import_flow
from components.i18n import register, t
from components.safe_text import escape_markdown

register(
    {
        "importpage.title": ("数据导入", "Import"),
        "importpage.intro": (
            "支持 CSV、TSV、TXT、Excel (xlsx)、JSON、JSONL、Parquet；编码自动识别（UTF-8、GBK、GB18030）。"
            "同一文件重复导入不会产生重复数据。",
            "CSV, TSV, TXT, Excel (xlsx), JSON, JSONL and Parquet; the encoding is detected (UTF-8, GBK, "
            "GB18030). Importing the same file again adds no duplicates.",
        ),
        "importpage.upload": ("选择文件", "Choose a file"),
        "importpage.refused": ("无法导入该文件：{message}", "This file cannot be imported: {message}"),
    }
)


def main() -> None:
    frame.require_frame()
    st.title(t("importpage.title"))
    st.caption(t("importpage.intro"))
    st.file_uploader(
        t("importpage.upload"), type=list(import_flow.UPLOAD_TYPES), key=import_flow.KEY_FILE,
    )
    upload = import_flow.current_upload()
    if upload is not None:
        if upload.refused is not None:
            st.error(t("importpage.refused", message=escape_markdown(upload.refused)))
        else:
            names = cache.datasets()["name"].astype(str).tolist()
            file_id = st.session_state[import_flow.KEY_FILE].file_id
            if import_flow.import_form(upload, file_id, names) is not None:
                st.rerun()  # refresh the sidebar options and the dataset list
    result = st.session_state.get(import_flow.KEY_RESULT)
    if result is not None:
        datasets_panel.import_result(result)
    st.divider()
    datasets_panel.datasets_panel()


main()
