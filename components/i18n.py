"""UI strings in Simplified Chinese (default) and English.

Each UI module registers its own strings with :func:`register` at import time, so no single file becomes
a merge hot-spot: ``register({"overview.title": ("总览", "Overview")})``. :func:`t` looks a key up in the
language chosen in the sidebar (``st.session_state["lang"]``); :func:`translate` is the pure version.
"""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

LANGUAGES: Mapping[str, str] = {"zh": "中文", "en": "English"}
DEFAULT_LANG = "zh"
LANG_KEY = "lang"

_STRINGS: dict[str, tuple[str, str]] = {}


def register(strings: Mapping[str, tuple[str, str]]) -> None:
    """Add ``key -> (zh, en)`` pairs. Registering the same key with different text is a bug."""
    for key, pair in strings.items():
        existing = _STRINGS.get(key)
        if existing is not None and existing != tuple(pair):
            raise ValueError(f"i18n key {key!r} registered twice with different text")
        _STRINGS[key] = (pair[0], pair[1])


def translate(key: str, lang: str, **kwargs: object) -> str:
    """Return the text for ``key`` in ``lang``, formatted with ``kwargs``; the key itself if unknown."""
    pair = _STRINGS.get(key)
    if pair is None:
        return key
    text = pair[1] if lang == "en" else pair[0]
    return text.format(**kwargs) if kwargs else text


def current_lang() -> str:
    lang = st.session_state.get(LANG_KEY, DEFAULT_LANG)
    return lang if lang in LANGUAGES else DEFAULT_LANG


def t(key: str, **kwargs: object) -> str:
    """Text for ``key`` in the current UI language."""
    return translate(key, current_lang(), **kwargs)
