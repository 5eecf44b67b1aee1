"""Performance at scale: import throughput, page query latency, pandas comparison, app cold start, memory.

    python cli.py bench --reviews N [--json] [--workdir DIR] [--repeat R] [--no-app] [--app-db PATH]

Each phase runs in its own interpreter (``python -m bench.run --phase NAME …``), so its peak resident
memory (``resource.getrusage``) is its own:

- ``generate``: a store of N feedback rows with annotations (``bench/generate.py``) and the review rows as
  CSV and Parquet in the demo's source format. Reused when the work folder already holds one of the same N
  and seed.
- ``import_csv`` / ``import_parquet``: ``data.ingest.ingest_file`` of that file into a fresh store
  (read, detect, map, validate, hash, write; no NLP).
- ``queries``: every page's queries (``bench/page_queries.py``) with varied filters, ``--repeat`` times
  after one warm-up pass: Streamlit's caches are bypassed (cold), DuckDB's buffer pool is warm.
- ``pandas``: the pages' main aggregates in pandas on the same rows in memory (``bench/pandas_ref.py``).
- ``app``: ``streamlit run app.py`` on a store with data until the overview's charts arrived over the
  websocket, the way a browser tab would see them (``bench/app_first_start.py``; no real browser).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATOR_VERSION = 2  # 2: rows stored in created_at order, review files exported shuffled
PHASES = ("generate", "import_csv", "import_parquet", "queries", "pandas", "app")
TARGETS = {"import_rows_per_s": 300_000, "query_p95_ms_1m": 100, "query_p95_ms_10m": 300,
           "pandas_ratio_1m": 10, "peak_rss_mb_10m": 4096, "app_first_render_s": 5}


class BenchError(RuntimeError):
    """A phase failed; the message says which and why."""


def _peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)  # ru_maxrss is in KiB on Linux


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def _summary_ms(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {"p50_ms": round(statistics.median(ms), 2), "p95_ms": round(_percentile(ms, 95), 2),
            "max_ms": round(max(ms), 2), "runs": len(ms)}


# --- phases (each runs in its own interpreter) ------------------------------------------------------------


def phase_generate(work: Path, reviews: int, seed: int) -> dict[str, object]:
    from bench.generate import build_store, export_review_files

    store, meta_path = work / "bench.duckdb", work / "bench_meta.json"
    wanted = {"reviews": reviews, "seed": seed, "generator": GENERATOR_VERSION}
    if store.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if {k: meta.get(k) for k in wanted} == wanted:
            return {**meta, **_ensure_rollups(store), "reused": True}
    for stale in (store, meta_path, work / "bench.duckdb.wal"):
        stale.unlink(missing_ok=True)
    built = build_store(store, reviews, seed)
    started = time.perf_counter()
    files = export_review_files(store, work, seed=seed)
    meta = {**wanted, "feedback": built.feedback, "texts": built.texts, "mentions": built.mentions,
            "build_s": round(built.seconds, 2), "build_rollups_s": round(built.rollup_seconds, 2),
            "export_s": round(time.perf_counter() - started, 2), **files}
    meta_path.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return {**meta, **_ensure_rollups(store), "reused": False}


def _ensure_rollups(store: Path) -> dict[str, object]:
    """The generator writes the base tables directly: fill the rollups with the product's own rebuild
    (``data.rollups.rebuild``, one transaction), timed apart; a store whose rollups are current is kept."""
    from data import rollups
    from data.store import connect, transaction

    started = time.perf_counter()
    con = connect(store)  # applies pending migrations (their backfill counts in the time)
    try:
        if rollups.is_current(con):
            return {"rollups_s": round(time.perf_counter() - started, 2), "rollups_rebuilt": False}
        with transaction(con):
            status = rollups.rebuild(con)
        con.execute("CHECKPOINT")
        return {"rollups_s": round(time.perf_counter() - started, 2), "rollups_rebuilt": True,
                "rollup_rows": status.rows}
    finally:
        con.close()


def phase_import(work: Path, fmt: str) -> dict[str, object]:
    from data.ingest import ingest_file
    from data.store import connect

    source = work / f"reviews.{fmt}"
    target = work / f"import_{fmt}.duckdb"
    for stale in (target, Path(f"{target}.wal")):
        stale.unlink(missing_ok=True)
    con = connect(target)
    try:
        started = time.perf_counter()
        result = ingest_file(con, source, name=f"bench {fmt}", kind="reviews")
        seconds = time.perf_counter() - started
    finally:
        con.close()
    target.unlink(missing_ok=True)
    if result.imported == 0:
        raise BenchError(f"importing {source} imported no row ({result.rejected} rejected)")
    return {"file": str(source), "bytes": source.stat().st_size, "rows_read": result.rows_read,
            "imported": result.imported, "rejected": result.rejected, "seconds": round(seconds, 3),
            "rows_per_s": round(result.imported / seconds, 1)}


def _time_pages(run_page: Callable[[str, object], dict[str, float]], pages: list[str], variants: list,
                repeat: int) -> dict[str, dict[str, list[float]]]:
    """``{page: {step or "_total": [seconds per repetition]}}``; repetition r uses variants[r % len]."""
    timings: dict[str, dict[str, list[float]]] = {page: {} for page in pages}
    for r in range(repeat):
        f = variants[r % len(variants)]
        for page in pages:
            for step, seconds in run_page(page, f).items():
                timings[page].setdefault(step, []).append(seconds)
    return timings


def phase_queries(work: Path, repeat: int, base_tables: bool = False) -> dict[str, object]:
    import contextlib

    from analytics.rollup_source import base_tables_only, one_guard, use_rollups
    from bench.page_queries import FRAME, PAGES, filter_variants
    from data.store import connect

    con = connect(work / "bench.duckdb")
    mode = base_tables_only() if base_tables else contextlib.nullcontext()
    steps = {"frame": FRAME, **PAGES}

    def run_page(page: str, f: object) -> dict[str, float]:
        ctx: dict[str, object] = {}
        out: dict[str, float] = {}
        total = 0.0
        # One rollup guard per page, as app.py asks it once per dashboard render (components.cache.
        # dashboard_render); the page's first query pays it. (In the app the sidebar's options and the page
        # share one render; here each page pays its own guard.)
        with one_guard():
            for name, call in steps[page]:
                cur = con.cursor()  # a fresh cursor per query, as components/cache.py does
                started = time.perf_counter()
                call(cur, f, ctx)  # type: ignore[arg-type]
                seconds = time.perf_counter() - started
                cur.close()
                out[name] = out.get(name, 0.0) + seconds
                total += seconds
        out["_total"] = total
        return out

    try:
        with mode:
            rollups_used = use_rollups(con)
            variants = filter_variants(con)
            _time_pages(run_page, list(steps), variants[:1], 1)  # warm-up: DuckDB reads the blocks once
            timings = _time_pages(run_page, list(steps), variants, repeat)
    finally:
        con.close()
    pages = {
        page: {**_summary_ms(t["_total"]),
               "queries": {name: _summary_ms(v) for name, v in t.items() if name != "_total"}}
        for page, t in timings.items()
    }
    return {"pages": pages, "filters": [f.describe("en") for f in variants], "repeat": repeat,
            "rollups_used": rollups_used}


# Peak memory of the pandas reference per feedback row, measured at 1M (2,512 MB), with a margin.
PANDAS_BYTES_PER_ROW = 2_800


def _available_memory() -> int | None:
    """MemAvailable from /proc/meminfo in bytes (None where there is no such file)."""
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def pandas_skip_reason(rows: int) -> str | None:
    """Why the pandas reference cannot run for ``rows`` feedback rows here (None: it can)."""
    needed, available = rows * PANDAS_BYTES_PER_ROW, _available_memory()
    if available is not None and needed > 0.8 * available:
        return (f"pandas reference skipped: holding {rows:,} rows in memory needs about "
                f"{needed / 2**30:.1f} GiB ({PANDAS_BYTES_PER_ROW:,} bytes per row, measured at 1M), "
                f"{available / 2**30:.1f} GiB available")
    return None


def phase_pandas(work: Path, repeat: int) -> dict[str, object]:
    import duckdb

    from bench import pandas_ref
    from bench.page_queries import filter_variants

    con = duckdb.connect(str(work / "bench.duckdb"), read_only=True)
    try:
        variants = filter_variants(con)
        started = time.perf_counter()
        frames = pandas_ref.load(con)
        load_s = time.perf_counter() - started
        problems = [p for f in variants for p in pandas_ref.agreement(con, frames, f)]
    finally:
        con.close()

    def run_page(page: str, f: object) -> dict[str, float]:
        started = time.perf_counter()
        pandas_ref.PAGES[page](frames, f)  # type: ignore[arg-type]
        return {"_total": time.perf_counter() - started}

    run_page("overview", variants[0])  # warm-up (first-call overheads of pandas)
    timings = _time_pages(run_page, list(pandas_ref.PAGES), variants, repeat)
    return {"pages": {page: _summary_ms(t["_total"]) for page, t in timings.items()},
            "load_s": round(load_s, 3), "agrees": not problems, "disagreements": problems[:5]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def phase_app(store: Path, timeout: float) -> dict[str, object]:
    command = [sys.executable, str(ROOT / "bench" / "app_first_start.py"), "--db", str(store),
               "--port", str(_free_port()), "--timeout", str(timeout)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout + 90,
                          check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise BenchError(f"app cold start printed no result (exit {done.returncode}): "
                         f"{(done.stderr or done.stdout)[-500:]}")
    seen = json.loads(lines[-1])
    if "error" in seen or seen.get("exceptions"):
        raise BenchError(f"app cold start failed: {seen.get('error') or seen.get('exceptions')}")
    return {"store": str(store), "health_s": seen.get("health_s"),
            "overview_charts_s": seen.get("overview_charts_s"),
            "first_run_finished_s": seen.get("first_run_finished_s"),
            "server_peak_rss_mb": _peak_rss_mb(resource.RUSAGE_CHILDREN),
            "method": "streamlit run + websocket client (bench/app_first_start.py), no browser"}


def _run_phase_here(args: argparse.Namespace) -> dict[str, object]:
    work = Path(args.workdir)
    if args.phase == "generate":
        return phase_generate(work, args.reviews, args.seed)
    if args.phase in ("import_csv", "import_parquet"):
        return phase_import(work, args.phase.split("_", 1)[1])
    if args.phase == "queries":
        return phase_queries(work, args.repeat, args.base_tables)
    if args.phase == "pandas":
        return phase_pandas(work, args.repeat)
    return phase_app(Path(args.app_db) if args.app_db else work / "bench.duckdb", args.app_timeout)


# --- orchestration ------------------------------------------------------------------------------------------


def _phase(name: str, options: argparse.Namespace, log: Callable[[str], None]) -> dict[str, object]:
    command = [sys.executable, "-m", "bench.run", "--phase", name, "--workdir", str(options.workdir),
               "--reviews", str(options.reviews), "--seed", str(options.seed),
               "--repeat", str(options.repeat), "--app-timeout", str(options.app_timeout)]
    if options.app_db:
        command += ["--app-db", str(options.app_db)]
    if getattr(options, "base_tables", False):
        command += ["--base-tables"]
    log(f"[bench] {name} …")
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"phase {name} failed (exit {done.returncode}): {detail}")
    result = json.loads(lines[-1])
    log(f"[bench] {name} done in {time.perf_counter() - started:.1f} s, peak RSS {result['peak_rss_mb']} MB")
    return result


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_bench(reviews: int, workdir: Path, repeat: int = 10, seed: int = 0, app: bool = True,
              app_db: Path | None = None, app_timeout: float = 120.0, base_tables: bool = False,
              log: Callable[[str], None] = lambda _: None) -> dict[str, object]:
    """Run every phase; return the report (see the module docstring).

    ``base_tables``: the pages read the base tables instead of the rollups (the figures before rollups).
    """
    if reviews < 100:
        raise BenchError(f"--reviews must be at least 100 (got {reviews})")
    if repeat < 1:
        raise BenchError(f"--repeat must be at least 1 (got {repeat})")
    workdir.mkdir(parents=True, exist_ok=True)
    options = argparse.Namespace(reviews=reviews, workdir=workdir.resolve(), repeat=repeat, seed=seed,
                                 app_db=app_db.resolve() if app_db else None, app_timeout=app_timeout,
                                 base_tables=base_tables)
    load_start = _load()
    generated = _phase("generate", options, log)
    imports = {fmt: _phase(f"import_{fmt}", options, log) for fmt in ("csv", "parquet")}
    queries = _phase("queries", options, log)
    pandas_skipped = pandas_skip_reason(int(generated["feedback"]))
    if pandas_skipped:
        log(f"[bench] {pandas_skipped}")
        pandas = None
    else:
        pandas = _phase("pandas", options, log)
    app_result = _phase("app", options, log) if app else None

    pages: dict[str, dict[str, object]] = {}
    for page, ours in queries["pages"].items():
        row: dict[str, object] = {"p50_ms": ours["p50_ms"], "p95_ms": ours["p95_ms"],
                                  "max_ms": ours["max_ms"],
                                  "pandas_p50_ms": None, "pandas_p95_ms": None, "pandas_ratio": None,
                                  "queries": ours["queries"]}
        if pandas is not None:
            theirs = pandas["pages"][page]
            ratio = theirs["p50_ms"] / ours["p50_ms"] if ours["p50_ms"] > 0 else float("inf")
            row.update(pandas_p50_ms=theirs["p50_ms"], pandas_p95_ms=theirs["p95_ms"],
                       pandas_ratio=round(ratio, 2))
        pages[page] = row
    worst_latency = max(pages, key=lambda p: pages[p]["p95_ms"])  # type: ignore[arg-type,return-value]
    worst_ratio = (min(pages, key=lambda p: pages[p]["pandas_ratio"])  # type: ignore[arg-type,return-value]
                   if pandas is not None else None)
    product_rss = [imports["csv"]["peak_rss_mb"], imports["parquet"]["peak_rss_mb"], queries["peak_rss_mb"]]
    if app_result:
        product_rss.append(app_result["server_peak_rss_mb"])
    return {
        "reviews": reviews,
        "feedback_rows": generated["feedback"],
        "texts": generated["texts"],
        "aspect_mentions": generated["mentions"],
        "import_rows_per_s": imports["csv"]["rows_per_s"],
        "import_parquet_rows_per_s": imports["parquet"]["rows_per_s"],
        "query_p95_ms": pages[worst_latency]["p95_ms"],
        "query_p95_page": worst_latency,
        "rollups_used": queries.get("rollups_used"),
        "pandas_ratio": pages[worst_ratio]["pandas_ratio"] if worst_ratio else None,
        "pandas_ratio_page": worst_ratio,
        "pandas_agrees": pandas["agrees"] if pandas else None,
        "pandas_skipped": pandas_skipped,
        "peak_rss_mb": max(product_rss),
        "app_first_render_s": app_result["overview_charts_s"] if app_result else None,
        "pages": pages,
        "import": imports,
        "pandas": ({"load_s": pandas["load_s"], "peak_rss_mb": pandas["peak_rss_mb"],
                    "disagreements": pandas["disagreements"]} if pandas else None),
        "app": app_result,
        "phases_peak_rss_mb": {"generate": generated["peak_rss_mb"],
                               "import_csv": imports["csv"]["peak_rss_mb"],
                               "import_parquet": imports["parquet"]["peak_rss_mb"],
                               "queries": queries["peak_rss_mb"],
                               "pandas": pandas["peak_rss_mb"] if pandas else None,
                               "app_server": app_result["server_peak_rss_mb"] if app_result else None},
        "generate": {k: generated.get(k) for k in ("build_s", "build_rollups_s", "export_s", "reused", "rows",
                                                   "rollups_s", "rollups_rebuilt")},
        "filters": queries["filters"],
        "repeat": repeat,
        "machine": {"cpus": os.cpu_count(), "load_avg_start": load_start, "load_avg_end": _load(),
                    "python": sys.version.split()[0]},
        "targets": TARGETS,
    }


def format_report(report: dict[str, object]) -> str:
    """A human-readable table of the report."""
    lines = [
        f"feedback rows {report['feedback_rows']:,}, texts {report['texts']:,}, "
        f"aspect mentions {report['aspect_mentions']:,}; load average {report['machine']['load_avg_start']}"
        f" → {report['machine']['load_avg_end']} on {report['machine']['cpus']} CPUs",
        f"import CSV {report['import_rows_per_s']:,.0f} rows/s, Parquet "
        f"{report['import_parquet_rows_per_s']:,.0f} rows/s",
        f"{'page':<12} {'p50 ms':>9} {'p95 ms':>9} {'pandas p50':>11} {'ratio':>7}",
    ]
    for page, row in report["pages"].items():  # type: ignore[union-attr]
        theirs = "—" if row["pandas_p50_ms"] is None else f"{row['pandas_p50_ms']:.1f}"
        ratio = "—" if row["pandas_ratio"] is None else f"{row['pandas_ratio']:.2f}"
        lines.append(f"{page:<12} {row['p50_ms']:>9.1f} {row['p95_ms']:>9.1f} {theirs:>11} {ratio:>7}")
    lines.append(f"worst p95 {report['query_p95_ms']} ms ({report['query_p95_page']}; rollups used: "
                 f"{report['rollups_used']}); worst pandas ratio {report['pandas_ratio']} "
                 f"({report['pandas_ratio_page']}); pandas agrees: {report['pandas_agrees']}")
    if report.get("pandas_skipped"):
        lines.append(str(report["pandas_skipped"]))
    lines.append(f"peak RSS {report['peak_rss_mb']} MB; app first render {report['app_first_render_s']} s")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Run one benchmark phase (used by `python cli.py bench`).")
    parser.add_argument("--phase", choices=PHASES, required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--reviews", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--app-db", default=None)
    parser.add_argument("--app-timeout", type=float, default=120.0)
    parser.add_argument("--base-tables", action="store_true",
                        help="queries phase: read the base tables, not the rollups (the 'before' figures)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    result = _run_phase_here(args)
    result["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(result, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
