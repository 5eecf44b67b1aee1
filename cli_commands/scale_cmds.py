"""Scale-out: ``annotate --engine ray`` (via :func:`annotate_ray`), ``export-feedback`` and ``attach``.

See docs/SCALE.md. Ray is optional (``pip install -r requirements-scale.txt``) and imported only when used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli_commands.common import DbOption, fail, open_store
from data.attach import AttachError, attach_parquet, attachment_problems, attachments, detach_parquet
from models.distributed import DEFAULT_BATCH_SIZE, ScaleError, run_ray_annotation


def annotate_ray(
    source: str | None,
    output: str | None,
    *,
    address: str | None,
    gpus_per_worker: float | None,
    workers: int | None,
    batch_size: int | None,
    taxonomy: str | None,
    overwrite: bool,
) -> None:
    """``annotate --engine ray``: Parquet in, the two annotation datasets out (no store involved)."""
    if not source or not output:
        fail("--engine ray needs --input DIR_OR_GLOB (Parquet with feedback_id, text) and --output DIR")
    try:
        summary = run_ray_annotation(
            source,
            output,
            address=address,
            workers=workers,
            gpus_per_worker=gpus_per_worker,
            batch_size=batch_size or DEFAULT_BATCH_SIZE,
            taxonomy=taxonomy or "phone",
            overwrite=overwrite,
            log=print,
        )
    except ScaleError as exc:
        fail(str(exc))
    print(
        f"annotated {summary.annotated} of {summary.input_rows} rows in {summary.seconds:.1f} s "
        f"({summary.rate:,.0f}/s) with {summary.workers} worker(s): {summary.mentions} aspect mentions; "
        f"pipeline version {', '.join(summary.pipeline_versions) or '-'}; written to {summary.output}"
    )
    print(
        f"timing: Ray start {summary.ray_start_seconds:.1f} s, model load {summary.model_load_seconds:.1f} s "
        f"(slowest actor), annotation {summary.annotate_seconds:.1f} s ({summary.annotate_rate:,.0f}/s, "
        f"first batch start to last batch end), end to end after Ray start {summary.seconds:.1f} s"
    )
    print(f"show them in the dashboards with: python cli.py attach --parquet {summary.output}")


def export_feedback(
    output: Annotated[Path, typer.Option("--output", help="Folder to write feedback Parquet into.")],
    db: DbOption = None,
    pending_only: Annotated[
        bool, typer.Option("--pending-only", help="Only feedback the store has not annotated yet.")
    ] = False,
) -> None:
    """Write the feedback with text as Parquet: the input of ``annotate --engine ray`` on a cluster."""
    con = open_store(db)
    try:
        if output.exists() and any(output.iterdir()):
            fail(f"{output} is not empty; choose a new folder")
        output.mkdir(parents=True, exist_ok=True)
        pending = (
            " AND NOT EXISTS (SELECT 1 FROM feedback_sentiment s WHERE s.feedback_id = f.feedback_id)"
            if pending_only
            else ""
        )
        target = (output / "feedback.parquet").as_posix().replace("'", "''")
        con.execute(
            "COPY (SELECT feedback_id, dataset_id, text, brand, product, channel, created_at FROM feedback f"
            f" WHERE text IS NOT NULL AND length(trim(text)) > 0{pending} ORDER BY feedback_id)"
            f" TO '{target}' (FORMAT parquet)"
        )
        count = con.execute(f"SELECT count(*) FROM read_parquet('{target}')").fetchall()[0][0]
    finally:
        con.close()
    print(f"wrote {count} feedback rows to {output}")


def attach(
    parquet: Annotated[
        Path | None, typer.Option("--parquet", help="Annotated Parquet folder to attach.", show_default=False)
    ] = None,
    remove: Annotated[
        Path | None, typer.Option("--remove", help="Detach this folder.", show_default=False)
    ] = None,
    db: DbOption = None,
) -> None:
    """Let the dashboards read an annotated Parquet folder (views, no copy); without options: list them."""
    con = open_store(db)
    try:
        if parquet is not None:
            try:
                found = attach_parquet(con, parquet)
            except AttachError as exc:
                fail(str(exc))
            print(f"attached {found.path} ({', '.join(found.tables)})")
        if remove is not None:
            if not detach_parquet(con, remove):
                fail(f"{remove} is not attached (list them with: python cli.py attach)")
            print(f"detached {remove}")
        if parquet is None and remove is None:
            listed = attachments(con)
            print("\n".join(f"{a.path}\t{', '.join(a.tables) or 'MISSING'}" for a in listed) or "none")
            for problem in attachment_problems(con):
                print(f"warning: {problem}")
    finally:
        con.close()


def register(app: typer.Typer) -> None:
    """Add ``export-feedback`` and ``attach`` to the main CLI."""
    app.command("export-feedback")(export_feedback)
    app.command("attach")(attach)
