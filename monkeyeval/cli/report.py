"""`monkeyeval report`: a leaderboard over a results folder."""

from __future__ import annotations

from pathlib import Path

import typer

from monkeyeval.cli.errors import reported
from monkeyeval.core.errors import UserError

FORMAT_HELP = "rich (terminal), md, csv, json or html (one self-contained file)."


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("report")(reported(report))


def report(
    results_dir: Path = typer.Argument(..., help="Results folder: every sub-folder holding a scores.json."),
    fmt: str = typer.Option("rich", "--format", "-f", help=FORMAT_HELP),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file (atomic) instead."),
    group: list[str] = typer.Option(
        [], "--group", "-g", help="Only this group's tasks and aggregate (repeatable)."
    ),
) -> None:
    """Build a leaderboard: models x tasks with 95% CIs and n, group macro/micro means, run health.

    Damaged scores.json files are listed and skipped. Exit codes: 0 ok, 2 usage error (missing folder,
    unknown format or group).

    Example (after `monkeyeval run --task demo --ckpt demo`):
    `monkeyeval report results/ --format html -o leaderboard.html`
    """
    from rich.text import Text

    from monkeyeval.core.atomic import atomic_write_text
    from monkeyeval.report import FORMATS, build_leaderboard, render
    from monkeyeval.report.render import make_console, rich_renderable
    from monkeyeval.results.tree import load_results

    err = make_console(stderr=True)
    if fmt not in FORMATS:
        raise UserError(f"unknown --format {fmt!r}; choose one of {', '.join(FORMATS)}")
    tree = load_results(results_dir)
    board = build_leaderboard(tree, group)
    for problem in tree.problems:
        err.print(Text.assemble(("skipped ", "yellow"), str(problem)), highlight=False)
    if not tree.runs:
        err.print(f"[yellow]warning:[/yellow] no valid scores.json under {results_dir}", highlight=False)
    if output is not None:
        atomic_write_text(output, render(board, fmt))
        err.print(f"wrote {output}", highlight=False)
    elif fmt == "rich":
        make_console().print(rich_renderable(board))
    else:
        typer.echo(render(board, fmt), nl=False)
