"""``blocknas train``: train a model config on a data config into a run folder."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from blocknas._io import parse_yaml
from blocknas._signals import exit_status
from blocknas.cli import app
from blocknas.cli._threads_option import TrainingThreads, use_training_threads
from blocknas.errors import ConfigError

if TYPE_CHECKING:
    from blocknas.train import TrainResult


@app.command("train")
def train_command(
    model: Annotated[Path | None, typer.Option("--model", "-m", help="Model config YAML.")] = None,
    data: Annotated[Path | None, typer.Option("--data", "-d", help="Data config YAML.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Override the data config's epochs.")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Run folder (default: runs/<model>-<time>).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the interrupted run in --out.")
    ] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Training key=value (YAML value), e.g. --set lr=0.05."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    threads: TrainingThreads = None,
) -> None:
    """Train MODEL on DATA; write checkpoints, resolved configs and metrics.json to the run folder."""
    from blocknas.train import resume_run, train_run

    if resume:
        if out is None:
            raise ConfigError("--resume needs --out RUN_DIR (the run to continue)")
        if model or data or epochs or set_:
            raise ConfigError("--resume continues a run with its saved configs; drop the others")
        run_dir = out
        job = partial(resume_run, run_dir, progress=not quiet)
    else:
        if model is None or data is None:
            raise ConfigError("train needs --model and --data (or --resume --out RUN_DIR)")
        overrides = _parse_sets(set_ or [])
        sources = {key: f"--set {key}" for key in overrides}
        if epochs is not None:
            overrides["epochs"], sources["epochs"] = epochs, "--epochs"
        run_dir = out or Path("runs") / f"{model.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
        job = partial(train_run, model, data, run_dir, overrides, progress=not quiet,
                      override_sources=sources)  # fmt: skip
    use_training_threads(threads, quiet=quiet)
    result = _interruptible(run_dir, job)
    line = (
        f"best epoch {result.best_epoch}: val acc {result.val.accuracy:.2%} "
        f"F1 {result.val.macro_f1:.4f}"
    )
    if result.test is not None:
        line += f" | test acc {result.test.accuracy:.2%} F1 {result.test.macro_f1:.4f}"
    line += f" | {result.seconds:.1f} s, {result.images_per_s:,.0f} img/s | {run_dir}"
    typer.echo(line)


def _interruptible(out: Path, run: Callable[[], TrainResult]) -> TrainResult:
    try:
        return run()
    except KeyboardInterrupt as exc:
        hint, status = exit_status(exc)
        if (out / "last.pt").exists():
            hint += f"; continue with: blocknas train --out {out} --resume"
        typer.echo(hint, err=True)
        raise typer.Exit(status) from None


def _parse_sets(items: list[str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        try:
            overrides[key.strip()] = parse_yaml(value)
        except ConfigError as exc:
            problem = str(exc).removeprefix("invalid YAML: ")
            raise ConfigError(f"--set {item!r}: the value is not valid YAML ({problem})") from None
    return overrides
