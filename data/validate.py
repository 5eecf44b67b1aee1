"""Turn raw rows into typed rows, or a rejection reason a person can act on, one row at a time but vectorised.

Input is a DataFrame whose columns are source columns (strings from a file, or already typed values from the
demo generator) and a ``{field: column}`` mapping. Output: the valid rows with one typed column per field,
``source_row`` and ``extra`` (JSON of the unmapped columns), and the rejected rows with the column at fault,
the reason (Simplified Chinese, naming the column and the value) and the raw row as JSON.

No per-row Python loops: every check is a pandas vector operation, so 300,000 rows validate in well under a
second per field.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.mapping import FIELDS, KINDS
from data.products import brand_from_title, canonical_brand, first_word_brand, short_product_name

MAX_TEXT_CHARS = 20_000
MAX_LABEL_CHARS = 200
MIN_YEAR = 1990
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "nat", "#n/a", "-", "--", "<na>"})
_CONTROL_RE = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
_DIRTY_RE = r"[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\x7f]"
_SCORE_RE = r"^\s*([-+]?\d+(?:\.\d+)?)\s*(?:星|分|颗星|stars?|points?|pts)?\s*$"
_NUMBER_RE = r"([-+]?\d+(?:\.\d+)?)"
_DATE_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y-%m-%dT%H:%M:%S",
    "%Y.%m.%d",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日",
    "%Y年%m月",
    "%Y-%m",
    "%b-%y",
    "%b %Y",
    "%B %Y",
)
# Plausible ranges for spec numbers; outside them the value is almost surely a unit or parsing mistake.
SPEC_RANGES: dict[str, tuple[float, float, str]] = {
    "launch_price_cny": (1, 1_000_000, "元"),
    "weight_g": (1, 5_000, "克"),
    "thickness_mm": (1, 100, "毫米"),
    "battery_mah": (50, 100_000, "mAh"),
    "screen_in": (0.5, 40, "英寸"),
}
TEXT_LABEL_FIELDS: tuple[str, ...] = ("channel", "region", "store", "customer_id")
SCORE_RANGES: dict[str, tuple[int, int]] = {"rating": (1, 5), "nps_score": (0, 10)}
TRUE_TOKENS = frozenset({"1", "true", "yes", "y", "是", "本品", "自有", "t"})
FALSE_TOKENS = frozenset({"0", "false", "no", "n", "否", "竞品", "f"})


@dataclass(frozen=True)
class Validated:
    """``rows``: valid typed rows (``source_row``, the kind's fields, ``extra``); ``rejected``: the rest."""

    rows: pd.DataFrame
    rejected: pd.DataFrame


class _Reasons:
    """Collects the first failing reason (and its column) per row."""

    def __init__(self, index: pd.Index) -> None:
        self.reason = pd.Series(np.nan, index=index, dtype="object")
        self.column = pd.Series(np.nan, index=index, dtype="object")

    def add(
        self,
        mask: pd.Series,
        reason: pd.Series | str | Callable[[pd.Series], pd.Series],
        column: str | None,
    ) -> None:
        """Record ``reason`` for the rows in ``mask`` that have none yet (a callable is built lazily)."""
        mask = mask.fillna(False).astype(bool) & self.reason.isna()
        if not mask.any():
            return
        if callable(reason):
            values = reason(mask)
        else:
            values = reason[mask] if isinstance(reason, pd.Series) else reason
        self.reason.loc[mask] = values
        self.column.loc[mask] = column

    @property
    def rejected(self) -> pd.Series:
        return self.reason.notna()


def as_string(series: pd.Series) -> pd.Series:
    """Any column as stripped strings (dtype ``str``), with missing markers ("", NA, null …) as NaN."""
    if pd.api.types.is_datetime64_any_dtype(series):
        out = series.dt.strftime("%Y-%m-%d %H:%M:%S")
    elif pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        out = series.astype("str").where(series.notna())
    else:
        out = series.astype("str").where(series.notna())
    out = out.astype("str").str.strip()
    short = out[out.str.len() <= 4]  # only short values can be missing markers; skip lower() on long texts
    missing = short.index[short.str.lower().isin(MISSING_TOKENS)]
    return out.where(~out.index.isin(missing) & out.notna())


def _value_reason(column: str, raw: pd.Series, tail: str) -> Callable[[pd.Series], pd.Series]:
    """「column」的值「value」+ tail, built only for the rejected rows (most imports have few)."""
    return lambda mask: "「" + column + "」的值" + _quoted(raw[mask]) + tail


def _quoted(values: pd.Series, limit: int = 40) -> pd.Series:
    text = values.astype("str")
    short = text.str.slice(0, limit)
    return "「" + short.where(text.str.len() <= limit, short + "…") + "」"


def clean_text(series: pd.Series) -> pd.Series:
    """Text as stored: control characters removed (newline and tab kept), CRLF → LF, trimmed."""
    text = as_string(series)
    dirty = text.str.contains(_DIRTY_RE, regex=True, na=False)
    if dirty.any():  # rewrite only the few rows that need it
        fixed = text[dirty].str.replace("\r\n", "\n", regex=False).str.replace("\r", "\n", regex=False)
        fixed = fixed.str.replace(_CONTROL_RE, "", regex=True).str.strip()
        text = text.mask(dirty, fixed)
    return text.where(text.str.len() > 0)


def parse_score(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse whole-number scores ("5", "5.0", "5星"); return (values as float, mask of unparseable)."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = pd.to_numeric(series, errors="coerce").astype("float64")
        return values, pd.Series(False, index=series.index)
    text = as_string(series)
    values = pd.to_numeric(text, errors="coerce").astype("float64")  # fast path: plain numbers
    pending = text.notna() & values.isna()
    if pending.any():
        # NFKC: full-width digits typed in a Chinese IME ("５", "４．０") read as "5", "4.0".
        extracted = text[pending].str.normalize("NFKC").str.extract(_SCORE_RE, expand=False)
        values.loc[pending] = pd.to_numeric(extracted, errors="coerce").astype("float64")
    bad = text.notna() & values.isna()
    return values, bad


def parse_number(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse numbers with units or currency ("4500 mAh battery", "CNY 5,799", "174g"); (values, bad)."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = pd.to_numeric(series, errors="coerce").astype("float64")
        return values, pd.Series(False, index=series.index)
    text = as_string(series)
    values = pd.to_numeric(text, errors="coerce").astype("float64")  # fast path: plain numbers
    pending = text.notna() & values.isna()
    if pending.any():
        cleaned = text[pending].str.normalize("NFKC").str.replace(r"(?<=\d)[,，](?=\d{3})", "", regex=True)
        extracted = cleaned.str.extract(_NUMBER_RE, expand=False)
        values.loc[pending] = pd.to_numeric(extracted, errors="coerce").astype("float64")
    bad = text.notna() & values.isna()
    return values, bad


def parse_dates(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse dates in common Chinese and international formats; return (datetime64 values, bad mask)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        values = series
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
        return values.astype("datetime64[us]"), pd.Series(False, index=series.index)
    text = as_string(series)
    result = pd.Series(pd.NaT, index=series.index, dtype="datetime64[us]")
    pending = text.notna()
    years = text.str.fullmatch(r"\d{4}(?:\.0+)?")
    if (pending & years).any():
        year_values = pd.to_numeric(text[pending & years].str.slice(0, 4), errors="coerce")
        result.loc[pending & years] = pd.to_datetime(
            year_values.astype("Int64").astype("str") + "-01-01", format="%Y-%m-%d", errors="coerce"
        )
        pending &= result.isna()
    quarters = text.str.extract(r"^[Qq]([1-4])\s*[-/ ]?\s*(\d{4})$")
    quarter_hit = pending & quarters[0].notna()
    if quarter_hit.any():
        months = (quarters.loc[quarter_hit, 0].astype("int64") - 1) * 3 + 1
        result.loc[quarter_hit] = pd.to_datetime(
            quarters.loc[quarter_hit, 1] + "-" + months.astype("str") + "-01",
            format="%Y-%m-%d",
            errors="coerce",
        )
        pending &= result.isna()
    for fmt in _DATE_FORMATS:
        if not pending.any():
            break
        parsed = pd.to_datetime(text[pending], format=fmt, errors="coerce")
        hit = parsed.notna()
        if hit.any():
            result.loc[parsed.index[hit]] = parsed[hit].astype("datetime64[us]")
            pending.loc[parsed.index[hit]] = False
    if pending.any():
        parsed = pd.to_datetime(text[pending], format="ISO8601", errors="coerce", utc=True)
        hit = parsed.notna()
        if hit.any():
            local = parsed[hit].dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
            result.loc[parsed.index[hit]] = local.astype("datetime64[us]")
            pending.loc[parsed.index[hit]] = False
    return result, pending


def map_unique(series: pd.Series, func: Callable[[str], object]) -> pd.Series:
    """``series.map(func)`` computed once per distinct value (product titles repeat thousands of times)."""
    present = series.dropna()
    if present.empty:
        return pd.Series(np.nan, index=series.index, dtype="object")
    lookup = {value: func(value) for value in pd.unique(present)}
    return series.map(lookup, na_action="ignore").astype("object")


def year_bounds() -> tuple[pd.Timestamp, pd.Timestamp]:
    """[first plausible date, first implausible future date) of feedback."""
    return pd.Timestamp(MIN_YEAR, 1, 1), pd.Timestamp(dt.date.today().year + 2, 1, 1)


def rows_to_json(frame: pd.DataFrame) -> pd.Series:
    """One JSON object per row (all columns, ISO dates, Chinese kept), as a string Series."""
    if frame.shape[1] == 0:
        return pd.Series(np.nan, index=frame.index, dtype="object")
    if len(frame) == 0:
        return pd.Series([], index=frame.index, dtype="object")
    safe = frame.copy()
    safe.columns = [str(c) for c in safe.columns]
    if safe.columns.duplicated().any():
        safe.columns = [
            f"{c} ({i + 1})" if dup else c
            for i, (c, dup) in enumerate(zip(safe.columns, safe.columns.duplicated(), strict=True))
        ]
    lines = safe.to_json(orient="records", lines=True, force_ascii=False, date_format="iso")
    return pd.Series(lines.rstrip("\n").split("\n"), index=frame.index, dtype="object")


def _check_mapping(frame: pd.DataFrame, mapping: dict[str, str], kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    for field, column in mapping.items():
        if field not in FIELDS[kind]:
            raise ValueError(
                f"field {field!r} does not exist for kind {kind}; fields: {', '.join(FIELDS[kind])}"
            )
        if column not in frame.columns:
            raise ValueError(
                f"column {column!r} (mapped to {field}) is not in the file; columns: "
                + ", ".join(map(str, frame.columns))
            )


def validate_frame(
    frame: pd.DataFrame,
    mapping: dict[str, str],
    kind: str,
    *,
    source_rows: Sequence[int] | pd.Series | None = None,
) -> Validated:
    """Validate every row of ``frame`` under ``mapping``; see the module docstring."""
    _check_mapping(frame, mapping, kind)
    frame = frame.reset_index(drop=True)
    index = frame.index
    rows = pd.DataFrame(index=index)
    rows["source_row"] = (
        np.arange(1, len(frame) + 1, dtype="int64")
        if source_rows is None
        else np.asarray(source_rows, dtype="int64")
    )
    reasons = _Reasons(index)
    if kind == "products":
        _validate_products(frame, mapping, rows, reasons)
    else:
        _validate_feedback(frame, mapping, kind, rows, reasons)

    extra_columns = [c for c in frame.columns if c not in mapping.values()]
    extra_columns += [mapping[f] for f in ("brand", "product") if f in mapping]
    extra = (
        rows_to_json(frame[extra_columns])
        if extra_columns
        else pd.Series(np.nan, index=index, dtype="object")
    )
    truncated = rows.get("_text_chars")
    if truncated is not None:
        long_rows = truncated > MAX_TEXT_CHARS
        if long_rows.any():
            extra.loc[long_rows] = [
                _add_key(value, "_text_truncated_from_chars", int(n))
                for value, n in zip(extra[long_rows], truncated[long_rows], strict=True)
            ]
        rows = rows.drop(columns="_text_chars")
    rows["extra"] = extra
    for name in ("product", "brand", "extra"):
        if rows[name].dtype == object:  # Arrow-backed strings: DuckDB scans them without Python objects
            rows[name] = rows[name].astype("str")

    bad = reasons.rejected
    rejected = pd.DataFrame(
        {
            "source_row": rows.loc[bad, "source_row"],
            "column_name": reasons.column[bad],
            "reason": reasons.reason[bad],
            "raw_row": rows_to_json(frame[bad]),
        }
    ).reset_index(drop=True)
    return Validated(rows=rows[~bad].reset_index(drop=True), rejected=rejected)


def _add_key(json_text: object, key: str, value: object) -> str:
    data = json.loads(json_text) if isinstance(json_text, str) else {}
    data[key] = value
    return json.dumps(data, ensure_ascii=False)


def score_field(series: pd.Series, column: str, field: str) -> tuple[pd.Series, pd.Series]:
    """A score column (``rating`` 1–5 or ``nps_score`` 0–10): (clean Int8 values, first reason or NaN).

    Each value's result depends on that value alone, so the SQL import path (:mod:`data.ingest_sql`) calls
    this on the distinct values of a column and joins the answers back.
    """
    low, high = SCORE_RANGES[field]
    values, bad = parse_score(series)
    label = "评分" if field == "rating" else "推荐分 (NPS)"
    raw = as_string(series)
    reasons = _Reasons(series.index)
    reasons.add(bad, _value_reason(column, raw, f"不是数字：{label}须为 {low}–{high} 的整数。"), column)
    out_of_range = values.notna() & ((values < low) | (values > high))
    reasons.add(
        out_of_range, _value_reason(column, raw, f"超出范围：{label}须为 {low}–{high} 的整数。"), column
    )
    fractional = values.notna() & (values != values.round())
    reasons.add(
        fractional, _value_reason(column, raw, f"不是整数：{label}须为 {low}–{high} 的整数。"), column
    )
    clean = values.where(~(bad | out_of_range | fractional))
    return clean.round().astype("Int8"), reasons.reason


def date_field(series: pd.Series, column: str) -> tuple[pd.Series, pd.Series]:
    """A feedback date column: (datetime64 values, NaT where rejected; first reason or NaN). Per value."""
    values, bad = parse_dates(series)
    raw = as_string(series)
    reasons = _Reasons(series.index)
    reasons.add(
        bad,
        _value_reason(
            column, raw, "不是有效日期：请用 2024-05-01、2024/5/1 14:30 或 2024年5月1日 这样的格式。"
        ),
        column,
    )
    low, high = year_bounds()
    implausible = values.notna() & ((values < low) | (values >= high))
    reasons.add(
        implausible,
        _value_reason(column, raw, f"年份不合理：须在 {low.year} 年至 {high.year - 1} 年之间。"),
        column,
    )
    return values.where(~(bad | implausible)), reasons.reason


def brand_product_fields(
    brand_source: pd.Series | None, product_source: pd.Series | None, index: pd.Index
) -> tuple[pd.Series, pd.Series]:
    """Feedback ``brand`` (canonical, else found in the product title) and ``product`` (short model name).

    Per (brand value, product value) pair, so the SQL import path computes it on the distinct pairs.
    """
    product_raw = as_string(product_source) if product_source is not None else None
    if brand_source is not None:
        brand = map_unique(as_string(brand_source), canonical_brand)
    else:
        brand = pd.Series(np.nan, index=index, dtype="object")
    if product_raw is not None:
        brand = brand.where(brand.notna(), map_unique(product_raw, brand_from_title))
        product = map_unique(product_raw, short_product_name).str.slice(0, MAX_LABEL_CHARS)
    else:
        product = pd.Series(np.nan, index=index, dtype="str")
    return brand.astype("str").str.slice(0, MAX_LABEL_CHARS).where(brand.notna()), product


def _validate_feedback(
    frame: pd.DataFrame, mapping: dict[str, str], kind: str, rows: pd.DataFrame, reasons: _Reasons
) -> None:
    index = frame.index
    has_content = pd.Series(False, index=index)
    if "text" in mapping:
        col = mapping["text"]
        text = clean_text(frame[col])
        lengths = text.str.len()
        rows["_text_chars"] = lengths.fillna(0).astype("int64")
        rows["text"] = text.str.slice(0, MAX_TEXT_CHARS)
        has_content |= text.notna()
        if kind == "reviews":
            reasons.add(
                text.isna(), f"「{col}」为空：这一行没有评论文字。请补上评论内容，或删除这一行。", col
            )
    else:
        rows["text"] = pd.Series(np.nan, index=index, dtype="str")

    for field in SCORE_RANGES:
        if field not in mapping:
            rows[field] = pd.Series(pd.NA, index=index, dtype="Int8")
            continue
        col = mapping[field]
        clean, reason = score_field(frame[col], col, field)
        reasons.add(reason.notna(), reason, col)
        rows[field] = clean
        has_content |= clean.notna()

    if "created_at" in mapping:
        col = mapping["created_at"]
        values, reason = date_field(frame[col], col)
        reasons.add(reason.notna(), reason, col)
        rows["created_at"] = values
    else:
        rows["created_at"] = pd.Series(pd.NaT, index=index, dtype="datetime64[us]")

    brand_source = frame[mapping["brand"]] if "brand" in mapping else None
    product_source = frame[mapping["product"]] if "product" in mapping else None
    rows["brand"], rows["product"] = brand_product_fields(brand_source, product_source, index)
    for field in TEXT_LABEL_FIELDS:
        if field in mapping:
            rows[field] = clean_text(frame[mapping[field]]).str.slice(0, MAX_LABEL_CHARS)
        else:
            rows[field] = pd.Series(np.nan, index=index, dtype="str")

    if kind == "survey":
        names = "、".join(f"「{mapping[f]}」" for f in ("nps_score", "text") if f in mapping)
        reasons.add(~has_content, f"{names}都为空：这一行既没有推荐分也没有文字，没有可导入的内容。", None)
    else:
        names = "、".join(f"「{mapping[f]}」" for f in ("text", "rating", "nps_score") if f in mapping)
        reasons.add(~has_content, f"{names}都为空：这一行没有可导入的内容。", None)


def _validate_products(
    frame: pd.DataFrame, mapping: dict[str, str], rows: pd.DataFrame, reasons: _Reasons
) -> None:
    index = frame.index
    product_raw = as_string(frame[mapping["product"]]) if "product" in mapping else None
    if "brand" in mapping:
        brand_raw = as_string(frame[mapping["brand"]])
    elif product_raw is not None:
        brand_raw = map_unique(product_raw, first_word_brand)
    else:
        brand_raw = pd.Series(np.nan, index=index, dtype="object")
    brand = map_unique(brand_raw, canonical_brand)
    if product_raw is not None:
        product = map_unique(product_raw, lambda t: short_product_name(t, cut_specs=False))
        product = pd.Series(
            [_strip_brand_word(p, b) for p, b in zip(product, brand_raw, strict=True)],
            index=index,
            dtype="object",
        )
    else:
        product = pd.Series(np.nan, index=index, dtype="object")
    product_col = mapping.get("product")
    reasons.add(
        product.isna(),
        f"「{product_col}」为空：产品表的每一行都需要型号。"
        if product_col
        else "没有型号列：请用 --map product=列名 指定型号列。",
        product_col,
    )
    brand_col = mapping.get("brand", product_col)
    reasons.add(brand.isna(), "没有品牌：品牌列为空，且型号中识别不出品牌。请补上品牌。", brand_col)
    rows["brand"] = brand.astype("str").str.slice(0, MAX_LABEL_CHARS).where(brand.notna())
    rows["product"] = product.astype("str").str.slice(0, MAX_LABEL_CHARS).where(product.notna())

    if "release_date" in mapping:
        col = mapping["release_date"]
        values, bad = parse_dates(frame[col])
        raw = as_string(frame[col])
        reasons.add(
            bad,
            _value_reason(col, raw, "不是有效日期或年份（例如 2023-06-01、Jun-23、2023）。"),
            col,
        )
        low, high = pd.Timestamp(1970, 1, 1), year_bounds()[1]
        implausible = values.notna() & ((values < low) | (values >= high))
        reasons.add(implausible, _value_reason(col, raw, "年份不合理。"), col)
        rows["release_date"] = values.where(~(bad | implausible)).dt.normalize()
    else:
        rows["release_date"] = pd.Series(pd.NaT, index=index, dtype="datetime64[us]")

    for field, (low, high, unit) in SPEC_RANGES.items():
        if field not in mapping:
            rows[field] = pd.Series(np.nan, index=index, dtype="float64")
            continue
        col = mapping[field]
        values, bad = parse_number(frame[col])
        raw = as_string(frame[col])
        reasons.add(bad, _value_reason(col, raw, "不是数字。"), col)
        out = values.notna() & ((values < low) | (values > high))
        reasons.add(out, _value_reason(col, raw, f"超出合理范围（{low:g}–{high:g} {unit}）。"), col)
        rows[field] = values.where(~(bad | out))

    if "is_ours" in mapping:
        col = mapping["is_ours"]
        raw = as_string(frame[col])
        lower = raw.str.lower()
        is_true = lower.isin(TRUE_TOKENS)
        is_false = lower.isin(FALSE_TOKENS) | raw.isna()
        reasons.add(
            ~(is_true | is_false),
            _value_reason(col, raw, "不是 是/否：请填 是 或 否（1/0）。"),
            col,
        )
        rows["is_ours"] = is_true
    else:
        rows["is_ours"] = False


def _strip_brand_word(product: object, brand_raw: object) -> object:
    """Remove an unknown brand repeated at the start of the model name ("Emporia Flip" → "Flip")."""
    if not isinstance(product, str) or not isinstance(brand_raw, str):
        return product
    prefix = brand_raw.strip()
    if prefix and product.lower().startswith(prefix.lower() + " ") and len(product) > len(prefix) + 1:
        return product[len(prefix) + 1 :].strip()
    return product
