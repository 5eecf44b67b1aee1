"""Run the annotation pipeline from the UI with a progress bar (after an import, after the demo is built).

:func:`annotate_with_progress` is the one entry point: it turns the pipeline's ``(done, total)`` progress into
the UI's ``(fraction, message)`` callback and shows a problem (model weights missing, invalid taxonomy) as a
warning instead of a traceback: the imported rows stay stored, and ``python cli.py annotate`` or a later
import finishes the annotation.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import streamlit as st

from components.i18n import register, t
from models.annotation_store import AnnotationError, AnnotationSummary, annotate_dataset
from models.taxonomy import TaxonomyError

register(
    {
        "annotate.progress": (
            "正在分析情感与指标：{done:,} / {total:,} 条",
            "Analysing sentiment and aspects: {done:,} / {total:,} rows",
        ),
        "annotate.loading": ("正在加载情感模型…", "Loading the sentiment models…"),
        "annotate.failed": (
            "数据已导入，但情感分析未完成：{message}。可稍后运行 `python cli.py annotate` 补全。",
            "The data is imported but not analysed yet: {message}. Run `python cli.py annotate` later to "
            "finish.",
        ),
        "annotate.done": (
            "情感分析完成：{annotated:,} 条（模型计算 {scored:,} 条，缓存命中 {cached:,} 条），"
            "识别指标提及 {mentions:,} 处。",
            "Analysis done: {annotated:,} rows ({scored:,} scored by the models, {cached:,} from the cache), "
            "{mentions:,} aspect mentions.",
        ),
    }
)

UiProgress = Callable[[float, str], None]


def _load_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [AnnotationError, TaxonomyError]
    from models.aspect_polarity import AspectModelError
    from models.sentiment import SentimentModelError

    errors.extend([SentimentModelError, AspectModelError])
    return tuple(errors)


def annotate_with_progress(
    con: duckdb.DuckDBPyConnection,
    dataset: str | int | None,
    progress: UiProgress | None,
    *,
    rescore: bool = False,
) -> AnnotationSummary | None:
    """Annotate what ``dataset`` (every dataset when None) still needs; None and a warning on failure.

    ``rescore=True`` re-annotates rows annotated by another pipeline version (new model, edited taxonomy).
    """

    def report(done: int, total: int) -> None:
        if progress is not None:
            fraction = done / total if total else 1.0
            progress(fraction, t("annotate.progress", done=done, total=total))

    if progress is not None:
        progress(0.0, t("annotate.loading"))
    try:
        return annotate_dataset(con, dataset, progress=report, rescore=rescore)
    except _load_errors() as exc:
        st.warning(t("annotate.failed", message=str(exc)))
        return None


def summary_caption(summary: AnnotationSummary) -> str:
    """One line about a run, for ``st.caption``."""
    return t(
        "annotate.done",
        annotated=summary.feedback_annotated,
        scored=summary.texts_scored,
        cached=summary.texts_from_cache,
        mentions=summary.mentions_written,
    )
