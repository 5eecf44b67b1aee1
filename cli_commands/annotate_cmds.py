"""``annotate`` and ``taxonomy list|show|check|set``: the annotation pipeline on the command line.

``annotate`` scores the feedback that has no annotation yet (review sentiment, aspect mentions), in batches,
with a progress bar; it can be stopped at any time (Ctrl-C) and rerun to finish. Known texts come from the
cache without a model call. ``--rescore`` re-annotates feedback annotated by an older pipeline version (a
new model, an edited taxonomy).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from cli_commands.common import DbOption, fail, open_store
from models.annotation_store import (
    DEFAULT_BATCH_SIZE,
    AnnotationError,
    AnnotationSummary,
    annotate_dataset,
    annotation_status,
    set_dataset_taxonomy,
)
from models.taxonomy import (
    TaxonomyError,
    available_taxonomies,
    is_user_copy,
    load_taxonomy,
    parse_taxonomy_text,
    taxonomy_file,
)

EXIT_INTERRUPTED = 130

taxonomy_app = typer.Typer(help="List, show, check and choose aspect taxonomies.", no_args_is_help=True)


def _model_errors() -> tuple[type[BaseException], ...]:
    """Errors of the model loaders that a person can act on (retrain, point to a model directory)."""
    errors: list[type[BaseException]] = [AnnotationError, TaxonomyError]
    try:
        from models.sentiment import SentimentModelError

        errors.append(SentimentModelError)
    except ImportError:  # pragma: no cover - module shipped with the app
        pass
    try:
        from models.aspect_polarity import AspectModelError

        errors.append(AspectModelError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


def print_summary(summary: AnnotationSummary) -> None:
    """The counts of a run, one line each."""
    rate = summary.feedback_annotated / summary.seconds if summary.seconds > 0 else 0.0
    print(
        f"annotated {summary.feedback_annotated} feedback rows in {summary.seconds:.1f} s ({rate:,.0f}/s): "
        f"{summary.texts_scored} texts scored by the models, "
        f"{summary.texts_from_cache} served from the cache, "
        f"{summary.mentions_written} aspect mentions"
    )
    for name, version in summary.pipeline_versions.items():
        print(f"dataset '{name}': pipeline version {version}")


def annotate(
    db: DbOption = None,
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", help="Dataset name or id (default: every dataset).", show_default=False),
    ] = None,
    rescore: Annotated[
        bool,
        typer.Option(
            "--rescore", help="Re-annotate feedback annotated by an older model or taxonomy version."
        ),
    ] = False,
    taxonomy: Annotated[
        str | None,
        typer.Option(
            "--taxonomy",
            help="First set the dataset's taxonomy, then re-annotate it (needs --dataset).",
            show_default=False,
        ),
    ] = None,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size", min=1, max=100_000, help="Feedback rows per batch (one transaction each)."
        ),
    ] = DEFAULT_BATCH_SIZE,
    engine: Annotated[str, typer.Option("--engine", help="local (store) or ray (Parquet in/out).")] = "local",
    input_path: Annotated[str | None, typer.Option("--input", help="ray: Parquet folder or glob.")] = None,
    output: Annotated[str | None, typer.Option("--output", help="ray: output folder.")] = None,
    address: Annotated[str | None, typer.Option("--address", help="ray: cluster address.")] = None,
    gpus_per_worker: Annotated[float | None, typer.Option("--gpus-per-worker", help="ray: GPUs.")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="ray: annotator actors.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="ray: replace an earlier output.")] = False,
) -> None:
    """Annotate feedback: review sentiment and aspect mentions (resumable, cached per text)."""
    if engine == "ray":  # docs/SCALE.md; --batch-size keeps its local default only for the local engine
        from cli_commands.scale_cmds import annotate_ray

        size = None if batch_size == DEFAULT_BATCH_SIZE else batch_size
        annotate_ray(
            input_path,
            output,
            address=address,
            gpus_per_worker=gpus_per_worker,
            workers=workers,
            batch_size=size,
            taxonomy=taxonomy,
            overwrite=overwrite,
        )
        return
    if engine != "local":
        fail(f"unknown --engine {engine!r}: use local or ray")
    if taxonomy is not None and dataset is None:
        fail("--taxonomy needs --dataset (which dataset should use it?)")
    target: str | int | None = int(dataset) if dataset is not None and dataset.isdigit() else dataset
    con = open_store(db)
    summary: AnnotationSummary | None = None
    try:
        if taxonomy is not None and target is not None:
            set_dataset_taxonomy(con, target, taxonomy)
            print(f"dataset '{dataset}' now uses the taxonomy '{taxonomy}'")
            rescore = True
        with Progress(
            TextColumn("annotating"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=False,
        ) as bar:
            task = bar.add_task("annotate", total=None)

            def report(done: int, total: int) -> None:
                bar.update(task, completed=done, total=max(total, 1))

            summary = annotate_dataset(con, target, progress=report, batch_size=batch_size, rescore=rescore)
    except _model_errors() as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        print(
            "interrupted: every finished batch is saved; run the same command again to annotate the rest",
            file=sys.stderr,
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        con.close()
    if summary.pending == 0:
        print(
            "nothing to annotate: every feedback row with text is annotated"
            + ("" if rescore else " (use --rescore after a model or taxonomy change)")
        )
    print_summary(summary)


def annotate_after_ingest(db: str | None, dataset_id: int) -> None:
    """``ingest``'s last step: annotate the new rows with a progress bar; a failure is a warning only."""
    con = open_store(db)
    try:
        with Progress(
            TextColumn("annotating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
        ) as bar:
            task = bar.add_task("annotate", total=None)
            summary = annotate_dataset(
                con,
                dataset_id,
                progress=lambda done, total: bar.update(task, completed=done, total=max(total, 1)),
            )
    except _model_errors() as exc:
        print(
            f"warning: the rows are imported but not annotated: {' '.join(str(exc).split())}; "
            "fix that, then run: python cli.py annotate",
            file=sys.stderr,
        )
        return
    except KeyboardInterrupt:
        print("interrupted: the rows are imported; run `python cli.py annotate` to finish", file=sys.stderr)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        con.close()
    print_summary(summary)


def annotate_status(db: DbOption = None) -> None:
    """Per dataset: taxonomy, feedback with text, annotated rows, aspect mentions, pipeline versions."""
    con = open_store(db)
    try:
        frame = annotation_status(con)
    finally:
        con.close()
    if frame.empty:
        print("no datasets (import one with: python cli.py ingest PATH)")
        return
    print(frame.to_string(index=False))


@taxonomy_app.command("list")
def taxonomy_list() -> None:
    """List the taxonomies (shipped, or edited copies in the user folder)."""
    for name in available_taxonomies():
        try:
            taxonomy = load_taxonomy(name)
        except TaxonomyError as exc:
            print(f"{name}: INVALID: {exc}")
            continue
        origin = "edited copy" if is_user_copy(name) else "shipped"
        print(f"{name}\t{taxonomy.label}\t{len(taxonomy.paths())} aspects\t{origin}\t{taxonomy_file(name)}")


@taxonomy_app.command("show")
def taxonomy_show(name: Annotated[str, typer.Argument(help="Taxonomy name, e.g. phone.")]) -> None:
    """Print the aspect paths of a taxonomy with their terms."""
    try:
        taxonomy = load_taxonomy(name)
    except TaxonomyError as exc:
        fail(str(exc))
    for node in taxonomy.nodes():
        print(f"{node.path}\t{', '.join(node.terms)}")


@taxonomy_app.command("check")
def taxonomy_check(
    path: Annotated[Path, typer.Argument(help="A taxonomy YAML file to validate.", show_default=False)],
) -> None:
    """Validate a taxonomy file and report the first problem (file, aspect, what is wrong)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{path}: cannot read the file ({exc}); save it as UTF-8 text")
    name = path.stem if path.stem.replace("_", "").isalnum() and path.stem.islower() else "custom"
    try:
        taxonomy = parse_taxonomy_text(text, name=name, source=path)
    except TaxonomyError as exc:
        fail(str(exc))
    print(f"{path}: valid, {len(taxonomy.paths())} aspects, {len(taxonomy.term_index())} terms")


@taxonomy_app.command("set")
def taxonomy_set(
    dataset: Annotated[str, typer.Argument(help="Dataset name or id.", show_default=False)],
    name: Annotated[str, typer.Argument(help="Taxonomy name (see: taxonomy list).", show_default=False)],
    db: DbOption = None,
) -> None:
    """Choose the taxonomy of a dataset (then: annotate --dataset NAME --rescore)."""
    con = open_store(db)
    try:
        set_dataset_taxonomy(con, int(dataset) if dataset.isdigit() else dataset, name)
    except AnnotationError as exc:
        fail(str(exc))
    finally:
        con.close()
    print(
        f"dataset '{dataset}' now uses '{name}'; re-annotate with: "
        f"python cli.py annotate --dataset {dataset} --rescore"
    )


def register(app: typer.Typer, *rest: typer.Typer) -> None:
    """Add ``annotate``, ``annotate-status`` and the ``taxonomy`` group to the main CLI."""
    app.command("annotate")(annotate)
    app.command("annotate-status")(annotate_status)
    app.add_typer(taxonomy_app, name="taxonomy")
