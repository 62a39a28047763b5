"""The ``--threads`` option of the commands that train (train, retrain, report --baselines)."""

from __future__ import annotations

from typing import Annotated

import typer

TrainingThreads = Annotated[
    int | None,
    typer.Option(
        "--threads",
        help="CPU threads for training (default: one per core not busy with other work).",
    ),
]


def use_training_threads(threads: int | None, *, quiet: bool = False) -> int:
    """Set torch's threads for this process as :func:`blocknas._threads.training_threads`
    chooses (or as given), and say so when a busy core made them fewer."""
    import torch

    from blocknas._threads import training_threads

    chosen, note = training_threads(threads)
    if note and not quiet:
        typer.echo(f"note: {note}", err=True)
    torch.set_num_threads(chosen)
    return chosen
