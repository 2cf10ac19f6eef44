"""The `monkeyeval` typer app: each command lives in its own module beside this one."""

from __future__ import annotations

import importlib

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

from monkeyeval import __version__

COMMAND_MODULES = (
    "monkeyeval.cli.run",
    "monkeyeval.cli.score",
    "monkeyeval.cli.report",
    "monkeyeval.cli.gate",
    "monkeyeval.cli.listing",
    "monkeyeval.cli.convert",
    "monkeyeval.cli.data",
    "monkeyeval.cli.export",
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
        rich_markup_mode=None,  # click's plain help: flags shown as flags, words never split
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


def build_command() -> TyperGroup:
    """The click command behind the app, with argparse-style metavars (`--batch-size BATCH_SIZE`) in place
    of typer's type names (`<int range>`), as lm-eval users read them; arguments by their names."""
    group = typer.main.get_command(build_app())
    assert isinstance(group, TyperGroup)
    for command in (group, *group.commands.values()):
        for param in command.params:
            if param.metavar is not None or not param.name:
                continue
            if isinstance(param, TyperArgument):
                param.metavar = param.name.upper()
            elif isinstance(param, TyperOption) and not (param.is_flag or param.count):
                long_names = [opt for opt in param.opts if opt.startswith("--")] or [param.name]
                param.metavar = long_names[0].lstrip("-").replace("-", "_").upper()
    return group


def main() -> None:
    """Console-script entry point."""
    build_command()()
