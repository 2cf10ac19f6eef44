"""Format-independent table views of a leaderboard (headers + string cells), shared by md/html/rich.

Numbers follow the one format of `monkeyeval.core.numbers` (percentages with one decimal, counts for sums);
the csv/json outputs keep raw numbers.
"""

from __future__ import annotations

from typing import Any

from monkeyeval.core.numbers import format_score, format_score_ci
from monkeyeval.core.table_fit import TableView
from monkeyeval.report.leaderboard import (
    HEALTH_COLUMNS,
    PREDICT_ONLY_KEYS,
    RUN_INFO_KEYS,
    Leaderboard,
    has_health_issue,
)

HEALTH_MARK = "⚠"
MISSING_CELL = "—"
LEGEND = (
    "Scores: mean metrics (fractions) and CIDEr ×100, OCRBench-style sum metrics as raw counts; "
    "[low, high] is the 95% bootstrap CI; n = samples. "
    f"{HEALTH_MARK} = the run had errors, empty outputs, truncated outputs, missing samples or skipped "
    "dataset lines (see Health); limit=N = a --limit run of the first N samples. "
    "Groups: macro = mean of task scores, micro = mean weighted by n, over the group's mean-metric tasks "
    "only; a model needs a full run of every task of the group's definition, else it shows "
    '"k of n tasks" and no mean.'
)


def task_cell(row: dict[str, Any]) -> str:
    """`score [low, high] n=N` plus the health mark."""
    has_ci = row.get("ci95_low") is not None and row.get("ci95_high") is not None
    ci95 = (float(row["ci95_low"]), float(row["ci95_high"])) if has_ci else None
    text = format_score_ci(float(row["score"]), ci95, str(row["aggregation"]))
    text += f" n={int(row['n'])}"
    if row.get("limit") is not None:
        text += f" limit={int(row['limit'])}"
    if has_health_issue(row):
        text += f" {HEALTH_MARK}"
    return text


GROUP_GAPS = (("missing", "missing"), ("limited", "--limit runs"))


def group_cells(row: dict[str, Any] | None) -> tuple[str, str]:
    """(macro, micro) cell texts for one (model, group)."""
    if row is None:
        return MISSING_CELL, MISSING_CELL
    if not row["complete"]:
        gaps = [f"{label}: {', '.join(row[key])}" for key, label in GROUP_GAPS if row[key]]
        text = f"{len(row['present'])} of {len(row['tasks'])} tasks ({'; '.join(gaps)})"
        return text, MISSING_CELL
    if not row["averaged"]:
        return "no mean-metric tasks", MISSING_CELL
    return format_score(float(row["macro"]), "mean"), format_score(float(row["micro"]), "mean")


def leaderboard_table(board: Leaderboard) -> TableView:
    """Rows = models; columns = each group's macro and micro, then every task (with its metric)."""
    headers = ["model"]
    for group in board.group_names:
        headers += [f"{group} (macro)", f"{group} (micro)"]
    metric_of = _task_metrics(board)
    headers += [f"{task} ({metric_of[task]})" for task in board.task_names]
    payload = board.to_dict()
    task_rows = {(row["model"], row["task"]): row for row in payload["tasks"]}
    group_rows = {(row["model"], row["group"]): row for row in payload["groups"]}
    rows = []
    for model in board.models:
        row = [model]
        for group in board.group_names:
            row += list(group_cells(group_rows.get((model, group))))
        for task in board.task_names:
            found = task_rows.get((model, task))
            row.append(MISSING_CELL if found is None else task_cell(found))
        rows.append(row)
    return TableView("Leaderboard", headers, rows)


def health_table(board: Leaderboard) -> TableView:
    """One row per run: n, scored, errors, empty, truncated, missing, skipped dataset lines."""
    headers = ["model", "task", "n", "n_scored", *HEALTH_COLUMNS]
    rows = []
    for _, series in board.tasks.sort_values(["model", "task"]).iterrows():
        rows.append(
            [str(series["model"]), str(series["task"])]
            + [str(int(series[key])) for key in ("n", "n_scored", *HEALTH_COLUMNS)]
        )
    return TableView("Health", headers, rows, keys=2)


THROUGHPUT_HEADERS = ("device", "samples/s", "tokens/s", "wall", "peak memory")
SPEED_AFTER = RUN_INFO_KEYS.index("world_size") + 1
"""The throughput columns follow the settings that set the speed (batch and world size), before the hashes."""


def runs_table(board: Leaderboard) -> TableView:
    """One row per run: where the number came from (checkpoint, dtype, prompt profile, settings), how fast it
    was predicted (`THROUGHPUT_HEADERS`; "—" for an untimed run), then its hashes and creation time."""
    settings, provenance = RUN_INFO_KEYS[:SPEED_AFTER], RUN_INFO_KEYS[SPEED_AFTER:]
    headers = ["model", "task", *settings, *THROUGHPUT_HEADERS, *provenance]
    rows = []
    for _, series in board.tasks.sort_values(["model", "task"]).iterrows():
        info = series["run_info"] or {}
        rows.append(
            [str(series["model"]), str(series["task"])]
            + [info.get(key, "") for key in settings]
            + throughput_cells(series.get("throughput"))
            + [info.get(key, "") for key in provenance]
        )
    return TableView("Runs", headers, rows, keys=2)


def throughput_cells(throughput: Any) -> list[str]:
    """The `THROUGHPUT_HEADERS` cells of a scores.json throughput object ("—" where unknown)."""
    if not isinstance(throughput, dict):
        return [MISSING_CELL] * len(THROUGHPUT_HEADERS)
    device = throughput.get("device")
    name = " / ".join(device) if isinstance(device, list) else str(device or MISSING_CELL)
    count = throughput.get("device_count")
    device_text = f"{name} ×{count}" if isinstance(count, int) and count > 1 else name
    return [
        device_text,
        format_rate(throughput.get("samples_per_s")),
        format_rate(throughput.get("generated_tokens_per_s")),
        format_duration(throughput.get("wall_s")),
        _peak_memory(throughput),
    ]


def format_rate(value: Any) -> str:
    """A per-second rate: 3 significant digits at most, never an exponent ("—" when unknown)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return MISSING_CELL
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def format_duration(seconds: Any) -> str:
    """`42.1 s`, `3 min 05 s`, `2 h 07 min` ("—" when unknown)."""
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return MISSING_CELL
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def format_bytes(value: Any) -> str:
    """Bytes in binary units (`512 MiB`, `12.3 GiB`; "—" when unknown)."""
    if not isinstance(value, int) or isinstance(value, bool):
        return MISSING_CELL
    amount, unit = float(value), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            break
        amount /= 1024
    return f"{amount:.0f} {unit}" if amount >= 100 or unit == "B" else f"{amount:.1f} {unit}"


def _peak_memory(throughput: dict[str, Any]) -> str:
    """`<device peak> device, <host peak> host` (the parts known), or "—"."""
    parts = [
        f"{format_bytes(throughput.get(key))} {label}"
        for key, label in (("peak_device_memory_bytes", "device"), ("peak_host_rss_bytes", "host"))
        if throughput.get(key) is not None
    ]
    return ", ".join(parts) or MISSING_CELL


def group_table(board: Leaderboard) -> TableView:
    """One row per group: its member tasks (the definition), those excluded from means (non-mean metrics)."""
    headers = ["group", "member tasks", "excluded from means (not mean metrics)"]
    rows = []
    for group in board.group_names:
        first = board.groups[board.groups["group"] == group].iloc[0]
        rows.append(
            [group, ", ".join(first["tasks"]) or MISSING_CELL, ", ".join(first["excluded"]) or "none"]
        )
    return TableView("Groups", headers, rows)


MEMBER_PREFIX = "  ↳ "


def breakdown_tables(board: Leaderboard) -> list[TableView]:
    """One table per task whose runs carry a per-category breakdown: rows = categories (a super-category's
    members indented under it), columns = models; cells `score n=N` on the task's display scale."""
    payload = board.to_dict()
    tables = []
    for task in board.task_names:
        runs = [row for row in payload["tasks"] if row["task"] == task and row.get("breakdown")]
        if not runs:
            continue
        labels: dict[tuple[str, ...], str] = {}
        cells: dict[tuple[str, tuple[str, ...]], str] = {}
        for run in runs:
            for key, label, entry in _flatten_breakdown(run["breakdown"]):
                labels.setdefault(key, label)
                cells[(run["model"], key)] = _category_cell(entry, str(run["aggregation"]))
        models = [run["model"] for run in runs]
        metric = "/".join(sorted({str(run["metric"]) for run in runs}))
        rows = [
            [label] + [cells.get((model, key), MISSING_CELL) for model in models]
            for key, label in labels.items()
        ]
        tables.append(TableView(f"Breakdown: {task} ({metric})", ["category", *models], rows))
    return tables


BreakdownLine = tuple[tuple[str, ...], str, dict[str, Any]]


def _flatten_breakdown(entries: list[dict[str, Any]]) -> list[BreakdownLine]:
    out: list[BreakdownLine] = []
    for entry in entries:
        out.append(((entry["category"],), str(entry["category"]), entry))
        for member in entry.get("members") or []:
            key = (entry["category"], member["category"])
            out.append((key, MEMBER_PREFIX + str(member["category"]), member))
    return out


def _category_cell(entry: dict[str, Any], aggregation: str) -> str:
    score = entry.get("score")
    text = MISSING_CELL if score is None else format_score(float(score), aggregation)
    return f"{text} n={int(entry['n'])}"


def predict_only_table(board: Leaderboard) -> TableView:
    """One row per `run --predict-only` run: generated, not scored (no score to rank)."""
    headers = [*PREDICT_ONLY_KEYS, "folder"]
    rows = [[str(row[key]) for key in (*PREDICT_ONLY_KEYS, "path")] for row in board.predict_only]
    return TableView("Predict-only runs (not scored)", headers, rows, keys=2)


def all_tables(board: Leaderboard) -> list[TableView]:
    """Every table of a report, in display order (empty tables left out)."""
    return [leaderboard_table(board), *detail_tables(board)]


def detail_tables(board: Leaderboard) -> list[TableView]:
    """The tables after the leaderboard (the HTML collapses them): groups, breakdowns, health, runs, ..."""
    tables = []
    if board.group_names:
        tables.append(group_table(board))
    tables += breakdown_tables(board)
    tables.append(health_table(board))
    tables.append(runs_table(board))
    if board.problems:
        tables.append(TableView("Skipped files", ["problem"], [[problem] for problem in board.problems]))
    if board.predict_only:
        tables.append(predict_only_table(board))
    return tables


def _task_metrics(board: Leaderboard) -> dict[str, str]:
    metric_of: dict[str, set[str]] = {}
    for task, metric in zip(board.tasks["task"], board.tasks["metric"], strict=True):
        metric_of.setdefault(task, set()).add(metric)
    return {task: "/".join(sorted(metrics)) for task, metrics in metric_of.items()}
