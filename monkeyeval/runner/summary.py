"""The final table of a run: score, CI and generation health per task."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from monkeyeval.core.numbers import format_interval, format_score


def summary_table(
    rows: Sequence[tuple[str, dict[str, Any] | None, str]], title: str = "monkeyeval run"
) -> Table:
    """rows: (task, scores.json dict or None, note) -> a rich Table (notes are printed below it)."""
    table = Table(title=title)
    table.caption = "err: errors, empty: empty answers, max: hit max_new_tokens, miss: no prediction"
    for column in ("task", "metric", "score", "95% CI", "n", "err", "empty", "max", "miss"):
        is_text = column in ("task", "metric")
        table.add_column(column, justify="left" if is_text else "right", no_wrap=True)
    for task, scores, _note in rows:
        if scores is not None and scores.get("predict_only"):
            keys = ("n", "n_errors", "n_empty", "n_truncated", "n_missing")
            counts = [str(scores.get(key)) for key in keys]
            table.add_row(task, str(scores.get("metric")), "not scored", "-", *counts)
            continue
        if scores is None or scores.get("dry_run"):
            n = "-" if scores is None else str(scores.get("n"))
            errors = "-" if scores is None else str(scores.get("n_errors"))
            table.add_row(task, "-", "-", "-", n, errors, "-", "-", "-")
            continue
        aggregation = _primary_aggregation(scores)
        table.add_row(
            task,
            str(scores.get("metric")),
            format_score(scores.get("score"), aggregation),
            format_interval(scores.get("ci95"), aggregation) or "-",
            str(scores.get("n")),
            str(scores.get("n_errors")),
            str(scores.get("n_empty")),
            str(scores.get("n_truncated")),
            str(scores.get("n_missing")),
        )
    return table


def _primary_aggregation(scores: dict[str, Any]) -> str:
    primary = (scores.get("metrics") or {}).get(scores.get("metric")) or {}
    return str(primary.get("aggregation", "mean"))


def print_summary(
    console: Console, rows: Sequence[tuple[str, dict[str, Any] | None, str]], title: str
) -> None:
    """Print the table, then one line per task with its note (results folder or status)."""
    console.print(summary_table(rows, title))
    for task, _scores, note in rows:
        if note:
            console.print(f"{task}: {note}", highlight=False, soft_wrap=True)
