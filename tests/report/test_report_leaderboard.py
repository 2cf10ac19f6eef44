"""Leaderboard numbers: task rows, macro/micro group means (computed by hand here), incomplete groups."""

from __future__ import annotations

from pathlib import Path

import pytest

from monkeyeval.report import ReportError, build_leaderboard
from monkeyeval.results.tree import load_results


def build_tree(write_run, root: Path) -> None:
    """Three models x four tasks; groups `doc` (docvqa, chartqa) and `paper` (docvqa, textvqa, ocrbench)."""
    write_run(root, "A", "docvqa", 0.60, n=200, groups=["doc", "paper"], ci95=(0.55, 0.65), n_errors=2)
    write_run(root, "A", "textvqa", 0.70, n=100, groups=["paper"])
    write_run(root, "A", "chartqa", 0.50, n=300, groups=["doc"])
    write_run(root, "A", "ocrbench", 700, n=1000, groups=["paper"], aggregation="sum", metric="ocrbench")
    write_run(root, "B", "docvqa", 0.80, n=200, groups=["doc", "paper"])
    write_run(root, "B", "textvqa", 0.40, n=100, groups=["paper"], n_truncated=3)
    write_run(root, "B", "ocrbench", 650, n=1000, groups=["paper"], aggregation="sum", metric="ocrbench")
    write_run(root, "C", "docvqa", 0.90, n=200, groups=["doc", "paper"])


@pytest.fixture
def board(results_root: Path, run_writer):
    build_tree(run_writer, results_root)
    return build_leaderboard(load_results(results_root))


def test_task_rows_carry_raw_scores_ci_and_health(board) -> None:
    assert board.models == ["A", "B", "C"]
    assert board.task_names == ["chartqa", "docvqa", "ocrbench", "textvqa"]
    row = board.task_row("A", "docvqa")
    assert row["score"] == pytest.approx(0.60)
    assert (row["ci95_low"], row["ci95_high"]) == (pytest.approx(0.55), pytest.approx(0.65))
    assert row["n"] == 200 and row["n_errors"] == 2 and row["n_scored"] == 198
    assert board.task_row("A", "ocrbench")["score"] == 700
    assert board.task_row("B", "textvqa")["n_truncated"] == 3
    assert board.task_row("C", "textvqa") is None


def test_group_macro_and_micro_by_hand(board) -> None:
    paper_a = board.group_row("A", "paper")
    # ocrbench is a sum metric: excluded; docvqa 0.60 (n=200), textvqa 0.70 (n=100).
    assert paper_a["complete"] is True
    assert paper_a["macro"] == pytest.approx((0.60 + 0.70) / 2)
    assert paper_a["micro"] == pytest.approx((0.60 * 200 + 0.70 * 100) / 300)
    assert paper_a["excluded"] == ["ocrbench"]
    doc_a = board.group_row("A", "doc")
    assert doc_a["macro"] == pytest.approx((0.60 + 0.50) / 2)
    assert doc_a["micro"] == pytest.approx((0.60 * 200 + 0.50 * 300) / 500)
    paper_b = board.group_row("B", "paper")
    assert paper_b["macro"] == pytest.approx(0.60)
    assert paper_b["micro"] == pytest.approx((0.80 * 200 + 0.40 * 100) / 300)


def test_group_with_missing_task_is_incomplete_not_averaged(board) -> None:
    doc_b = board.group_row("B", "doc")
    assert doc_b["complete"] is False
    assert doc_b["macro"] is None and doc_b["micro"] is None
    assert doc_b["missing"] == ["chartqa"]
    paper_c = board.group_row("C", "paper")
    assert paper_c["complete"] is False and paper_c["missing"] == ["ocrbench", "textvqa"]
    assert paper_c["macro"] is None  # a sum-metric member is not averaged, but the group still needs it


def test_group_filter_keeps_only_its_tasks(results_root: Path, run_writer) -> None:
    build_tree(run_writer, results_root)
    board = build_leaderboard(load_results(results_root), ["doc"])
    assert board.task_names == ["chartqa", "docvqa"]
    assert board.group_names == ["doc"]
    row = board.group_row("A", "doc")
    assert row is not None and row["macro"] == pytest.approx(0.55)


def test_unknown_group_names_the_known_ones(results_root: Path, run_writer) -> None:
    build_tree(run_writer, results_root)
    with pytest.raises(ReportError, match=r"unknown group\(s\) nope.*doc, paper"):
        build_leaderboard(load_results(results_root), ["nope"])


def test_group_of_only_non_mean_tasks_has_no_average(results_root: Path, make_run) -> None:
    make_run("A", "ocrbench", 700, n=1000, groups=["ocr"], aggregation="sum", metric="ocrbench")
    board = build_leaderboard(load_results(results_root))
    row = board.group_row("A", "ocr")
    assert row is not None
    assert row["tasks"] == ["ocrbench"] and row["averaged"] == [] and row["excluded"] == ["ocrbench"]
    assert row["complete"] is True and row["macro"] is None


def test_empty_tree_builds_an_empty_board(results_root: Path) -> None:
    board = build_leaderboard(load_results(results_root))
    assert board.models == [] and board.group_names == []
