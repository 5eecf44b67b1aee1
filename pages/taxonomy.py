"""指标体系 Aspect taxonomy: view and edit the taxonomies, choose one per dataset and re-analyse it."""

from __future__ import annotations

import streamlit as st

from components import frame, taxonomy_editor
from components.i18n import t


def main() -> None:
    frame.require_frame()
    st.title(t("taxonomy.title"))
    st.caption(t("taxonomy.intro"))
    name = taxonomy_editor.taxonomy_viewer()
    taxonomy_editor.taxonomy_yaml_editor(name)
    st.divider()
    taxonomy_editor.dataset_taxonomies()


main()
