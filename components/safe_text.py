"""Show values that come from files (dataset names, brands, file names, error messages) as plain text inside
Streamlit elements that render Markdown (``st.caption``, ``st.info``, ``st.error``, ``st.subheader`` …).

Without escaping, a brand called ``[点击领奖](http://…)`` in an imported file would become a link, and
``:red[…]``, ``$…$`` or ``**`` would change how a message looks.
"""

from __future__ import annotations

import re

# Markdown punctuation plus Streamlit's own directives (``:icon:``, ``:color[..]``, ``$latex$``).
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def escape_markdown(value: object) -> str:
    """``value`` as text that Streamlit's Markdown shows literally (line breaks become spaces)."""
    text = " ".join(str(value).split())
    return _SPECIAL.sub(r"\\\1", text)
