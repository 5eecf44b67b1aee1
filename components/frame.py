"""Make sure every page runs inside the app frame (``app.py``), never as a bare script.

Why this exists: Streamlit 1.67 decides per process whether an app uses the old ``pages/`` folder
auto-discovery by checking only that a ``pages/`` folder exists beside the main script; the flag is turned
off the first time ``st.navigation`` runs. Until then (the first request after a server start, if it
arrives on a deep link such as ``/overview?brands=华为``; and on every rerun under ``AppTest``, which resets
the flag), Streamlit runs ``pages/overview.py`` on its own: no sidebar, no filters from the link, no
language switch. Our ``pages/`` folder is a package of ``st.navigation`` pages, so when a page finds it is
running without the frame it switches the legacy mode off and reruns, and ``app.py`` then runs as usual.

Usage: ``app.py`` calls :func:`enter_frame` before anything else; every page calls :func:`require_frame`
first. Both rely on ``PagesManager.uses_pages_directory`` (a Streamlit internal, streamlit==1.67.0 pinned);
``tests/test_app.py`` fails if that stops working. Renaming ``pages/`` would remove the need for this.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import RerunData, get_script_run_ctx

_FRAME_KEY = "_tingjian_frame_ran"
_RETRIED_KEY = "_tingjian_frame_retried"


def enter_frame() -> None:
    """Mark this script run as started by ``app.py``; leave the legacy mode first if it is on.

    In the legacy mode ``app.py`` itself runs as a page of an auto-discovered ``pages/`` app, so its widgets
    would get other ids than in later runs and the user's first click after a server start would be lost.
    """
    if PagesManager.uses_pages_directory:
        _leave_legacy_mode()
    st.session_state[_FRAME_KEY] = True


def require_frame() -> None:
    """Rerun through ``app.py`` when this page was started without it (see the module docstring)."""
    if st.session_state.pop(_FRAME_KEY, False):
        st.session_state.pop(_RETRIED_KEY, None)
        return
    if st.session_state.get(_RETRIED_KEY):
        # Started as the main script itself (``streamlit run pages/x.py``): rerunning would not help.
        st.error("This page is part of Tingjian (听见): start the app with `streamlit run app.py`.")
        st.stop()
    st.session_state[_RETRIED_KEY] = True
    _leave_legacy_mode()


def _leave_legacy_mode() -> None:
    """Switch the ``pages/`` auto-discovery off and rerun the page the browser asked for."""
    PagesManager.uses_pages_directory = False
    ctx = get_script_run_ctx()
    if ctx is not None and ctx.script_requests is not None:
        pages = ctx.pages_manager
        ctx.script_requests.request_rerun(
            RerunData(
                query_string=ctx.query_string,
                page_script_hash=pages.intended_page_script_hash or ctx.page_script_hash,
                page_name=pages.intended_page_name or "",
                context_info=ctx.context_info,
            )
        )
        st.empty()  # a yield point: the script runner acts on the rerun request here
    st.rerun()
