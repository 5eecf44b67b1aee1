"""Crash safety (issue 7.2): ``kill -9`` an import or an annotation run at any moment; the store stays
consistent and the same command, run again, finishes the job with no duplicates.

Real subprocesses, real SIGKILL. An import is one DuckDB transaction, so a killed import leaves either
nothing of itself or all of itself; annotation commits one batch per transaction, so a killed run keeps its
finished batches and a rerun does the rest.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
N_ROWS = 120_000
HALF = N_ROWS // 2
ANNOTATE_ROWS = 6_000


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TINGJIAN_DB"}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "cli.py", *args],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "cli.py", *args],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _kill_after(process: subprocess.Popen[str], seconds: float, wal: Path | None = None) -> str:
    """SIGKILL ``process`` after ``seconds`` (counted from the WAL's appearance when ``wal`` is given).

    Returns "killed" or "finished" (the process ended before the kill point).
    """
    start = time.monotonic()
    if wal is not None:
        while not wal.exists() and process.poll() is None and time.monotonic() - start < 120:
            time.sleep(0.01)
        start = time.monotonic()
    while time.monotonic() - start < seconds:
        if process.poll() is not None:
            process.communicate()
            return "finished"
        time.sleep(0.01)
    if process.poll() is not None:
        process.communicate()
        return "finished"
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    if process.returncode == 0:  # it exited between the last poll and the signal
        return "finished"
    assert process.returncode == -signal.SIGKILL
    return "killed"


def _write_reviews(path: Path, rows: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    words = np.array(list("屏幕很好续航给力物流快客服差拍照清晰发热严重卡顿系统流畅"))
    texts = ["".join(rng.choice(words, 16)) + f"#{i}" for i in range(rows)]
    pd.DataFrame(
        {
            "评论内容": texts,
            "评分": rng.integers(1, 6, rows).astype(str),
            "购买时间": "2025-03-04",
            "品牌": "华为",
        }
    ).to_csv(path, index=False)


def _assert_consistent(db: Path) -> dict[int, int]:
    """The store opens; every dataset's counters match the rows it holds; no duplicate ids or hashes."""
    con = duckdb.connect(str(db))  # replays the WAL left by the killed process
    try:
        datasets = dict(con.execute("SELECT dataset_id, rows_imported FROM datasets").fetchall())
        held = dict(con.execute("SELECT dataset_id, count(*) FROM feedback GROUP BY ALL").fetchall())
        assert {k: v for k, v in datasets.items() if v} == held, (datasets, held)
        dupes = con.execute(
            "SELECT count(*) - count(DISTINCT feedback_id), count(*) - count(DISTINCT content_hash)"
            " FROM feedback"
        ).fetchall()[0]
        assert dupes == (0, 0)
        orphans = con.execute(
            "SELECT count(*) FROM rejected_rows WHERE dataset_id NOT IN (SELECT dataset_id FROM datasets)"
        ).fetchall()[0][0]
        assert orphans == 0
        return held
    finally:
        con.close()


@pytest.fixture(scope="module")
def big_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("crash")
    full, half = folder / "big.csv", folder / "big_half.csv"
    _write_reviews(full, N_ROWS)
    pd.read_csv(full, dtype=str, nrows=HALF).to_csv(half, index=False)
    return full, half


def test_killed_import_leaves_store_consistent_and_rerun_finishes(
    big_files: tuple[Path, Path], tmp_path: Path
) -> None:
    full, half = big_files
    db = tmp_path / "store.duckdb"
    wal = Path(f"{db}.wal")
    # The first half is already stored: a killed import must not lose it, the rerun adds only the rest.
    first = _run("ingest", str(half), "--no-annotate", "--db", str(db), "--name", "big")
    assert first.returncode == 0, first.stderr
    assert _assert_consistent(db) == {1: HALF}

    outcomes = []
    committed = False  # a kill can also land after the commit (the CLI then runs the alert rules)
    for seconds, on_wal in ((0.2, False), (1.0, False), (2.5, False), (0.0, True), (0.3, True)):
        process = _start("ingest", str(full), "--no-annotate", "--db", str(db), "--name", "big")
        outcome = _kill_after(process, seconds, wal if on_wal else None)
        held = _assert_consistent(db)
        assert held in ({1: HALF}, {1: N_ROWS}), f"a kill at {seconds}s (wal={on_wal}) left a partial import"
        outcomes.append(outcome if held == {1: HALF} else f"{outcome} after the commit")
        if held == {1: N_ROWS}:
            committed = True
            break
    print(f"import kill outcomes: {outcomes}")
    assert "killed" in outcomes, f"no run was killed before its commit: {outcomes}"

    rerun = _run("ingest", str(full), "--no-annotate", "--db", str(db), "--name", "big")
    assert rerun.returncode == 0, rerun.stderr
    assert _assert_consistent(db) == {1: N_ROWS}
    if not committed:
        assert f"imported {N_ROWS - HALF}, rejected 0, duplicates {HALF}" in rerun.stdout, rerun.stdout
    again = _run("ingest", str(full), "--no-annotate", "--db", str(db), "--name", "big")
    assert f"imported 0, rejected 0, duplicates {N_ROWS}" in again.stdout
    assert _assert_consistent(db) == {1: N_ROWS}


def _annotation_state(db: Path) -> tuple[int, int]:
    """(annotated rows, rows with text), after checking batch atomicity and the absence of duplicates."""
    con = duckdb.connect(str(db))
    try:
        dupes = con.execute(
            "SELECT count(*) - count(DISTINCT feedback_id) FROM feedback_sentiment"
        ).fetchall()[0][0]
        assert dupes == 0, "a feedback row was annotated twice"
        cache_dupes = con.execute(
            "SELECT count(*) - count(DISTINCT (text_hash, pipeline_version)) FROM annotation_cache"
        ).fetchall()[0][0]
        assert cache_dupes == 0
        stray = con.execute(
            "SELECT count(*) FROM aspect_mentions WHERE feedback_id NOT IN"
            " (SELECT feedback_id FROM feedback_sentiment)"
        ).fetchall()[0][0]
        assert stray == 0, "aspect mentions of a batch whose sentiment rows were lost"
        annotated = con.execute("SELECT count(*) FROM feedback_sentiment").fetchall()[0][0]
        with_text = con.execute("SELECT count(*) FROM feedback WHERE text IS NOT NULL").fetchall()[0][0]
        return int(annotated), int(with_text)
    finally:
        con.close()


@pytest.mark.slow
def test_killed_annotation_resumes_without_duplicates(big_files: tuple[Path, Path], tmp_path: Path) -> None:
    full, _ = big_files
    small = tmp_path / "small.csv"
    pd.read_csv(full, dtype=str, nrows=ANNOTATE_ROWS).to_csv(small, index=False)
    db = tmp_path / "annotate.duckdb"
    assert _run("ingest", str(small), "--no-annotate", "--db", str(db)).returncode == 0
    probe = _run("annotate", "--db", str(db), "--batch-size", "100", "--dataset", "no-such-dataset")
    if "Traceback" in probe.stdout + probe.stderr or "ModuleNotFoundError" in probe.stderr:
        pytest.fail(f"annotate crashed instead of failing cleanly: {probe.stderr[-500:]}")

    progress = []
    for seconds in (5.0, 6.5, 8.0):  # progress of killed runs accumulates: later kills land mid-run
        process = _start("annotate", "--db", str(db), "--batch-size", "100")
        outcome = _kill_after(process, seconds)
        annotated, with_text = _annotation_state(db)
        progress.append((outcome, annotated))
        if outcome == "finished":
            break
    print(f"annotate kill outcomes (outcome, rows annotated): {progress}")
    final = _run("annotate", "--db", str(db), "--batch-size", "100")
    assert final.returncode == 0, final.stdout + final.stderr
    annotated, with_text = _annotation_state(db)
    assert any(outcome == "killed" for outcome, _ in progress), progress
    assert annotated == with_text == ANNOTATE_ROWS, progress
    again = _run("annotate", "--db", str(db), "--batch-size", "100")
    assert again.returncode == 0 and "nothing to annotate" in again.stdout
    assert _annotation_state(db) == (ANNOTATE_ROWS, ANNOTATE_ROWS)
