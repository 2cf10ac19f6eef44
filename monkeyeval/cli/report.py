"""`monkeyeval report`: a leaderboard over a results folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from monkeyeval.cli.errors import reported
from monkeyeval.core.errors import UserError

if TYPE_CHECKING:
    from monkeyeval.report.leaderboard import Leaderboard

FORMAT_HELP = (
    "auto (rich, or text for a report of more than 500 runs), rich (boxed tables), text (the same "
    "tables in plain text, fast on large reports), md, csv, json, html (one self-contained file), or svg / "
    "png (the --plot chart alone; png needs `pip install 'monkeyeval[plots]'`)."
)
CHART_FORMATS = ("svg", "png")
PLOTS = ("radar", "bars")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("report")(reported(report))


def report(
    results_dir: Path = typer.Argument(..., help="Results folder: every sub-folder holding a scores.json."),
    fmt: str = typer.Option("auto", "--format", "-f", help=FORMAT_HELP),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file (atomic) instead."),
    group: list[str] = typer.Option(
        [], "--group", "-g", help="Only this group's tasks and aggregate (repeatable)."
    ),
    plot: str = typer.Option("radar", "--plot", help="Chart of --format svg/png: radar (a group) or bars."),
    samples: int = typer.Option(
        200, "--samples", min=0, help="html: samples embedded per run in its sample browser (0: none)."
    ),
    compare: list[str] = typer.Option(
        [], "--compare", help="html: MODEL_A:MODEL_B, list the samples that flip between them (repeatable)."
    ),
) -> None:
    """Build a leaderboard: models x tasks with 95% CIs and n, group macro/micro means, run health.

    Damaged scores.json files are listed and skipped. Exit codes: 0 ok, 2 usage error (missing folder,
    unknown format or group).

    Examples (after `monkeyeval run --task demo --ckpt demo`):

    \b
      monkeyeval report results/ --format html -o leaderboard.html
      monkeyeval report results/ --format svg --plot bars -o bars.svg
    """
    from rich.text import Text

    from monkeyeval.core.atomic import atomic_write_text
    from monkeyeval.report import FORMATS, build_leaderboard, render
    from monkeyeval.report.render import REPORT_WIDTH, auto_format, make_console, rich_renderable
    from monkeyeval.results.tree import load_results

    err = make_console(stderr=True)
    if fmt not in ("auto", *FORMATS, *CHART_FORMATS):
        choices = ", ".join(("auto", *FORMATS, *CHART_FORMATS))
        raise UserError(f"unknown --format {fmt!r}; choose one of {choices}")
    if plot not in PLOTS:
        raise UserError(f"unknown --plot {plot!r}; choose radar or bars")
    pairs = [_model_pair(text) for text in compare]
    tree = load_results(results_dir)
    board = build_leaderboard(tree, group)
    for problem in tree.problems:
        err.print(Text.assemble(("skipped ", "yellow"), str(problem)), highlight=False, soft_wrap=True)
    if not tree.runs:
        only = (
            f" ({len(tree.predict_only)} predict-only runs: listed, not scored)" if tree.predict_only else ""
        )
        err.print(
            f"[yellow]warning:[/yellow] no valid scores.json under {results_dir}{only}",
            highlight=False,
            soft_wrap=True,
        )
    if fmt in CHART_FORMATS:
        _write_chart(board, plot, fmt, group, output)
        return
    if fmt == "auto":
        fmt = auto_format(board)
        if fmt == "text":
            err.print("a large report: plain text (--format rich draws boxed tables)", highlight=False)
    if fmt == "rich" and output is None:
        console = make_console(piped_width=REPORT_WIDTH)
        console.print(rich_renderable(board, console.width))
        return
    if fmt == "html":
        from monkeyeval.report.html import render_html
        from monkeyeval.report.html.samples import samples_sections

        text = render_html(board, sections=samples_sections(tree, max_samples=samples, compare=pairs))
    else:
        on_screen = fmt == "text" and output is None  # plain text takes the terminal's width, as rich does
        text = render(board, fmt, make_console(piped_width=REPORT_WIDTH).width if on_screen else REPORT_WIDTH)
    if output is not None:
        atomic_write_text(output, text)
        err.print(f"wrote {output}", highlight=False, soft_wrap=True)
    else:
        typer.echo(text, nl=False)


def _model_pair(text: str) -> tuple[str, str]:
    first, sep, second = text.partition(":")
    if not sep or not first or not second:
        raise UserError(f"--compare {text!r}: write two model folder names as MODEL_A:MODEL_B")
    return first, second


def _write_chart(board: Leaderboard, plot: str, fmt: str, group: list[str], output: Path | None) -> None:
    from monkeyeval.core.atomic import atomic_write_bytes
    from monkeyeval.report.html.plots import render_plot

    if output is None:
        raise UserError(f"--format {fmt} writes a file: add -o chart.{fmt}")
    if len(group) > 1:
        raise UserError("a chart shows one group: pass a single --group")
    data = render_plot(board, plot, fmt, group[0] if group else None)  # type: ignore[arg-type]
    atomic_write_bytes(output, data)
    typer.echo(f"wrote {output}", err=True)
