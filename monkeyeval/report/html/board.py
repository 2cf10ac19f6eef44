"""The leaderboard as a view model for the HTML page: columns (groups first, then tasks), cells with raw sort
keys, display texts, CI whiskers, best marks, health and limit marks, and published reference rows.

Best marks: in each column, the highest score at display precision among comparable cells (task runs
without `--limit` and without missing samples, all on one metric version; complete groups with a mean);
every cell showing that value is marked. Reference rows are never marked and never counted.
Deltas: a run whose checkpoint has a published number for its task (`published.reference_for`) shows
`Δ <run - published>` on the display scale; `--limit` runs get none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from monkeyeval.core.numbers import MISSING, display_scale, format_delta, format_interval, format_score
from monkeyeval.report.html.charts import axis_maximum
from monkeyeval.report.leaderboard import HEALTH_COLUMNS, Leaderboard, has_health_issue
from monkeyeval.report.published import PublishedScore, published_scores, reference_for
from monkeyeval.report.tables import GROUP_GAPS, task_cell

HEALTH_LABELS = {
    "n_errors": "errors",
    "n_empty": "empty outputs",
    "n_truncated": "truncated outputs",
    "n_missing": "missing samples",
    "n_skipped_lines": "skipped dataset lines",
}


@dataclass(frozen=True)
class Column:
    """One sortable column: a group (macro, micro beneath) or a task (score on its metric's scale)."""

    kind: Literal["group", "task"]
    name: str
    detail: str
    aggregation: str
    maximum: float
    title: str


@dataclass(frozen=True)
class Cell:
    """One cell; `sort` is the raw score (None sorts last), `text` the main display text."""

    text: str = MISSING
    sort: float | None = None
    point: float | None = None
    interval: tuple[float, float] | None = None
    sub: str = ""
    title: str = ""
    best: bool = False
    health: str = ""
    limit: int | None = None
    incomplete: bool = False
    delta: str = ""
    delta_title: str = ""
    reference: bool = False
    metric: str = ""


@dataclass(frozen=True)
class Row:
    """A model's row, or a published reference row (`source` lists its sources)."""

    label: str
    cells: tuple[Cell, ...]
    reference: bool = False
    source: str = ""
    notes: tuple[int, ...] = ()


@dataclass(frozen=True)
class BoardTable:
    """Everything the leaderboard table shows; `footnotes` are the reference sources, numbered from 1."""

    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    references: tuple[Row, ...] = ()
    footnotes: tuple[str, ...] = field(default_factory=tuple)


def build_board_table(
    board: Leaderboard,
    published: Sequence[PublishedScore] | None = None,
    lookup: Callable[[str, str], PublishedScore | None] = reference_for,
) -> BoardTable:
    """The view model of `board`; `published` defaults to published.yaml, `lookup` finds a run's reference."""
    payload = board.to_dict()
    task_rows = {(row["model"], row["task"]): row for row in payload["tasks"]}
    group_rows = {(row["model"], row["group"]): row for row in payload["groups"]}
    columns = [_group_column(board, group) for group in board.group_names]
    columns += [_task_column(payload["tasks"], task) for task in board.task_names]
    rows = []
    for model in board.models:
        cells = [group_cell(group_rows.get((model, col.name))) for col in columns if col.kind == "group"]
        for col in columns:
            if col.kind == "task":
                found = task_rows.get((model, col.name))
                cells.append(Cell() if found is None else run_cell(found, col, lookup))
        rows.append(Row(model, tuple(cells)))
    rows = _mark_best(columns, rows)
    references, footnotes = _reference_rows(columns, published_scores() if published is None else published)
    return BoardTable(tuple(columns), tuple(rows), references, footnotes)


def group_cell(row: dict[str, Any] | None) -> Cell:
    """Macro (main text) and micro (beneath); "k of n" with the missing tasks in the tooltip."""
    if row is None:
        return Cell(title="no run of this group's tasks")
    if not row["complete"]:
        gaps = [f"{label}: {', '.join(row[key])}" for key, label in GROUP_GAPS if row[key]]
        text = f"{len(row['present'])} of {len(row['tasks'])}"
        return Cell(text=text, title=f"incomplete group, no mean ({'; '.join(gaps)})", incomplete=True)
    if not row["averaged"]:
        excluded = ", ".join(row["excluded"]) or "none"
        return Cell(text="no mean", title=f"no mean-metric tasks (excluded: {excluded})")
    macro, micro = float(row["macro"]), float(row["micro"])
    return Cell(
        text=format_score(macro, "mean"),
        sort=macro,
        sub=f"micro {format_score(micro, 'mean')}",
        title=f"macro {format_score(macro, 'mean')}, micro {format_score(micro, 'mean')} "
        f"over {', '.join(row['averaged'])} (n={int(row['n'])})",
    )


def run_cell(
    row: dict[str, Any], column: Column, lookup: Callable[[str, str], PublishedScore | None]
) -> Cell:
    """A task run: score, whisker, `[low, high] n=N`, health and limit marks, delta vs published."""
    aggregation = str(row["aggregation"])
    scale = display_scale(aggregation)
    score = float(row["score"])
    interval = None
    if row.get("ci95_low") is not None and row.get("ci95_high") is not None:
        interval = (float(row["ci95_low"]), float(row["ci95_high"]))
    limit = None if row.get("limit") is None else int(row["limit"])
    delta = delta_title = ""
    checkpoint = str((row.get("run_info") or {}).get("checkpoint") or "")
    published = lookup(checkpoint, str(row["task"])) if checkpoint and limit is None else None
    if published is not None:
        change = round(score * scale - published.value, 9) / scale + 0.0  # + 0.0: no "-0.0"
        delta = f"Δ {format_delta(change, aggregation)} vs {published.origin}"
        delta_title = (
            f"{published.model}: {format_score(published.value / scale, aggregation)} ({published.source})"
        )
    return Cell(
        text=format_score(score, aggregation),
        sort=score,
        point=score * scale,
        interval=None if interval is None else (interval[0] * scale, interval[1] * scale),
        sub=f"{format_interval(interval, aggregation)} n={int(row['n'])}".strip(),
        title=task_cell(row),
        health=health_text(row),
        limit=limit,
        delta=delta,
        delta_title=delta_title,
        metric=f"{row['metric']} v{row['metric_version']}",
    )


def health_text(row: dict[str, Any]) -> str:
    """`2 errors, 1 empty outputs` for a run with health issues, else empty."""
    if not has_health_issue(row):
        return ""
    issues = [f"{int(row[key])} {HEALTH_LABELS[key]}" for key in HEALTH_COLUMNS if int(row.get(key) or 0)]
    return "health: " + ", ".join(issues) + f" (of n={int(row['n'])}); see Health"


def _group_column(board: Leaderboard, group: str) -> Column:
    first = board.groups[board.groups["group"] == group].iloc[0]
    title = (
        f"{group}: macro = mean of its mean-metric task scores (micro, beneath = weighted by n); "
        f"tasks: {', '.join(first['tasks'])}"
    )
    return Column("group", group, "macro · micro", "mean", 100.0, title)


def _task_column(rows: list[dict[str, Any]], task: str) -> Column:
    own = [row for row in rows if row["task"] == task]
    metrics = "/".join(sorted({str(row["metric"]) for row in own}))
    aggregations = sorted({str(row["aggregation"]) for row in own})
    aggregation = aggregations[0] if aggregations else "mean"
    scale = display_scale(aggregation)
    highs = [
        float(row["ci95_high"] if row.get("ci95_high") is not None else row["score"]) * scale for row in own
    ]
    maximum = axis_maximum(aggregation, highs)
    return Column(
        "task", task, metrics, aggregation, maximum, f"{task}: {metrics} ({aggregation}), 0-{maximum:g}"
    )


def _mark_best(columns: Sequence[Column], rows: list[Row]) -> list[Row]:
    marked = [list(row.cells) for row in rows]
    for index, column in enumerate(columns):
        eligible = [r for r, row in enumerate(rows) if row.cells[index].sort is not None]
        if column.kind == "task":
            eligible = [r for r in eligible if _comparable_run(rows[r].cells[index])]
        if not eligible or len({rows[r].cells[index].metric for r in eligible}) > 1:
            continue  # nothing measured, or runs on different metric versions: not comparable
        top = max(float(rows[r].cells[index].sort or 0.0) for r in eligible)
        shown = format_score(top, column.aggregation)
        for r in eligible:
            cell = rows[r].cells[index]
            if format_score(float(cell.sort or 0.0), column.aggregation) == shown:
                marked[r][index] = replace(cell, best=True)
    return [replace(row, cells=tuple(cells)) for row, cells in zip(rows, marked, strict=True)]


def _comparable_run(cell: Cell) -> bool:
    return cell.limit is None and "missing samples" not in cell.health


def _reference_rows(
    columns: Sequence[Column], published: Sequence[PublishedScore]
) -> tuple[tuple[Row, ...], tuple[str, ...]]:
    tasks = {column.name: index for index, column in enumerate(columns) if column.kind == "task"}
    footnotes: list[str] = []
    by_model: dict[str, dict[int, PublishedScore]] = {}
    for score in published:
        if score.task in tasks:
            by_model.setdefault(score.model, {})[tasks[score.task]] = score
    rows = []
    for model, found in by_model.items():
        cells = [Cell(reference=True) for _ in columns]
        notes: list[int] = []
        for index, score in found.items():
            if score.source not in footnotes:
                footnotes.append(score.source)
            note = footnotes.index(score.source) + 1
            notes.append(note)
            aggregation = columns[index].aggregation
            raw = score.value / display_scale(aggregation)
            cells[index] = Cell(
                text=format_score(raw, aggregation),
                sort=raw,
                point=score.value,
                title=f"published: {score.model}, {score.source}" + (f"; {score.note}" if score.note else ""),
                reference=True,
            )
        sources = "; ".join(footnotes[n - 1] for n in sorted(set(notes)))
        rows.append(Row(model, tuple(cells), True, sources, tuple(sorted(set(notes)))))
    return tuple(rows), tuple(footnotes)
