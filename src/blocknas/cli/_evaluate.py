"""``blocknas evaluate``: metrics of a run's best weights on a test split."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer

from blocknas.cli import app


@app.command("evaluate")
def evaluate_command(
    run_dir: Annotated[Path, typer.Argument(help="Run folder written by `blocknas train`.")],
    data: Annotated[
        Path | None, typer.Option("--data", "-d", help="Data config (default: the run's).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    tta: Annotated[
        str | None,
        typer.Option(
            help="Test-time augmentation: none, flip (2 passes), flip_translate (6 passes) or "
            "auto (flip_translate when training flipped images); default: the run's own."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Accuracy, macro-F1, per-class accuracy and confusion matrix on the test split."""
    from blocknas.train import evaluate_run

    result = evaluate_run(run_dir, data, device=device, tta=tta)
    metrics = result.metrics
    if as_json:
        typer.echo(json.dumps({"split": result.split, **metrics.to_dict()}))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(
        f"{result.split} split, {metrics.n} images: accuracy {metrics.accuracy:.2%}, "
        f"macro-F1 {metrics.macro_f1:.4f}, loss {metrics.loss:.4f}"
    )
    table = Table("true \\ predicted", title="confusion matrix")
    for name in (*metrics.classes, "accuracy"):
        table.add_column(name, justify="right")
    for name, row, acc in zip(
        metrics.classes, metrics.confusion, metrics.per_class_accuracy, strict=True
    ):
        table.add_row(name, *map(str, row), "-" if math.isnan(acc) else f"{acc:.2%}")
    console.print(table)
