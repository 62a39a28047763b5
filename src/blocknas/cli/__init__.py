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
    from blocknas._signals import exit_status, sigterm_interrupts

    _register_commands()
    try:
        with sigterm_interrupts():
            app(args=argv, prog_name="blocknas")
    except BlocknasError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    except (KeyboardInterrupt, SystemExit) as exc:
        # typer exits on its own after --help, usage errors and success, and turns Ctrl-C or
        # SIGTERM in a command into exit status 130 without a word.
        interrupt = _interrupt_behind(exc)
        if interrupt is not None:
            word, status = exit_status(interrupt)
            typer.echo(word, err=True)
            return status
        assert isinstance(exc, SystemExit)  # a KeyboardInterrupt is its own interrupt
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def _interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt an exit stands for, following the chain of exceptions as a
    traceback shows it (a command that reports its interruption itself suppresses it)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return seen
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    return None


if __name__ == "__main__":
    sys.exit(main())
