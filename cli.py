"""Tingjian command line: ``python cli.py --help``.

Every command takes ``--db PATH`` (else ``$TINGJIAN_DB``, else ``data/cem.duckdb``). Errors a person can act
on print one line on stderr and exit non-zero; they never show a traceback.
"""

from __future__ import annotations

import typer

from cli_commands import (
    alert_cmds,
    annotate_cmds,
    aspect_cmds,
    bench_cmds,
    demo_cmds,
    export_cmds,
    nlp_model_cmds,
    report_cmds,
    rollup_cmds,
    scale_cmds,
    store_cmds,
    user_cmds,
)

app = typer.Typer(
    name="tingjian",
    help="Tingjian (听见): self-hosted customer-experience analytics for Chinese feedback.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
evaluate_app = typer.Typer(help="Evaluate the NLP models on a labelled file.", no_args_is_help=True)
train_app = typer.Typer(help="Train the NLP models on the real corpora.", no_args_is_help=True)
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(train_app, name="train")

store_cmds.register(app)
demo_cmds.register(app)
nlp_model_cmds.register(train_app, evaluate_app)
annotate_cmds.register(app, evaluate_app)
aspect_cmds.register(train_app, evaluate_app)
export_cmds.register(app)
scale_cmds.register(app)
bench_cmds.register(app)
rollup_cmds.register(app)
alert_cmds.register(app)
report_cmds.register(app)
user_cmds.register(app)


if __name__ == "__main__":
    app()
