"""``report``: write the periodic CEM report as one self-contained HTML file and an XLSX of its tables.

Exit codes: 0 written; 2 refused (bad period, date, language or file name, no store, an empty store or an
empty period). Files are written atomically (temp file + rename). The period is the last complete ISO week
or calendar month *in the data* (or before ``--as-of``): see ``reports/period.py``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import duckdb
import typer

from analytics.filters import Filters
from cli_commands.common import DbOption, fail, open_store
from data.attach import read_cursor
from data.config import resolve_db_path
from data.export import ExportError, write_atomic
from data.store import is_empty
from reports.content import ReportContent, build_report
from reports.html import render_html
from reports.period import PERIOD_KINDS, ReportError
from reports.text import LANGS, num
from reports.xlsx import render_xlsx

HTML_SUFFIXES = (".html", ".htm")


def parse_as_of(value: str | None) -> dt.date | None:
    """``--as-of`` as a date; a clear error for anything but ``YYYY-MM-DD``."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ReportError(f"--as-of {value!r} is not a date; use YYYY-MM-DD, e.g. 2025-07-01") from None


def output_paths(out: Path, xlsx: Path | None, no_xlsx: bool) -> tuple[Path, Path | None]:
    """The HTML path and the XLSX path (beside the HTML, same stem, unless given or switched off)."""
    if out.suffix.lower() not in HTML_SUFFIXES:
        got = out.suffix or "no extension"
        raise ReportError(f"{out.name}: the report file name must end in .html (got '{got}')")
    if no_xlsx:
        return out, None
    target = xlsx if xlsx is not None else out.with_suffix(".xlsx")
    if target.suffix.lower() != ".xlsx":
        raise ReportError(f"{target.name}: the table file name must end in .xlsx")
    for path in (out, target):
        if not path.parent.exists():
            raise ReportError(f"{path}: the folder {path.parent} does not exist")
    return out, target


def summary_line(c: ReportContent) -> str:
    """One line: period, CEM index and NPS with interval and n, volume, problems, cases."""
    ix, nps = c.index, c.nps.current
    return (
        f"{c.current.label} ({c.current.start} to {c.current.end}) vs {c.previous.label}: "
        f"CEM index {num(ix.current)} [{num(ix.low)}, {num(ix.high)}] (n={num(ix.n)} mentions, "
        f"{num(ix.change, signed=True)}), NPS {num(nps.nps)} [{num(nps.low)}, {num(nps.high)}] "
        f"(n={num(nps.n)}), {num(c.kpis.feedback)} feedback, top problem "
        f"{c.problems[0].aspect if c.problems else '-'}, "
        f"{c.cases.open} open cases ({c.cases.overdue} overdue)"
    )


def report(
    out: Annotated[
        Path, typer.Option("--out", help="The HTML report file (.html).", show_default=False)
    ],
    period: Annotated[
        str, typer.Option("--period", help="week (ISO week) or month (calendar month).")
    ] = "week",
    xlsx: Annotated[
        Path | None,
        typer.Option("--xlsx", help="The XLSX file of the tables (default: beside --out, same name).",
                     show_default=False),
    ] = None,
    no_xlsx: Annotated[bool, typer.Option("--no-xlsx", help="Write the HTML report only.")] = False,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Report on the last period that ended before this day (YYYY-MM-DD); "
                     "default: the last complete period in the data.", show_default=False),
    ] = None,
    lang: Annotated[str, typer.Option("--lang", help="zh (简体中文) or en.")] = "zh",
    brand: Annotated[
        list[str] | None, typer.Option("--brand", help="Only this brand (repeat for several).")
    ] = None,
    product: Annotated[
        list[str] | None, typer.Option("--product", help="Only this model (repeat for several).")
    ] = None,
    db: DbOption = None,
) -> None:
    """Write the CEM report of the last week or month: index, NPS, movers, problems, products, cases."""
    try:
        if period not in PERIOD_KINDS:
            raise ReportError(f"--period {period!r} is not one of {', '.join(PERIOD_KINDS)}")
        if lang not in LANGS:
            raise ReportError(f"--lang {lang!r} is not one of {', '.join(LANGS)}")
        day = parse_as_of(as_of)
        html_path, xlsx_path = output_paths(out, xlsx, no_xlsx)
    except ReportError as exc:
        fail(str(exc))
    store_path = resolve_db_path(db)
    if not store_path.exists():
        fail(f"no store at {store_path}; build the demo (python cli.py demo) or import data, or pass --db")
    scope = Filters(brands=tuple(brand or ()), products=tuple(product or ()))
    con = open_store(db)
    try:
        if is_empty(con):
            fail(f"the store {store_path} holds no feedback; build the demo (python cli.py demo) or import")
        cur = read_cursor(con)
        try:
            content = build_report(cur, period, scope, as_of=day)
            html = render_html(content, lang).encode("utf-8")
            table_bytes = render_xlsx(content, lang) if xlsx_path is not None else None
        finally:
            cur.close()
    except (ReportError, ExportError) as exc:
        fail(str(exc))
    except duckdb.Error as exc:
        fail(f"reading the store failed: {exc}", code=1)
    finally:
        con.close()
    try:
        write_atomic(html_path, html)
        if xlsx_path is not None and table_bytes is not None:
            write_atomic(xlsx_path, table_bytes)
    except OSError as exc:
        fail(f"cannot write the report ({exc.strerror or exc}): {exc.filename or html_path}")
    print(f"wrote {html_path} ({len(html):,} bytes)")
    if xlsx_path is not None and table_bytes is not None:
        print(f"wrote {xlsx_path} ({len(table_bytes):,} bytes)")
    print(summary_line(content))


def register(app: typer.Typer, *rest: typer.Typer) -> None:
    """Add ``report`` to the main CLI."""
    app.command("report")(report)
