"""Which period a report covers: the last complete ISO week or calendar month, and the one before it.

"Last" is relative to the data, not to the clock, so a store whose feedback ends in the past (the demo market
ends on 2025-06-30) still gets a meaningful report:

- without ``as_of``: the latest *complete* period that holds feedback of the selection. A period is complete
  when the selection's newest feedback is dated on or after the period's last day. Example: the demo's newest
  review is from Monday 2025-06-30, so the last complete week is 2025-W26 (06-23 … 06-29) and the last
  complete month is 2025-06. A period with no feedback at all is skipped (the one before it is taken).
- with ``as_of`` (the day the report is made, e.g. today in a Monday-morning cron job): the last period that
  ended before that day, whether or not it holds feedback; ``as_of=2025-07-01`` gives week 2025-W26 (06-23 …
  06-29) and month 2025-06. An empty period is reported as such by :func:`ensure_has_data`.

The comparison period is the one just before: the previous ISO week, or the previous calendar month (so
months of different length are compared, unlike the Overview's same-length window).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from analytics.filters import Filters

PERIOD_KINDS: tuple[str, ...] = ("week", "month")


class ReportError(ValueError):
    """The report cannot be made; the message says why and what to do."""


@dataclass(frozen=True)
class Period:
    """One ISO week or calendar month: first and last day (both inclusive)."""

    kind: str
    start: dt.date
    end: dt.date

    @property
    def label(self) -> str:
        """``2025-W26`` for a week, ``2025-06`` for a month."""
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.start.year:04d}-{self.start.month:02d}"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def filters(self, scope: Filters) -> Filters:
        """``scope`` narrowed to this period."""
        return scope.with_(date_from=self.start, date_to=self.end)

    def previous(self) -> Period:
        """The ISO week or calendar month just before this one."""
        return period_containing(self.kind, self.start - dt.timedelta(days=1))


@dataclass(frozen=True)
class ReportPeriods:
    """The period reported on and the one it is compared with."""

    current: Period
    previous: Period


def check_kind(kind: str) -> str:
    if kind not in PERIOD_KINDS:
        raise ReportError(f"period {kind!r} is not one of {', '.join(PERIOD_KINDS)}")
    return kind


def period_containing(kind: str, day: dt.date) -> Period:
    """The ISO week (Monday … Sunday) or calendar month that contains ``day``."""
    check_kind(kind)
    if kind == "week":
        start = day - dt.timedelta(days=day.weekday())
        return Period(kind, start, start + dt.timedelta(days=6))
    start = day.replace(day=1)
    following = (start + dt.timedelta(days=32)).replace(day=1)
    return Period(kind, start, following - dt.timedelta(days=1))


def last_complete_before(kind: str, as_of: dt.date) -> Period:
    """The last period that ended before ``as_of`` (the period containing ``as_of`` is still running)."""
    return period_containing(kind, as_of).previous()


def last_complete_with_data(kind: str, newest: dt.date, newest_before: dt.date | None) -> Period | None:
    """The last complete period given the newest feedback date and a lookup of earlier dates.

    ``newest`` is the selection's newest feedback day; ``newest_before`` is the newest feedback day before
    the start of the period containing ``newest`` (None when there is none). Pure, for tests.
    """
    candidate = period_containing(kind, newest)
    if candidate.end <= newest:
        return candidate
    if newest_before is None:
        return None
    return period_containing(kind, newest_before)


def _newest_day(
    con: duckdb.DuckDBPyConnection, scope: Filters, before: dt.date | None = None
) -> dt.date | None:
    """The newest feedback day of ``scope`` (strictly before ``before`` when given)."""
    until = before - dt.timedelta(days=1) if before else None
    where, params = scope.with_(date_from=None, date_to=until).where(alias="f")
    value = con.execute(f"SELECT max(f.created_at) FROM feedback f WHERE {where}", params).fetchall()[0][0]
    return value.date() if value is not None else None


def resolve_periods(
    con: duckdb.DuckDBPyConnection, kind: str, scope: Filters, as_of: dt.date | None = None
) -> ReportPeriods:
    """The report's period and its comparison period for the selection ``scope`` (its dates are ignored).

    Raises :class:`ReportError` when the selection holds no dated feedback or no complete period yet.
    """
    check_kind(kind)
    scope = scope.with_(date_from=None, date_to=None)
    if as_of is not None:
        current = last_complete_before(kind, as_of)
        return ReportPeriods(current, current.previous())
    newest = _newest_day(con, scope)
    if newest is None:
        raise ReportError(
            f"no dated feedback for {scope.describe('en')}: import data (or run: python cli.py demo) "
            "or widen --brand/--product"
        )
    running = period_containing(kind, newest)
    earlier = None if running.end <= newest else _newest_day(con, scope, before=running.start)
    current = last_complete_with_data(kind, newest, earlier)
    if current is None:
        raise ReportError(
            f"no complete {kind} yet: the feedback of {scope.describe('en')} starts and ends in the running "
            f"{kind} {running.label} (newest {newest.isoformat()}); pass --as-of to report on it anyway"
        )
    return ReportPeriods(current, current.previous())


def _date_span(con: duckdb.DuckDBPyConnection, scope: Filters) -> tuple[dt.date | None, dt.date | None]:
    where, params = scope.with_(date_from=None, date_to=None).where(alias="f")
    first, last = con.execute(
        f"SELECT min(f.created_at), max(f.created_at) FROM feedback f WHERE {where}", params
    ).fetchall()[0]
    return (first.date() if first else None), (last.date() if last else None)


def ensure_has_data(con: duckdb.DuckDBPyConnection, periods: ReportPeriods, scope: Filters) -> int:
    """The number of feedback rows in the current period; :class:`ReportError` when there is none."""
    current = periods.current
    where, params = current.filters(scope).where(alias="f")
    count = int(con.execute(f"SELECT count(*) FROM feedback f WHERE {where}", params).fetchall()[0][0])
    if count:
        return count
    first, last = _date_span(con, scope)
    if first is None or last is None:
        hint = "the selection holds no dated feedback"
    elif current.start > last:
        hint = (
            f"the selection's feedback ends on {last.isoformat()}; pass an earlier --as-of such as "
            f"{(last + dt.timedelta(days=1)).isoformat()}, or leave --as-of out"
        )
    elif current.end < first:
        hint = f"the selection's feedback starts on {first.isoformat()}; pass a later --as-of"
    else:
        hint = "the data has a gap there; pass another --as-of or leave it out"
    raise ReportError(
        f"no feedback in {current.label} ({current.start.isoformat()} to {current.end.isoformat()}) "
        f"for {scope.describe('en')}: {hint}"
    )
