"""Everything a periodic report shows, gathered with the dashboards' own analytics functions.

:func:`build_report` returns plain frozen dataclasses and DataFrames; ``reports/html.py`` and
``reports/xlsx.py`` only format them. Every query goes through :class:`analytics.filters.Filters` (so the
user's data permissions apply); the current and previous periods are the scope narrowed to their dates.

- CEM index: :func:`analytics.cem_index.cem_index` for both periods with the *same* weights (estimated on the
  current period, as :func:`analytics.cem_index.cem_index_change` does), change tested with a z-test.
- NPS: :func:`analytics.nps.nps_total` for both periods, :func:`analytics.metrics.nps_change_test`.
- Top movers: net sentiment per top-level aspect, current against previous period, with the z-test of
  :func:`analytics.stats.net_sentiment_change` (the logic of :func:`analytics.aspects.aspect_changes`, whose
  previous window is the same number of days before; here it is the previous ISO week / calendar month).
- Top problems: aspect paths (``电池/发热``) with the most negative mentions in the period, each with typical
  negative quotes from :func:`analytics.quotes.typical_quotes`.
- Per product: volume (:func:`analytics.overview.overview_kpis`), star rating, NPS and overall net sentiment
  with intervals (:func:`analytics.parameter_map.product_satisfaction`), CEM index (same weights) and the
  product's top problem.
- Cases: open and overdue cases of the ``cases`` table (all dates), and those opened / resolved in the period.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import duckdb
import pandas as pd

from analytics.aspects import aspect_change_table, aspect_heatmap, aspect_summary
from analytics.cem_index import CemWeights, cem_index, cem_weights, compare_index
from analytics.filters import Filters
from analytics.metrics import NpsChange, NpsInterval, nps_change_test
from analytics.nps import nps_total
from analytics.overview import OverviewKpis, nps_trend, overview_kpis
from analytics.parameter_map import product_satisfaction
from analytics.quotes import typical_quotes
from data.cases import OPEN_STATUSES, case_counts, list_cases, utc_now
from reports.period import Period, ReportPeriods, ensure_has_data, resolve_periods

TOP_PROBLEMS = 5
QUOTES_PER_PROBLEM = 3
TREND_PERIODS = 12
CASE_LIST_LIMIT = 500

QUOTE_COLUMNS = ["feedback_id", "created_at", "brand", "product", "channel", "text"]
PRODUCT_COLUMNS = [
    "brand", "product", "feedback", "reviews", "survey_responses",
    "rating", "rating_low", "rating_high", "rating_n",
    "nps", "nps_low", "nps_high", "nps_n",
    "sentiment", "sentiment_low", "sentiment_high", "sentiment_n",
    "index", "index_low", "index_high", "index_n",
    "top_problem", "top_problem_negative", "top_problem_n",
]
PROBLEM_COLUMNS = ["aspect", "n", "negative", "net", "low", "high", "small_sample"]
CASE_COLUMNS = [
    "case_id", "title", "status", "priority", "assignee", "brand", "product", "region", "channel",
    "created_at", "due_at", "feedback_id", "overdue",
]


@dataclass(frozen=True)
class IndexFigures:
    """The CEM index (0–100) in both periods on one set of weights, and the test of its change."""

    current: float
    low: float
    high: float
    n: int  # aspect mentions behind the current index
    previous: float
    previous_low: float
    previous_high: float
    previous_n: int
    change: float
    z: float
    p_value: float
    significant: bool
    weighting: str  # "drivers" or "equal"


@dataclass(frozen=True)
class NpsFigures:
    current: NpsInterval
    previous: NpsInterval
    change: NpsChange  # current against previous


@dataclass(frozen=True)
class Problem:
    """One aspect path with many negative mentions, and typical negative quotes about it."""

    aspect: str
    n: int
    negative: int
    net: float
    low: float
    high: float
    quotes: pd.DataFrame  # QUOTE_COLUMNS, most typical first
    n_matching: int  # reviews with a negative mention of the aspect in the period


@dataclass(frozen=True)
class CasesSummary:
    available: bool  # False when the store has no ``cases`` table
    open: int
    overdue: int
    opened_in_period: int
    resolved_in_period: int
    table: pd.DataFrame  # open cases (CASE_COLUMNS), overdue first, at most CASE_LIST_LIMIT


@dataclass(frozen=True)
class ReportContent:
    kind: str  # "week" or "month"
    periods: ReportPeriods
    scope: Filters  # the selection without dates
    generated_at: dt.datetime  # naive UTC; open cases due before it are overdue
    kpis: OverviewKpis
    kpis_previous: OverviewKpis
    index: IndexFigures
    nps: NpsFigures
    nps_trend: pd.DataFrame  # analytics.overview.nps_trend over the last TREND_PERIODS periods
    movers: pd.DataFrame  # analytics.aspects.CHANGE_COLUMNS, most improved first
    problems: tuple[Problem, ...]
    products: pd.DataFrame  # PRODUCT_COLUMNS, largest volume first
    cases: CasesSummary

    @property
    def current(self) -> Period:
        return self.periods.current

    @property
    def previous(self) -> Period:
        return self.periods.previous


def build_report(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    scope: Filters,
    as_of: dt.date | None = None,
    now: dt.datetime | None = None,
    top_problems: int = TOP_PROBLEMS,
    quotes_per_problem: int = QUOTES_PER_PROBLEM,
) -> ReportContent:
    """Gather the report for the last complete ``kind`` period of ``scope`` (see :mod:`reports.period`).

    ``now`` (naive UTC) decides which open cases are overdue (default: the clock). Raises
    :class:`reports.period.ReportError` when the period cannot be determined or holds no feedback.
    """
    scope = scope.with_(date_from=None, date_to=None)
    periods = resolve_periods(con, kind, scope, as_of)
    ensure_has_data(con, periods, scope)
    generated_at = now or utc_now().replace(microsecond=0)
    current = periods.current.filters(scope)
    previous = periods.previous.filters(scope)
    weights = cem_weights(con, current)
    problems = top_problem_list(con, current, top_problems, quotes_per_problem)
    return ReportContent(
        kind=kind,
        periods=periods,
        scope=scope,
        generated_at=generated_at,
        kpis=overview_kpis(con, current),
        kpis_previous=overview_kpis(con, previous),
        index=index_figures(con, current, previous, weights),
        nps=nps_figures(con, current, previous),
        nps_trend=trend(con, scope, periods.current),
        movers=movers(con, current, previous),
        problems=problems,
        products=product_table(con, current, weights),
        cases=cases_summary(con, scope, periods.current, generated_at),
    )


def index_figures(
    con: duckdb.DuckDBPyConnection, current: Filters, previous: Filters, weights: CemWeights
) -> IndexFigures:
    now, before, change, z, p_value = compare_index(con, current, previous, weights)
    return IndexFigures(
        current=float(now["index"]),
        low=float(now["low"]),
        high=float(now["high"]),
        n=int(now["n"]),
        previous=float(before["index"]),
        previous_low=float(before["low"]),
        previous_high=float(before["high"]),
        previous_n=int(before["n"]),
        change=change,
        z=z,
        p_value=p_value,
        significant=bool(p_value < 0.05) if not math.isnan(p_value) else False,
        weighting=weights.method,
    )


def nps_figures(con: duckdb.DuckDBPyConnection, current: Filters, previous: Filters) -> NpsFigures:
    now, before = nps_total(con, current), nps_total(con, previous)
    return NpsFigures(now, before, nps_change_test(before, now))


def trend(con: duckdb.DuckDBPyConnection, scope: Filters, period: Period) -> pd.DataFrame:
    """NPS per week/month over the last ``TREND_PERIODS`` periods up to the reported one."""
    first = period
    for _ in range(TREND_PERIODS - 1):
        first = first.previous()
    return nps_trend(con, scope.with_(date_from=first.start, date_to=period.end), period.kind)


def movers(con: duckdb.DuckDBPyConnection, current: Filters, previous: Filters) -> pd.DataFrame:
    """Net sentiment per top-level aspect, current against previous period (most improved first)."""
    frame = aspect_change_table(con, current, previous)
    return frame.astype({"n_previous": "int64", "n_current": "int64", "significant": "bool",
                         "small_sample": "bool"})


def aspect_paths(con: duckdb.DuckDBPyConnection, filters: Filters) -> pd.DataFrame:
    """Counts and net sentiment per aspect path (``电池/发热``; a childless top level is its own path)."""
    tops = aspect_summary(con, filters)["aspect"].tolist()
    parts = [aspect_summary(con, filters, parent=str(top)) for top in tops]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=PROBLEM_COLUMNS)
    return pd.concat(parts, ignore_index=True)[PROBLEM_COLUMNS]


def rank_problems(paths: pd.DataFrame, limit: int) -> pd.DataFrame:
    """Paths with negative mentions, most negative mentions first (ties: lower net sentiment first)."""
    hits = paths[paths["negative"] > 0]
    return hits.sort_values(["negative", "net", "aspect"], ascending=[False, True, True], kind="stable").head(
        limit
    ).reset_index(drop=True)


def top_problem_list(
    con: duckdb.DuckDBPyConnection, current: Filters, limit: int, quotes_per_problem: int
) -> tuple[Problem, ...]:
    problems = []
    for row in rank_problems(aspect_paths(con, current), limit).itertuples(index=False):
        aspect = str(row.aspect)
        quotes = typical_quotes(con, current, aspect=aspect, polarity="negative", k=quotes_per_problem)
        problems.append(
            Problem(
                aspect=aspect,
                n=int(row.n),
                negative=int(row.negative),
                net=float(row.net),
                low=float(row.low),
                high=float(row.high),
                quotes=quotes.quotes[QUOTE_COLUMNS].reset_index(drop=True),
                n_matching=quotes.n_matching,
            )
        )
    return tuple(problems)


def _satisfaction(con: duckdb.DuckDBPyConnection, current: Filters, metric: str, prefix: str) -> pd.DataFrame:
    frame = product_satisfaction(con, current, metric)
    return frame.rename(
        columns={"satisfaction": prefix, "low": f"{prefix}_low", "high": f"{prefix}_high", "n": f"{prefix}_n"}
    )


def _product_problems(con: duckdb.DuckDBPyConnection, current: Filters) -> pd.DataFrame:
    """Each product's aspect path with the most negative mentions."""
    tops = aspect_summary(con, current)["aspect"].tolist()
    parts = [aspect_heatmap(con, current, rows="product", parent=str(top)) for top in tops]
    parts = [p for p in parts if not p.empty]
    columns = ["brand", "product", "top_problem", "top_problem_negative", "top_problem_n"]
    if not parts:
        return pd.DataFrame(columns=columns)
    cells = pd.concat(parts, ignore_index=True)
    cells = cells[cells["negative"] > 0].sort_values(
        ["brand", "product", "negative", "net", "aspect"], ascending=[True, True, False, True, True],
        kind="stable",
    )
    best = cells.groupby(["brand", "product"], dropna=False, sort=False).head(1)
    return best.rename(columns={"aspect": "top_problem", "negative": "top_problem_negative",
                                "n": "top_problem_n"})[columns]


def product_table(con: duckdb.DuckDBPyConnection, current: Filters, weights: CemWeights) -> pd.DataFrame:
    """Per (brand, product) with feedback in the period: volume, rating, NPS, sentiment, index, problem."""
    keys = ["brand", "product"]
    frames = [
        _satisfaction(con, current, "rating", "rating"),
        _satisfaction(con, current, "nps", "nps"),
        _satisfaction(con, current, "sentiment", "sentiment"),
        cem_index(con, current, by="product", weights=weights).rename(
            columns={"low": "index_low", "high": "index_high", "n": "index_n"}
        )[[*keys, "index", "index_low", "index_high", "index_n"]],
        _product_problems(con, current),
    ]
    where, params = current.where(alias="f")
    products = con.execute(
        f"""SELECT DISTINCT f.brand, f.product FROM feedback f
            WHERE {where} AND f.product IS NOT NULL AND trim(f.product) <> ''""",
        params,
    ).df()
    table = products
    for frame in frames:
        table = table.merge(frame, on=keys, how="left")
    volumes = []
    for brand, product in zip(table["brand"], table["product"], strict=True):
        kpis = overview_kpis(con, current.with_(brands=(brand,) if brand else (), products=(product,)))
        volumes.append((kpis.feedback, kpis.reviews, kpis.survey_responses))
    table["feedback"] = [v[0] for v in volumes]
    table["reviews"] = [v[1] for v in volumes]
    table["survey_responses"] = [v[2] for v in volumes]
    for column in ("rating_n", "nps_n", "sentiment_n", "index_n", "top_problem_negative", "top_problem_n"):
        table[column] = table[column].fillna(0).astype("int64")
    table = table.sort_values(["feedback", "brand", "product"], ascending=[False, True, True], kind="stable")
    return table[PRODUCT_COLUMNS].reset_index(drop=True)


def _has_cases_table(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'cases'"
        ).fetchall()[0][0]
    )


def cases_summary(
    con: duckdb.DuckDBPyConnection, scope: Filters, period: Period, now: dt.datetime
) -> CasesSummary:
    """Open and overdue cases of the selection, through :mod:`data.cases` (all dates), and the cases opened
    and resolved in the period. Cases copy brand/product/region/channel from their feedback, so
    ``Filters.where`` applies the same data permissions; a dataset filter does not (cases have no dataset).
    ``now`` is naive UTC, like every case time."""
    if not _has_cases_table(con):
        return CasesSummary(False, 0, 0, 0, 0, pd.DataFrame(columns=CASE_COLUMNS))
    where, params = scope.with_(date_from=None, date_to=None, dataset_ids=()).where(alias="c")
    counts = case_counts(con, (where, params), now=now)
    table = list_cases(con, scope=(where, params), status=OPEN_STATUSES, now=now, limit=CASE_LIST_LIMIT)
    period_params = {
        **params,
        "period_from": dt.datetime.combine(period.start, dt.time.min),
        "period_to": dt.datetime.combine(period.end + dt.timedelta(days=1), dt.time.min),
    }
    opened, resolved = con.execute(
        f"""SELECT count(*) FILTER (WHERE c.created_at >= $period_from AND c.created_at < $period_to),
                   count(*) FILTER (WHERE c.resolved_at >= $period_from AND c.resolved_at < $period_to)
            FROM cases c WHERE {where}""",
        period_params,
    ).fetchall()[0]
    return CasesSummary(
        True, int(counts["open"]), int(counts["overdue"]), int(opened), int(resolved),
        table[CASE_COLUMNS].reset_index(drop=True),
    )
