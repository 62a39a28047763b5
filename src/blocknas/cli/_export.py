"""``blocknas export``: write a trial's model as ONNX or TorchScript, checked against PyTorch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from blocknas.cli import app
from blocknas.report.export import ATOL, RTOL


@app.command("export")
def export_command(
    source: Annotated[
        Path, typer.Argument(help="RUN_DIR/trials/NNNN, RUN_DIR/N or a train run folder.")
    ],
    fmt: Annotated[str, typer.Option("--format", help="onnx or torchscript.")] = "onnx",
    out: Annotated[Path | None, typer.Option(help="Output file.")] = None,
    atol: Annotated[float, typer.Option(help="Absolute tolerance of the output check.")] = ATOL,
    rtol: Annotated[float, typer.Option(help="Relative tolerance of the output check.")] = RTOL,
    threads: Annotated[int, typer.Option(help="CPU threads for the latency measurement.")] = 1,
    latency: Annotated[bool, typer.Option(help="Measure CPU latency.")] = True,
) -> None:
    """Export, check outputs against PyTorch within atol + rtol·|y|, and report latency.
    Exits with status 1 when the outputs differ."""
    from blocknas._threads import check_threads
    from blocknas.report import export_model

    check_threads(threads)
    r = export_model(source, fmt, out=out, atol=atol, rtol=rtol, threads=threads,  # type: ignore[arg-type]
                     latency=latency)  # fmt: skip
    typer.echo(f"wrote {r.path} ({r.format}, {r.exporter})")
    typer.echo(f"weights: {r.checkpoint if r.checkpoint else 'random initial (not trained)'}")
    verdict = "ok" if r.passed else "MISMATCH"
    typer.echo(f"outputs vs PyTorch: max |Δ| = {r.max_abs_diff:.3g} "
               f"(tolerance {r.atol:g} + {r.rtol:g}·|y|): {verdict}")  # fmt: skip
    if r.latency_ms is not None and r.torch_latency_ms is not None:
        typer.echo(
            f"latency (batch 1, {r.threads} thread(s), median): {r.runtime} {r.latency_ms:.3f} ms,"
            f" PyTorch {r.torch_latency_ms:.3f} ms ({r.latency_ms / r.torch_latency_ms:.2f}×)"
        )
    for note in r.notes:
        typer.echo(f"note: {note}", err=True)
    if not r.passed:
        raise typer.Exit(1)
