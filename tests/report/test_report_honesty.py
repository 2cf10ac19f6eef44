"""Honest numbers: group completeness from the group's definition, `--limit` runs, skipped dataset lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from monkeyeval.report import build_leaderboard
from monkeyeval.report.render import render
from monkeyeval.report.tables import group_cells, health_table, task_cell
from monkeyeval.results.tree import load_results

PAPER = [f"task{i:02d}" for i in range(14)]


def test_a_group_is_judged_by_its_definition_not_by_the_tasks_present(results_root: Path, make_run) -> None:
    for name in PAPER[:3]:
        make_run("M", name, 0.5, groups=["monkey_paper"], group_members={"monkey_paper": PAPER})
    board = build_leaderboard(load_results(results_root), ["monkey_paper"])
    row = board.group_row("M", "monkey_paper")
    assert row is not None
    assert row["complete"] is False and row["macro"] is None and row["micro"] is None
    assert row["tasks"] == PAPER and row["present"] == PAPER[:3] and row["missing"] == PAPER[3:]
    macro, _ = group_cells(row)
    assert macro.startswith("3 of 14 tasks (missing: task03, task04")
    assert '"complete": false' in render(board, "json")


def test_definitions_recorded_by_different_runs_are_merged(results_root: Path, make_run) -> None:
    make_run("M", "a", 0.4, groups=["g"], group_members={"g": ["a", "b"]})
    make_run("M", "b", 0.6, groups=["g"], group_members={"g": ["a", "b", "c"]})
    row = build_leaderboard(load_results(results_root)).group_row("M", "g")
    assert row is not None and row["tasks"] == ["a", "b", "c"] and row["missing"] == ["c"]


def test_a_limit_run_is_flagged_and_never_enters_a_group_mean(results_root: Path, make_run) -> None:
    make_run("M", "a", 0.4, n=4, groups=["g"], limit=4, group_members={"g": ["a", "b"]})
    make_run("M", "b", 0.6, groups=["g"], group_members={"g": ["a", "b"]})
    make_run("N", "a", 0.5, groups=["g"], group_members={"g": ["a", "b"]})
    make_run("N", "b", 0.7, groups=["g"], group_members={"g": ["a", "b"]})
    board = build_leaderboard(load_results(results_root))
    limited = board.group_row("M", "g")
    assert limited is not None and limited["complete"] is False and limited["macro"] is None
    assert limited["limited"] == ["a"] and limited["present"] == ["b"] and limited["missing"] == []
    assert group_cells(limited)[0] == "1 of 2 tasks (--limit runs: a)"
    full = board.group_row("N", "g")
    assert full is not None and full["macro"] == pytest.approx(0.6)
    assert task_cell(board.task_row("M", "a")).endswith("n=4 limit=4")
    assert "limit=" not in task_cell(board.task_row("M", "b"))
    csv_lines = render(board, "csv").splitlines()
    header = csv_lines[0].split(",")
    limit_column = header.index("limit")
    limits = {tuple(line.split(",")[1:3]): line.split(",")[limit_column] for line in csv_lines[1:]}
    assert float(limits[("M", "a")]) == 4 and limits[("M", "b")] == ""


def test_skipped_dataset_lines_show_in_health(results_root: Path, make_run) -> None:
    make_run("M", "a", 0.5, n_skipped_lines=2, skipped_lines=[3, 9])
    make_run("M", "b", 0.5)
    board = build_leaderboard(load_results(results_root))
    health = health_table(board)
    column = health.headers.index("n_skipped_lines")
    assert {row[1]: row[column] for row in health.rows} == {"a": "2", "b": "0"}
    assert task_cell(board.task_row("M", "a")).endswith("⚠")
    assert not task_cell(board.task_row("M", "b")).endswith("⚠")


def test_scores_files_without_the_new_keys_still_load(results_root: Path, make_run) -> None:
    make_run("M", "a", 0.5)  # written the way scores.json was before the keys existed
    run = load_results(results_root).runs[0]
    assert (run.n_skipped_lines, run.skipped_lines, run.limit, run.predictions) == (0, (), None, None)
    assert dict(run.group_members) == {}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("skipped_lines", [0], "line numbers"),
        ("skipped_lines", "3", "line numbers"),
        ("limit", 0, "'limit' must be null or an integer >= 1"),
        ("limit", True, "'limit' must be null"),
        ("group_members", {"g": "a"}, "'group_members' must map"),
        ("predictions", {"sha256": "x"}, "'predictions' must be"),
        ("n_skipped_lines", -1, "'n_skipped_lines' must be a non-negative integer"),
    ],
)
def test_invalid_new_keys_are_named(results_root: Path, make_run, key: str, value: object, message: str):
    make_run("M", "a", 0.5, **{key: value})
    tree = load_results(results_root)
    assert not tree.runs
    assert message in tree.problems[0].reason
