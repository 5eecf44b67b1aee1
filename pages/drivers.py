"""驱动因素 Key drivers: which aspects move NPS (or the star rating when there is no NPS), importance against
performance in a quadrant chart, with a note when the sample is too small to say."""

from __future__ import annotations

import streamlit as st

from components import cache, drivers_views, frame
from components.i18n import current_lang, register, t
from components.safe_text import escape_markdown
from components.sidebar import current_filters

register(
    {
        "drivers.title": ("驱动因素", "Key drivers"),
        "drivers.scope": ("范围：{what}", "Scope: {what}"),
        "drivers.outcome": ("结果变量", "Outcome"),
        "drivers.outcome.auto": ("自动（有 NPS 用 NPS）", "Auto (NPS when present)"),
        "drivers.outcome.nps": ("NPS", "NPS"),
        "drivers.outcome.rating": ("星级", "Star rating"),
        "drivers.empty": (
            "所选数据中没有已做方面情感标注、且带{outcome}的反馈，无法分析驱动因素。"
            "请在“数据导入”页运行 NLP 标注，或换一个结果变量、放宽筛选。",
            "The selection has no aspect-annotated feedback with {outcome}, so there are no drivers to "
            "estimate. Annotate the data on the Import page, pick another outcome or widen the filters.",
        ),
    }
)

OUTCOMES = ("auto", "nps", "rating")


def main() -> None:
    frame.require_frame()
    filters = current_filters()
    lang = current_lang()
    st.title(t("drivers.title"))
    st.caption(t("drivers.scope", what=escape_markdown(filters.describe(lang))))
    outcome = st.segmented_control(
        t("drivers.outcome"), list(OUTCOMES), format_func=lambda o: t(f"drivers.outcome.{o}"),
        default="auto", required=True, key="drivers_outcome",
    ) or "auto"
    drivers = cache.key_drivers(filters, outcome)
    if drivers.table.empty or drivers.n == 0:
        st.info(t("drivers.empty", outcome=t(f"drivers.outcome.{drivers.outcome}")))
        return
    drivers_views.sample_notes(drivers)
    drivers_views.quadrant(drivers, lang)
    drivers_views.table(drivers)


main()
