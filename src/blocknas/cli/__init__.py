"""The ``blocknas`` command. Thin: each sub-command parses options and calls the library.

Sub-commands live in one private module each (``_inspect.py``, ``_train.py``, ...) and register
themselves on :data:`app` when imported below.
"""

from __future__ import annotations

import sys

import typer

from blocknas.errors import BlocknasError

app = typer.Typer(
    name="blocknas",
    help="Find small, accurate image classifiers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_commands() -> None:
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") and not info.name.startswith("__"):
            importlib.import_module(f"{__name__}.{info.name}")


@app.callback()
def _root() -> None:
    """Find small, accurate image classifiers."""


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the CLI and turns user errors into one line on stderr and exit status 2."""
    _register_commands()
    try:
        app(args=argv, prog_name="blocknas")
    except BlocknasError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except SystemExit as exc:  # typer exits on its own after --help, usage errors and success
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
