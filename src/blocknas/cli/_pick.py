"""``blocknas pick``: one trial answering one question, with its cost relative to a baseline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from blocknas.cli import app


@app.command("pick")
def pick_command(
    run_dir: Annotated[Path, typer.Argument(help="Search run folder.")],
    best_accuracy: Annotated[
        bool, typer.Option("--best-accuracy", help="The most accurate trial.")
    ] = False,
    smallest_within: Annotated[
        float | None,
        typer.Option(help="The smallest trial within this many accuracy points of --of."),
    ] = None,
    of: Annotated[
        str | None,
        typer.Option("--of", help="Baseline (zoo name) to match and take ratios against."),
    ] = None,
    knee: Annotated[bool, typer.Option("--knee", help="The best-balanced front point.")] = False,
    max_params: Annotated[
        int | None, typer.Option(help="The most accurate trial with at most this many params.")
    ] = None,
    max_macs: Annotated[int | None, typer.Option(help="... and at most this many MACs.")] = None,
    max_latency_ms: Annotated[
        float | None, typer.Option(help="... and at most this CPU latency (ms).")
    ] = None,
    baselines: Annotated[
        bool, typer.Option("--baselines", help="Train the baseline first if it is not trained.")
    ] = False,
    zoo: Annotated[Path | None, typer.Option(help="Folder of baseline model YAMLs.")] = None,
    storage: Annotated[str | None, typer.Option(help="Study storage URL.")] = None,
    study: Annotated[str | None, typer.Option(help="Study name.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the pick as JSON.")] = False,
) -> None:
    """Pick a trial: --best-accuracy | --smallest-within POINTS --of BASELINE | --knee |
    --max-params N (with --max-macs / --max-latency-ms)."""
    from blocknas.cli._report import print_picks
    from blocknas.report import pick_trial

    pick = pick_trial(
        run_dir, best_accuracy=best_accuracy, smallest_within=smallest_within, knee=knee,
        max_params=max_params, max_macs=max_macs, max_latency_ms=max_latency_ms, of=of,
        train_baselines=baselines, zoo=zoo, storage=storage, study_name=study,
    )  # fmt: skip
    if as_json:
        typer.echo(json.dumps(pick.to_dict(), indent=1))
        return
    print_picks([pick])
    typer.echo(pick.description)
    path = pick.trial.model_path
    typer.echo(f"model: {path if path is not None else '(no model.yaml in the run folder)'}")
