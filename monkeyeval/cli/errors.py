"""The one place that turns errors into exit codes.

Every command is registered through `reported`: a `MonkeyevalError` prints one paragraph (`error: ...`)
and exits with the code of its kind; Ctrl-C exits 130; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import typer

from monkeyeval.core.errors import IncompleteResults, MonkeyevalError, UserError

if TYPE_CHECKING:
    from rich.console import Console

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_RUN_FAILURE = 3
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 scores drifted (gate) or results cannot be scored (samples missing, "
    "--missing fail); 2 usage or input error (flag, task YAML, dataset, checkpoint, option); "
    "3 run-time failure (a rank died, an I/O error; re-running resumes); 130 interrupted."
)

P = ParamSpec("P")
R = TypeVar("R")


def exit_code_for(error: MonkeyevalError) -> int:
    """The exit code of an error's kind (README: Exit codes)."""
    if isinstance(error, UserError):
        return EXIT_USAGE
    if isinstance(error, IncompleteResults):
        return EXIT_FAILED
    return EXIT_RUN_FAILURE  # RunFailure


def stderr_console() -> Console:
    """A rich console on stderr."""
    from rich.console import Console

    return Console(stderr=True)


def print_error(console: Console, error: BaseException) -> None:
    """`error: <message>` in red, the message printed literally (no rich markup) and unwrapped."""
    from rich.markup import escape

    console.print(f"[red]error:[/red] {escape(str(error))}", highlight=False, soft_wrap=True)


def reported(command: Callable[P, R]) -> Callable[P, R]:
    """Wrap a typer command: its `MonkeyevalError`s and Ctrl-C become a message and an exit code."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt:
            stderr_console().print(
                "interrupted: finished work is saved; re-run the same command to resume", soft_wrap=True
            )
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except MonkeyevalError as error:
            print_error(stderr_console(), error)
            raise typer.Exit(exit_code_for(error)) from None

    return wrapper
