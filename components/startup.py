"""First start: when the store holds no feedback, build the embedded demo market, then annotate it.

Two steps, so the overview appears as soon as the demo rows exist (it needs no annotations):
1. :func:`prepare_store` (before the page): builds the demo with a progress bar — seconds.
2. :func:`finish_first_start` (after the page has been drawn): annotates the demo reviews (sentiment,
   aspects) with a progress bar at the top of the page — the long part. If the user interacts meanwhile,
   Streamlit interrupts the run; annotation is incremental, so the next run resumes where it stopped.

Both happen at most once per store and server process, so deleting every dataset in the import page does
not bring the demo back until the next start.
"""

from __future__ import annotations

import threading

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from components import actions_ui, cache
from components.annotation_ui import annotate_with_progress
from components.i18n import register, t
from components.safe_text import escape_markdown
from data.demo import ensure_demo
from data.store import StoreError, is_empty

register(
    {
        "startup.building": (
            "首次启动：正在生成演示数据（模拟手机市场）…",
            "First start: building the demo data (a simulated phone market)…",
        ),
        "startup.built": ("演示数据已就绪。", "The demo data is ready."),
        "startup.failed": ("生成演示数据失败：{message}", "Building the demo data failed: {message}"),
        "startup.annotating": (
            "正在为演示数据做情感与指标分析（下面的总览已可查看）…",
            "Analysing sentiment and aspects of the demo data (the overview below is ready)…",
        ),
        "startup.annotated": ("演示数据的情感与指标分析已完成。", "The demo data has been analysed."),
    }
)

_checked: set[str] = set()  # stores whose emptiness was checked by this process
_to_annotate: set[str] = set()  # stores whose demo this process built and has not annotated yet
_lock = threading.Lock()
_annotating = threading.Lock()


def _clamp(fraction: float) -> float:
    return min(max(float(fraction), 0.0), 1.0)


def prepare_store() -> None:
    """Build the demo market if the store is empty (once per store path and process)."""
    path = cache.store_path()
    if path in _checked:
        return
    con = cache.write_cursor()  # a cursor of its own: other sessions query the store meanwhile
    with _lock:
        if path in _checked:
            return
        if not is_empty(con.cursor()):
            _checked.add(path)
            return
        bar = st.progress(0.0, text=t("startup.building"))

        def update(fraction: float, message: str) -> None:
            bar.progress(_clamp(fraction), text=f"{t('startup.building')} {message}".strip())

        try:
            built = ensure_demo(con, progress=update)
        except (StoreError, ValueError) as exc:
            bar.empty()
            st.error(t("startup.failed", message=escape_markdown(exc)))
            st.stop()
        bar.empty()
        _checked.add(path)
        if built:
            _to_annotate.add(path)
    if built:
        cache.clear_data_caches()
        st.toast(t("startup.built"))


def finish_first_start(status: DeltaGenerator) -> None:
    """Annotate the demo this process just built, with a progress bar in ``status`` (a container drawn
    above the page). Does nothing on later runs, or while another session is already annotating."""
    path = cache.store_path()
    if path not in _to_annotate or not _annotating.acquire(blocking=False):
        return
    try:
        with status:
            bar = st.progress(0.0, text=t("startup.annotating"))

            def update(fraction: float, message: str) -> None:
                bar.progress(_clamp(fraction), text=f"{t('startup.annotating')} {message}".strip())

            summary = annotate_with_progress(cache.write_cursor(), None, update)
            actions_ui.run_rules_after_import(cache.write_cursor())  # the default rules on the demo
            bar.empty()
        # Done, or failed with a warning already shown (e.g. model weights missing): do not retry each run.
        _to_annotate.discard(path)
    finally:
        _annotating.release()
    if summary is not None:
        cache.clear_data_caches()
        st.toast(t("startup.annotated"))
