"""Leaderboard renderers: rich (terminal), text (plain, fast on large reports), md, csv, json, html
(`monkeyeval.report.html.page.render_html`: one self-contained file, no network refs)."""

from __future__ import annotations

import io
import json
import os
from typing import Literal

import pandas as pd
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from monkeyeval.core.table_fit import fitted_tables, plain_tables, wrap_words
from monkeyeval.report.html.page import render_html
from monkeyeval.report.leaderboard import Leaderboard
from monkeyeval.report.tables import LEGEND, TableView, all_tables

THROUGHPUT_CSV_KEYS = (
    "samples_per_s",
    "generated_tokens_per_s",
    "wall_s",
    "peak_device_memory_bytes",
    "peak_host_rss_bytes",
)
"""Throughput fields the csv's task rows carry (raw numbers; empty for untimed runs and group rows)."""
ReportFormat = Literal["rich", "text", "md", "csv", "json", "html"]
FORMATS: tuple[str, ...] = ("rich", "text", "md", "csv", "json", "html")
LARGE_REPORT_RUNS = 500  # `--format auto` prints plain text above this (rich takes ~2.4 ms per run)
CSV_COLUMNS = (
    "kind",
    "model",
    "name",
    "metric",
    "aggregation",
    "score",
    "score_micro",
    "ci95_low",
    "ci95_high",
    "n",
    "n_scored",
    "n_errors",
    "n_empty",
    "n_truncated",
    "n_missing",
    "n_skipped_lines",
    "limit",
    "complete",
    "missing_tasks",
    *THROUGHPUT_CSV_KEYS,
)


NON_TERMINAL_WIDTH = 200
REPORT_WIDTH = 80


def make_console(stderr: bool = False, piped_width: int = NON_TERMINAL_WIDTH) -> Console:
    """A rich console; when the output is not a terminal (CI logs, pipes) and COLUMNS is unset, it is
    `piped_width` columns wide (default 200, so that gate tables do not fold; the report passes 80)."""
    console = Console(stderr=stderr)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, width=piped_width)
    return console


def render(board: Leaderboard, fmt: str, width: int = REPORT_WIDTH) -> str:
    """Render `board` in format `fmt` (one of FORMATS) as text."""
    if fmt == "md":
        return render_markdown(board)
    if fmt == "csv":
        return render_csv(board)
    if fmt == "json":
        return render_json(board)
    if fmt == "html":
        return render_html(board)
    if fmt == "text":
        return render_text(board, width)
    if fmt == "rich":
        console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
        console.print(rich_renderable(board, width))
        return console.export_text()
    raise ValueError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")


def auto_format(board: Leaderboard) -> str:
    """`--format auto`: rich tables, or plain text for a report of more than LARGE_REPORT_RUNS runs."""
    return "text" if len(board.tasks) > LARGE_REPORT_RUNS else "rich"


def render_text(board: Leaderboard, width: int = REPORT_WIDTH) -> str:
    """The rich report's tables and legend as plain text, in the same column layout."""
    parts = [plain_tables(view, width) for view in all_tables(board)]
    parts.append("\n".join(wrap_words(LEGEND, width)) + "\n")
    return "\n".join(parts)


def rich_renderable(board: Leaderboard, width: int = REPORT_WIDTH) -> Group:
    """The report as rich tables `width` columns wide at most (`report.fit`: cells wrap, words never split;
    a table too wide is cut into column chunks)."""
    parts: list[Table | Text] = []
    for view in all_tables(board):
        parts += fitted_tables(view, width)
    parts.append(Text(LEGEND, style="dim"))
    return Group(*parts)


def render_markdown(board: Leaderboard) -> str:
    """GitHub-flavoured Markdown: one section per table, then the legend."""
    out = []
    for view in all_tables(board):
        out.append(f"## {view.title}\n")
        out.append(_md_table(view))
        out.append("")
    out.append(f"_{_md_escape(LEGEND)}_\n")
    return "\n".join(out)


def render_csv(board: Leaderboard) -> str:
    """Long-format CSV with raw numbers: `kind=task` rows (score = task score) then `kind=group` rows
    (score = macro, score_micro = micro; empty when the group is incomplete)."""
    task_rows = pd.DataFrame(
        {
            "kind": "task",
            "model": board.tasks["model"],
            "name": board.tasks["task"],
            "metric": board.tasks["metric"],
            "aggregation": board.tasks["aggregation"],
            "score": board.tasks["score"],
            "score_micro": None,
            "ci95_low": board.tasks["ci95_low"],
            "ci95_high": board.tasks["ci95_high"],
            "n": board.tasks["n"],
            "n_scored": board.tasks["n_scored"],
            "n_errors": board.tasks["n_errors"],
            "n_empty": board.tasks["n_empty"],
            "n_truncated": board.tasks["n_truncated"],
            "n_missing": board.tasks["n_missing"],
            "n_skipped_lines": board.tasks["n_skipped_lines"],
            "limit": board.tasks["limit"],
            "complete": True,
            "missing_tasks": "",
            **{key: _throughput_column(board, key) for key in THROUGHPUT_CSV_KEYS},
        },
        columns=list(CSV_COLUMNS),
    )
    group_rows = pd.DataFrame(
        {
            "kind": "group",
            "model": board.groups["model"],
            "name": board.groups["group"],
            "metric": "",
            "aggregation": "mean",
            "score": board.groups["macro"],
            "score_micro": board.groups["micro"],
            "n": board.groups["n"],
            "complete": board.groups["complete"],
            "missing_tasks": [
                ";".join((*missing, *limited))
                for missing, limited in zip(board.groups["missing"], board.groups["limited"], strict=True)
            ],
        },
        columns=list(CSV_COLUMNS),
    )
    frames = [frame for frame in (task_rows, group_rows) if not frame.empty]
    table = pd.concat(frames, ignore_index=True) if frames else task_rows
    return str(table.to_csv(index=False))


def _throughput_column(board: Leaderboard, key: str) -> list[object]:
    """One throughput field per task row (None where the run was not timed)."""
    return [value.get(key) if isinstance(value, dict) else None for value in board.tasks["throughput"]]


def render_json(board: Leaderboard) -> str:
    """`Leaderboard.to_dict()` as pretty JSON (round-trips through `Leaderboard.from_dict`)."""
    return json.dumps(board.to_dict(), ensure_ascii=False, indent=2) + "\n"


def _md_table(view: TableView) -> str:
    lines = [
        "| " + " | ".join(_md_escape(h) for h in view.headers) + " |",
        "|" + "|".join("---" for _ in view.headers) + "|",
    ]
    lines += ["| " + " | ".join(_md_escape(cell) for cell in row) + " |" for row in view.rows]
    return "\n".join(lines) + "\n"


def _md_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
