"""On the real, annotated demo market, `python cli.py alerts run` opens cases for the planted problems.

Builds the demo into a temporary store and annotates it (the fixture pattern of tests/test_demo_stories.py),
then runs the default rules through the CLI. Slow (~30–60 s on 2 cores).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from data.demo import build_demo
from data.demo_truth import (
    LOGISTICS_CHANNEL,
    LOGISTICS_MONTH,
    OVERHEATING_PRODUCT,
    SERVICE_BRAND,
    SERVICE_DECLINE_MONTH,
    STORIES_BY_ID,
)
from data.store import connect

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from models.annotation_store import annotate_dataset

    path: Path = tmp_path_factory.mktemp("demo_alerts") / "demo.duckdb"
    con = connect(path)
    try:
        build_demo(con)
        assert annotate_dataset(con).feedback_annotated > 30_000
    finally:
        con.close()
    return path


@pytest.fixture(scope="module")
def run_output(demo_db: Path) -> str:
    from cli import app

    result = CliRunner().invoke(app, ["alerts", "run", "--db", str(demo_db)])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def aggregate_cases(demo_db: Path, run_output: str) -> pd.DataFrame:
    """Cases opened by aggregate rules, with the week and aspect of the alert that opened them."""
    con = connect(demo_db)
    try:
        frame = con.execute(
            """
            SELECT c.case_id, c.brand, c.product, c.channel, r.kind, a.period_start, a.details, c.title
            FROM cases c JOIN alerts a ON a.alert_id = c.alert_id JOIN alert_rules r ON r.rule_id = c.rule_id
            WHERE c.feedback_id IS NULL ORDER BY c.case_id
            """
        ).df()
    finally:
        con.close()
    frame["aspect"] = [json.loads(d).get("aspect") for d in frame["details"]]
    return frame


def month_window(month: str, before_days: int = 7) -> tuple[pd.Timestamp, pd.Timestamp]:
    """From a week before the month starts (the week holding its 1st) to its end."""
    start = pd.Timestamp(f"{month}-01")
    return start - pd.Timedelta(days=before_days), start + pd.offsets.MonthEnd(1)


def test_the_run_reports_what_fired(run_output: str) -> None:
    assert "stored the 8 default rules" in run_output
    lines = run_output.splitlines()
    summary = [line for line in lines if "new alerts," in line and "new cases" in line]
    assert len(summary) == 1 and not summary[0].startswith("0 new alerts")
    assert lines[lines.index(summary[0]) + 1].startswith("open cases: ")


def test_overheating_model_gets_a_case(aggregate_cases: pd.DataFrame) -> None:
    heat = aggregate_cases[aggregate_cases["product"] == OVERHEATING_PRODUCT]
    assert not heat.empty, aggregate_cases["title"].tolist()
    assert set(heat["aspect"]) & {"电池", "电池/发热"}
    onset = pd.Timestamp(f"{STORIES_BY_ID['overheating'].start_month}-01")
    assert heat["period_start"].min() <= onset + pd.Timedelta(days=14)  # found when it started


def test_service_decline_gets_a_case(aggregate_cases: pd.DataFrame) -> None:
    low, high = month_window(SERVICE_DECLINE_MONTH)
    brand = aggregate_cases[
        (aggregate_cases["brand"] == SERVICE_BRAND)
        & aggregate_cases["product"].isna()
        & aggregate_cases["period_start"].between(low, high)
    ]
    assert {"aspect_net_drop", "nps_below"} <= set(brand["kind"]), aggregate_cases["title"].tolist()
    assert "客服" in set(brand["aspect"])


def test_double11_logistics_gets_a_case(aggregate_cases: pd.DataFrame) -> None:
    low, high = month_window(LOGISTICS_MONTH)
    logistics = aggregate_cases[
        (aggregate_cases["channel"] == LOGISTICS_CHANNEL)
        & (aggregate_cases["aspect"] == "物流")
        & aggregate_cases["period_start"].between(low, high)
    ]
    assert len(logistics) == 1, aggregate_cases["title"].tolist()


def test_few_aggregate_cases_beyond_the_planted_problems(aggregate_cases: pd.DataFrame) -> None:
    explained = (
        (aggregate_cases["product"] == OVERHEATING_PRODUCT)
        | ((aggregate_cases["brand"] == SERVICE_BRAND) & aggregate_cases["product"].isna())
        | (aggregate_cases["channel"] == LOGISTICS_CHANNEL)
    )
    assert (~explained).sum() <= 2, aggregate_cases.loc[~explained, "title"].tolist()


def test_per_feedback_cases_stay_a_workable_queue(demo_db: Path, run_output: str) -> None:
    con = connect(demo_db)
    try:
        per_feedback, newest, oldest_case_feedback = con.execute(
            "SELECT count(*), (SELECT max(created_at) FROM feedback), min(f.created_at)"
            " FROM cases c JOIN feedback f ON f.feedback_id = c.feedback_id"
        ).fetchall()[0]
    finally:
        con.close()
    assert 0 < per_feedback < 100
    assert newest - oldest_case_feedback <= dt.timedelta(days=30)  # only recent feedback (lookback_days)


def test_a_second_run_adds_nothing(demo_db: Path, run_output: str) -> None:
    from cli import app

    result = CliRunner().invoke(app, ["alerts", "run", "--db", str(demo_db)])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    summary = next(i for i, line in enumerate(lines) if "new alerts," in line and "new cases" in line)
    assert lines[summary].startswith("0 new alerts, 0 new cases")
    # The open queue follows, the planted problems (aggregate-rule cases) at its top.
    assert lines[summary + 1].startswith("open cases: ")
    top = "\n".join(lines[summary + 2 : summary + 8])
    for planted in ("vivo X100 Pro · 电池", "华为 · 客服", "天猫 · 物流"):
        assert planted in top, top
