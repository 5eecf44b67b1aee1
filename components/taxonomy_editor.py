"""指标体系 (aspect taxonomy) screen parts: view a taxonomy, edit it as YAML, choose one per dataset.

Edits are validated with :func:`models.taxonomy.parse_taxonomy_text` (errors name the aspect and the
problem) and saved as a user copy (``data/taxonomies/<name>.yaml``, git-ignored) that overrides the shipped
file; "restore" deletes the copy. An edited taxonomy is a new pipeline version: annotations change only when
the analyst re-analyses a dataset here (``rescore``).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components import cache
from components.annotation_ui import annotate_with_progress, summary_caption
from components.i18n import current_lang, register, t
from models.annotation_store import AnnotationError, set_dataset_taxonomy
from models.taxonomy import (
    Taxonomy,
    TaxonomyError,
    available_taxonomies,
    is_user_copy,
    load_taxonomy,
    parse_taxonomy_text,
    reset_taxonomy,
    save_taxonomy,
    taxonomy_file,
)

register(
    {
        "taxonomy.title": ("指标体系", "Aspect taxonomy"),
        "taxonomy.intro": (
            "指标体系定义了要识别的体验指标（如 电池/续航）、对应的关键词和典型评价词。"
            "每个数据集使用一个指标体系；修改后需重新分析数据集才会生效。",
            "The taxonomy defines the aspects to find (e.g. 电池/续航), their terms and typical opinion "
            "words. Each dataset uses one taxonomy; after an edit, re-analyse a dataset to apply it.",
        ),
        "taxonomy.pick": ("指标体系", "Taxonomy"),
        "taxonomy.origin.user": ("已自定义（{path}）", "Edited copy ({path})"),
        "taxonomy.origin.shipped": ("内置版本", "Shipped version"),
        "taxonomy.summary": ("{aspects} 个指标，{terms} 个关键词", "{aspects} aspects, {terms} terms"),
        "taxonomy.invalid": ("指标体系文件有误：{message}", "The taxonomy file has a problem: {message}"),
        "taxonomy.col.path": ("指标路径", "Aspect path"),
        "taxonomy.col.name_en": ("英文名", "English name"),
        "taxonomy.col.terms": ("关键词", "Terms"),
        "taxonomy.col.positive": ("正面评价词", "Positive words"),
        "taxonomy.col.negative": ("负面评价词", "Negative words"),
        "taxonomy.edit": ("编辑（YAML）", "Edit (YAML)"),
        "taxonomy.edit_help": (
            "每个指标：name（名称）、name_en、terms（关键词列表）、opinions（positive/negative 评价词）、"
            "children（子指标，最多三级）。",
            "Each aspect: name, name_en, terms (list), opinions (positive/negative lists), children "
            "(sub-aspects, at most three levels).",
        ),
        "taxonomy.validate": ("校验", "Validate"),
        "taxonomy.save": ("保存", "Save"),
        "taxonomy.reset": ("恢复内置版本", "Restore the shipped version"),
        "taxonomy.valid": ("校验通过：{aspects} 个指标。", "Valid: {aspects} aspects."),
        "taxonomy.saved": ("已保存到 {path}。", "Saved to {path}."),
        "taxonomy.restored": ("已恢复内置版本。", "The shipped version is back."),
        "taxonomy.datasets": ("数据集使用的指标体系", "Taxonomy per dataset"),
        "taxonomy.no_datasets": ("还没有评论数据集。", "No review datasets yet."),
        "taxonomy.dataset": ("数据集", "Dataset"),
        "taxonomy.apply": ("应用并重新分析", "Apply and re-analyse"),
        "taxonomy.col.dataset": ("数据集", "Dataset"),
        "taxonomy.col.taxonomy": ("指标体系", "Taxonomy"),
    }
)

KEY_PICK = "taxonomy_pick"
KEY_YAML = "taxonomy_yaml"
KEY_VALIDATE = "taxonomy_validate"
KEY_SAVE = "taxonomy_save"
KEY_RESET = "taxonomy_reset"
KEY_DATASET = "taxonomy_dataset"
KEY_DATASET_TAXONOMY = "taxonomy_dataset_taxonomy"
KEY_APPLY = "taxonomy_apply"
KEY_LOADED_FOR = "taxonomy_yaml_loaded_for"


def taxonomy_frame(taxonomy: Taxonomy) -> pd.DataFrame:
    """One row per aspect: path, English name, terms and opinion words (comma-separated)."""
    rows = [
        {
            t("taxonomy.col.path"): node.path,
            t("taxonomy.col.name_en"): node.name_en or "",
            t("taxonomy.col.terms"): "、".join(node.terms),
            t("taxonomy.col.positive"): "、".join(node.positive),
            t("taxonomy.col.negative"): "、".join(node.negative),
        }
        for node in taxonomy.nodes()
    ]
    return pd.DataFrame(rows)


def taxonomy_label(name: str) -> str:
    """``name`` with its display label in the current language, for select boxes."""
    try:
        taxonomy = load_taxonomy(name)
    except TaxonomyError:
        return name
    label = taxonomy.label_en if current_lang() == "en" and taxonomy.label_en else taxonomy.label
    return f"{label} ({name})"


def _source_text(name: str) -> str:
    """The file as written (comments kept), even when it is invalid, so it can be fixed here."""
    return taxonomy_file(name).read_text(encoding="utf-8")


def taxonomy_viewer() -> str:
    """Pick a taxonomy and show its aspects; returns the chosen name."""
    names = available_taxonomies()
    # options are the stable names: labels can change while the page is open (edited taxonomy)
    name = st.selectbox(t("taxonomy.pick"), names, key=KEY_PICK)
    try:
        taxonomy = load_taxonomy(name)
    except TaxonomyError as exc:
        st.error(t("taxonomy.invalid", message=str(exc)))
        return name
    origin = (
        t("taxonomy.origin.user", path=str(taxonomy.source))
        if is_user_copy(name)
        else t("taxonomy.origin.shipped")
    )
    st.caption(
        f"{taxonomy_label(name)} · {origin} · "
        + t("taxonomy.summary", aspects=len(taxonomy.paths()), terms=len(taxonomy.term_index()))
    )
    st.dataframe(taxonomy_frame(taxonomy), hide_index=True, width="stretch")
    return name


def taxonomy_yaml_editor(name: str) -> None:
    """YAML editor with validate / save / restore for taxonomy ``name``."""
    if st.session_state.get(KEY_LOADED_FOR) != name:
        st.session_state[KEY_YAML] = _source_text(name)
        st.session_state[KEY_LOADED_FOR] = name
    st.subheader(t("taxonomy.edit"))
    text = st.text_area(
        t("taxonomy.edit"),
        key=KEY_YAML,
        height=360,
        help=t("taxonomy.edit_help"),
        label_visibility="collapsed",
    )
    validate_col, save_col, reset_col = st.columns(3)
    if validate_col.button(t("taxonomy.validate"), key=KEY_VALIDATE):
        try:
            parsed = parse_taxonomy_text(text, name=name)
        except TaxonomyError as exc:
            st.error(str(exc))
        else:
            st.success(t("taxonomy.valid", aspects=len(parsed.paths())))
    if save_col.button(t("taxonomy.save"), key=KEY_SAVE, type="primary"):
        try:
            path = save_taxonomy(text, name)
        except TaxonomyError as exc:
            st.error(str(exc))
        else:
            st.success(t("taxonomy.saved", path=str(path)))
    if is_user_copy(name) and reset_col.button(t("taxonomy.reset"), key=KEY_RESET):
        reset_taxonomy(name)
        st.session_state.pop(KEY_LOADED_FOR, None)
        st.success(t("taxonomy.restored"))
        st.rerun()


def dataset_taxonomies() -> None:
    """Which taxonomy each review dataset uses; change one and re-analyse it with a progress bar."""
    st.subheader(t("taxonomy.datasets"))
    con = cache.write_cursor()
    rows = con.execute(
        "SELECT name, coalesce(taxonomy, 'phone') FROM datasets WHERE kind <> 'products' ORDER BY dataset_id"
    ).fetchall()
    if not rows:
        st.info(t("taxonomy.no_datasets"))
        return
    st.dataframe(
        pd.DataFrame(rows, columns=[t("taxonomy.col.dataset"), t("taxonomy.col.taxonomy")]),
        hide_index=True,
        width="stretch",
    )
    names = [row[0] for row in rows]
    dataset = st.selectbox(t("taxonomy.dataset"), names, key=KEY_DATASET)
    current = dict(rows)[dataset]
    choices = available_taxonomies()
    taxonomy = st.selectbox(
        t("taxonomy.pick"),
        choices,
        index=choices.index(current) if current in choices else 0,
        key=KEY_DATASET_TAXONOMY,
    )
    if st.button(t("taxonomy.apply"), key=KEY_APPLY):
        try:
            set_dataset_taxonomy(con, dataset, taxonomy)
        except AnnotationError as exc:
            st.error(str(exc))
            return
        bar = st.progress(0.0)

        def update(fraction: float, message: str) -> None:
            bar.progress(min(max(fraction, 0.0), 1.0), text=message)

        summary = annotate_with_progress(con, dataset, update, rescore=True)
        bar.empty()
        cache.clear_data_caches()
        if summary is not None:
            st.success(summary_caption(summary))
