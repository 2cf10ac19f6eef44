"""The `monkeyeval` command line. Each command lives in its own module under `monkeyeval.commands`."""

from __future__ import annotations

import importlib

import typer

COMMAND_MODULES = (
    "monkeyeval.commands.run",
    "monkeyeval.commands.score",
    "monkeyeval.commands.report",
    "monkeyeval.commands.gate",
    "monkeyeval.commands.listing",
    "monkeyeval.commands.convert",
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
    )
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(app)
    return app


def main() -> None:
    """Console-script entry point."""
    build_app()()
