"""`monkeyeval report` through typer's CliRunner: formats, -o, --group and exit codes."""

from __future__ import annotations

import importlib
import io
import json
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from monkeyeval.cli import report


def invoke(app: typer.Typer, args: list[str]):
    """Run the CLI with a wide virtual terminal so rich does not wrap cells or messages."""
    return CliRunner().invoke(app, args, env={"COLUMNS": "300"})


@pytest.fixture
def app() -> typer.Typer:
    cli = typer.Typer()
    cli.callback()(lambda: None)  # keep `report` a sub-command, as in the real app
    report.register(cli)
    return cli


@pytest.fixture
def tree(results_root: Path, make_run) -> Path:
    make_run("A", "docvqa", 0.6, n=200, groups=["doc", "paper"])
    make_run("A", "textvqa", 0.7, n=100, groups=["paper"])
    make_run("B", "docvqa", 0.8, n=200, groups=["doc", "paper"])
    return results_root


def test_rich_default_prints_the_leaderboard(app, tree: Path) -> None:
    result = invoke(app, ["report", str(tree)])
    assert result.exit_code == 0, result.output
    assert "Leaderboard" in result.stdout and "60.0 n=200" in result.stdout


@pytest.mark.parametrize("fmt", ["md", "csv", "json", "html", "rich", "text"])
def test_output_file_in_every_format(app, tree: Path, tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"board.{fmt}"
    result = invoke(app, ["report", str(tree), "--format", fmt, "-o", str(target)])
    assert result.exit_code == 0, result.output
    text = target.read_text(encoding="utf-8")
    assert "docvqa" in text and "textvqa" in text
    if fmt == "json":
        assert {row["model"] for row in json.loads(text)["tasks"]} == {"A", "B"}


def test_csv_to_stdout_parses(app, tree: Path) -> None:
    result = invoke(app, ["report", str(tree), "--format", "csv"])
    assert result.exit_code == 0
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert len(frame[frame["kind"] == "task"]) == 3


def test_group_option_filters_tasks(app, tree: Path) -> None:
    result = invoke(app, ["report", str(tree), "--format", "json", "--group", "doc"])
    assert result.exit_code == 0
    payload = json.loads(result.stdout)
    assert {row["task"] for row in payload["tasks"]} == {"docvqa"}
    assert {row["group"] for row in payload["groups"]} == {"doc"}


def test_damaged_file_is_reported_on_stderr_and_skipped(app, tree: Path) -> None:
    (tree / "junk").mkdir()
    (tree / "junk" / "scores.json").write_text('{"schema": 1}')
    result = invoke(app, ["report", str(tree), "--format", "md"])
    assert result.exit_code == 0
    assert "skipped" in result.stderr and "missing key 'model'" in result.stderr
    assert "junk" in result.stdout  # also listed in the report itself


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "xlsx"], "unknown --format"),
        (["--group", "nope"], "unknown group"),
    ],
)
def test_usage_errors_exit_2(app, tree: Path, args: list[str], message: str) -> None:
    result = invoke(app, ["report", str(tree), *args])
    assert result.exit_code == 2
    assert message in result.stderr


def test_missing_results_folder_exits_2(app, tmp_path: Path) -> None:
    result = invoke(app, ["report", str(tmp_path / "absent")])
    assert result.exit_code == 2
    assert "results folder not found" in result.stderr


def test_html_embeds_a_sample_browser_per_run_and_the_requested_comparison(app, tree: Path) -> None:
    out = tree.parent / "lb.html"
    result = invoke(app, ["report", str(tree), "-f", "html", "-o", str(out), "--compare", "A:B"])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert page.count("Samples: ") == 3  # A/docvqa, A/textvqa, B/docvqa
    assert "Compare: A vs B / docvqa" in page
    no_samples = invoke(app, ["report", str(tree), "-f", "html", "-o", str(out), "--samples", "0"])
    assert no_samples.exit_code == 0 and "Samples: " not in out.read_text(encoding="utf-8")
    only_compare = ["report", str(tree), "-f", "html", "-o", str(out), "--samples", "0", "--compare", "A:B"]
    assert invoke(app, only_compare).exit_code == 0
    page = out.read_text(encoding="utf-8")
    assert "Samples: " not in page and "Compare: A vs B / docvqa" in page


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--compare", "A-B"], "MODEL_A:MODEL_B"),
        (["--compare", "A:Nobody"], "Nobody"),
        (["--plot", "pie"], "unknown --plot"),
    ],
)
def test_bad_compare_or_plot_is_a_usage_error(app, tree: Path, args: list[str], message: str) -> None:
    result = invoke(app, ["report", str(tree), "-f", "html", "-o", str(tree.parent / "x.html"), *args])
    assert result.exit_code == 2 and message in result.output


def test_svg_chart_is_written_to_the_output_file(app, tree: Path) -> None:
    out = tree.parent / "bars.svg"
    result = invoke(app, ["report", str(tree), "-f", "svg", "--plot", "bars", "-o", str(out)])
    assert result.exit_code == 0, result.output
    svg = out.read_text(encoding="utf-8")
    assert svg.lstrip().startswith(("<?xml", "<svg")) and "docvqa" in svg and "textvqa" in svg
    assert invoke(app, ["report", str(tree), "-f", "svg", "--plot", "bars"]).exit_code == 2  # needs -o


def test_auto_prints_a_large_report_as_plain_text(app, results_root: Path, make_run, monkeypatch) -> None:
    render = importlib.import_module(
        "monkeyeval.report.render"
    )  # (the package exports a function of that name)
    for model in ("A", "B", "C"):
        make_run(model, "docvqa", 0.5, n=10)
    small = invoke(app, ["report", str(results_root)])
    assert "┃" in small.stdout and "plain text" not in small.stderr  # 3 runs: rich tables

    monkeypatch.setattr(render, "LARGE_REPORT_RUNS", 2)
    large = invoke(app, ["report", str(results_root)])
    assert large.exit_code == 0, large.output
    assert "a large report: plain text" in large.stderr
    assert not set(large.stdout) & set("┃│━") and "docvqa" in large.stdout
    plain = invoke(app, ["report", str(results_root), "--format", "text"])
    assert large.stdout == plain.stdout  # auto chose the text format, same bytes
    rich_words = {w for w in invoke(app, ["report", str(results_root), "--format", "rich"]).stdout.split()}
    assert {w for w in large.stdout.split()} <= rich_words | {"-" * n for n in range(1, 300)}
