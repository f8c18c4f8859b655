"""The Typer application and the error handling shared by all commands."""

from __future__ import annotations

import sys
from collections.abc import Callable

import typer
from rich.console import Console

from ..exceptions import MissingExtraError, UnskewInputError

app = typer.Typer(
    name="unskew",
    help="Audit data for bias, measure fairness, and mitigate flawed patterns.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=False)
err_console = Console(stderr=True)

#: Exit codes shared by every command.
EXIT_OK, EXIT_GATE, EXIT_BAD_INPUT = 0, 1, 2


def _print_version(value: bool) -> None:
    if value:
        from .._version import __version__

        console.print(f"unskew {__version__}", highlight=False)
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.",
                                 is_eager=True, callback=_print_version),
) -> None:
    """Audit data for bias, measure fairness, and mitigate flawed patterns."""


def fail_input(message: str) -> None:
    """Print a bad-input message and exit with code 2 (no traceback)."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def guarded(func: Callable) -> Callable:
    """Turn unskew's input errors into a message and exit code 2."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (UnskewInputError, MissingExtraError) as exc:
            fail_input(str(exc))
        except FileNotFoundError as exc:
            fail_input(f"File not found: {exc.filename or exc}")
        except PermissionError as exc:
            fail_input(f"Permission denied: {exc.filename or exc}")
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper


def parse_key_values(items: list[str] | None, option: str) -> dict[str, str]:
    """Parse repeated ``KEY=VALUE`` options."""
    out = {}
    for item in items or []:
        if "=" not in item:
            fail_input(f"{option} expects COLUMN=VALUE, got {item!r}.")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def split_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


#: Exit code for a bug in unskew itself (not the user's input).
EXIT_INTERNAL = 3


def run_app() -> None:
    """Run the CLI. Bad input exits 2; an internal error exits 3 with a one-line
    message (set ``UNSKEW_DEBUG=1`` to see the traceback)."""
    import os

    try:
        app()
    except SystemExit:
        raise
    except (UnskewInputError, MissingExtraError) as exc:  # raised outside a command body
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(EXIT_BAD_INPUT)
    except Exception as exc:
        if os.environ.get("UNSKEW_DEBUG"):
            raise
        err_console.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {exc}\n"
            "This is a bug in unskew, not in your data. Re-run with UNSKEW_DEBUG=1 to see the "
            "traceback and please report it.", highlight=False)
        sys.exit(EXIT_INTERNAL)
