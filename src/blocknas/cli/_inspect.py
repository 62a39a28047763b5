"""``blocknas inspect``: the per-row table of a model config, with its totals and quirk warnings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from blocknas.cli import app


def _fmt_args(args: dict[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in args.items() if v is not None)


def _human(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{n:.0f}"


@app.command("inspect")
def inspect_command(
    config: Annotated[Path, typer.Argument(help="Model YAML (reference or named form).")],
    input_size: Annotated[
        int | None, typer.Option(help="Input side in pixels (default: the config's, else 32).")
    ] = None,
    num_classes: Annotated[int | None, typer.Option(help="Override the classifier width.")] = None,
    latency: Annotated[bool, typer.Option(help="Also measure CPU latency.")] = True,
    threads: Annotated[int, typer.Option(help="CPU threads for the latency measurement.")] = 1,
    mbconv_variant: Annotated[
        str | None,
        typer.Option(
            help="How reference MBConv rows [t, c, s, k] are read: 'template' (output channels "
            "from t) or 'channels' (from c, as several forks do). Overrides the file's "
            "mbconv_variant key."
        ),
    ] = None,
) -> None:
    """Print each backbone row (block, arguments, channels, output size, params, MACs) and totals."""
    from rich.console import Console
    from rich.table import Table

    from blocknas._threads import check_threads
    from blocknas.blocks import MBConvVariant
    from blocknas.errors import ConfigError
    from blocknas.model import build_from_spec, load_model_spec
    from blocknas.profile import profile, profile_rows

    check_threads(threads)
    if mbconv_variant is not None:
        try:
            MBConvVariant.parse(mbconv_variant, "--mbconv-variant")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    spec = load_model_spec(
        config, num_classes=num_classes, input_size=input_size, mbconv_variant=mbconv_variant
    )
    model = build_from_spec(spec)
    console = Console(width=200)
    for line in spec.readings():  # the fork reading the table below follows
        console.print(line, highlight=False)
    table = Table(title=f"{config} @ {spec.input_channel}×{spec.input_size}×{spec.input_size}")
    for col in ("row", "block", "n", "arguments", "in → out", "output", "params", "MACs"):
        table.add_column(col, justify="right" if col in ("row", "n", "params", "MACs") else "left")
    for r in profile_rows(model):
        size = "flat" if r.out_size is None else f"{r.out_size[0]}×{r.out_size[1]}"
        table.add_row(
            str(r.index), r.block, str(r.repeat), _fmt_args(r.args),
            f"{r.in_channels} → {r.out_channels}", size, f"{r.params:,}", f"{r.macs:,}",
        )  # fmt: skip
    console.print(table)
    total = profile(model, latency=latency, threads=threads)
    console.print(f"total params: {total.params:,} ({_human(total.params)})", highlight=False)
    console.print(f"total MACs:   {total.macs:,} ({_human(total.macs)})", highlight=False)
    if total.latency_ms is not None:
        console.print(
            f"latency:      {total.latency_ms:.2f} ms at batch 1, {total.latency_batch_ms:.2f} ms "
            f"at batch {total.batch_size} ({total.threads} CPU thread(s), median)",
            highlight=False,
        )
    for note in spec.notes():
        typer.echo(f"warning: {note}", err=True)
