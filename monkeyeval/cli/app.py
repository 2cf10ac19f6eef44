"""The `monkeyeval` typer app: each command lives in its own module beside this one."""

from __future__ import annotations

import importlib

import typer

from monkeyeval import __version__

COMMAND_MODULES = (
    "monkeyeval.cli.run",
    "monkeyeval.cli.score",
    "monkeyeval.cli.report",
    "monkeyeval.cli.gate",
    "monkeyeval.cli.listing",
    "monkeyeval.cli.convert",
)


def build_app() -> typer.Typer:
    """Assemble the CLI from the command modules (each exposes `register(app)`)."""
    app = typer.Typer(
        name="monkeyeval",
        help=(
            "Evaluate Monkey-family and Hugging Face vision-language models with upstream-exact prompts and "
            "metrics, crash-safe sharded runs, leaderboards and CI drift gates.\n\n"
            "Typical flow: `monkeyeval run --task demo --ckpt PATH` -> `monkeyeval report results/` -> "
            "`monkeyeval gate results/ --baseline results/baselines/demo.json`."
        ),
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_root_options)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(app)
    return app


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"monkeyeval {__version__}")
        raise typer.Exit()


def _root_options(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Options of `monkeyeval` itself (before the command)."""


def main() -> None:
    """Console-script entry point."""
    build_app()()
