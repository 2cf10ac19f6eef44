"""Chart data from a leaderboard, and `render_plot`: one chart alone (SVG, or PNG through matplotlib).

Charts use full runs only: a `--limit` run's score is left out (drawn as missing), as it is not comparable.
A radar chart is drawn for a group with at least `MIN_RADAR_AXES` member tasks that have a full-run score.
"""

from __future__ import annotations

import importlib
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from monkeyeval.core.errors import UserError
from monkeyeval.core.numbers import display_scale
from monkeyeval.report.html.charts import (
    PALETTE,
    REFERENCE_COLOUR,
    axis_maximum,
    bars_svg,
    radar_svg,
    series_style,
    svg_document,
)
from monkeyeval.report.leaderboard import Leaderboard
from monkeyeval.report.published import PublishedScore, published_scores

MIN_RADAR_AXES = 3
PLOTS_EXTRA_HINT = "pip install 'monkeyeval[plots]'"


@dataclass(frozen=True)
class ChartData:
    """Axes (tasks), one (model, display-scale values) series per model, per-axis maxima and intervals."""

    title: str
    axes: tuple[str, ...]
    series: tuple[tuple[str, tuple[float | None, ...]], ...]
    maxima: tuple[float, ...]
    intervals: tuple[tuple[tuple[float, float] | None, ...], ...]
    references: tuple[tuple[str, tuple[float, ...]], ...] = ()  # published rows covering every axis


def chart_data(
    board: Leaderboard,
    tasks: Sequence[str],
    title: str,
    published: Sequence[PublishedScore] | None = None,
) -> ChartData:
    """Full-run scores of every model on `tasks` (display scale); tasks without any full run are dropped.

    `references`: each published model (published.yaml by default) with a number for every axis.
    """
    full = board.tasks[board.tasks["limit"].isna()]
    rows = {(str(r["model"]), str(r["task"])): r for _, r in full.iterrows()}
    axes = tuple(task for task in tasks if any(key[1] == task for key in rows))
    series, intervals = [], []
    for model in board.models:
        values: list[float | None] = []
        cis: list[tuple[float, float] | None] = []
        for task in axes:
            row = rows.get((model, task))
            if row is None:
                values.append(None)
                cis.append(None)
                continue
            scale = display_scale(str(row["aggregation"]))
            values.append(float(row["score"]) * scale)
            low, high = row["ci95_low"], row["ci95_high"]
            has_ci = _number(low) and _number(high)
            cis.append((float(low) * scale, float(high) * scale) if has_ci else None)
        if any(value is not None for value in values):
            series.append((model, tuple(values)))
            intervals.append(tuple(cis))
    references = _references(axes, published_scores() if published is None else published)
    maxima = []
    for index, task in enumerate(axes):
        aggregation = str(full.loc[full["task"] == task, "aggregation"].iloc[0])
        tops = [s[1][index] for s in series] + [values[index] for _, values in references]
        tops += [pair[1] for ci in intervals if (pair := ci[index]) is not None]
        maxima.append(axis_maximum(aggregation, tops))
    return ChartData(title, axes, tuple(series), tuple(maxima), tuple(intervals), references)


def _references(
    axes: Sequence[str], published: Sequence[PublishedScore]
) -> tuple[tuple[str, tuple[float, ...]], ...]:
    """(published model, its value per axis) for the models that published a number for every axis."""
    values: dict[str, dict[str, float]] = {}
    for score in published:
        values.setdefault(score.model, {})[score.task] = score.value
    return tuple(
        (model, tuple(by_task[task] for task in axes))
        for model, by_task in values.items()
        if axes and all(task in by_task for task in axes)
    )


def group_tasks(board: Leaderboard, group: str) -> tuple[str, ...]:
    """The member tasks of `group` (its definition), or UserError naming the groups there are."""
    hit = board.groups[board.groups["group"] == group]
    if hit.empty:
        known = ", ".join(board.group_names) or "none"
        raise UserError(f"unknown group {group!r} for the plot; groups in these results: {known}")
    return tuple(hit.iloc[0]["tasks"])


def radar_groups(board: Leaderboard) -> list[ChartData]:
    """Radar data of every group with at least 3 tasks that have full-run scores, in group order."""
    charts = [chart_data(board, group_tasks(board, group), group) for group in board.group_names]
    return [chart for chart in charts if len(chart.axes) >= MIN_RADAR_AXES]


def render_plot(
    board: Leaderboard,
    plot: Literal["radar", "bars"],
    fmt: Literal["svg", "png"],
    group: str | None = None,
) -> bytes:
    """One chart as a file's bytes: a radar of `group` (default: the first group that has one) or grouped
    bars of `group`'s tasks (default: every task). UserError when there is nothing to plot."""
    if plot == "radar":
        data = _radar_choice(board, group)
    elif plot == "bars":
        tasks = group_tasks(board, group) if group else tuple(board.task_names)
        data = chart_data(board, tasks, group or "all tasks")
        if not data.series:
            raise UserError(
                "nothing to plot: no full-run (without --limit) score on the chosen tasks; run the tasks "
                "without --limit or pick another group with --group G"
            )
    else:
        raise UserError(f"unknown plot {plot!r}; choose radar or bars")
    if fmt == "svg":
        return svg_document(_svg(plot, data)).encode("utf-8")
    if fmt == "png":
        return _png(plot, data)
    raise UserError(f"unknown plot format {fmt!r}; choose svg or png")


def _radar_choice(board: Leaderboard, group: str | None) -> ChartData:
    if group is not None:
        data = chart_data(board, group_tasks(board, group), group)
        if len(data.axes) >= MIN_RADAR_AXES:
            return data
        eligible = [chart.title for chart in radar_groups(board)]
        raise UserError(
            f"nothing to plot: group {group!r} has {len(data.axes)} task(s) with full-run scores and a radar "
            f"chart needs {MIN_RADAR_AXES}; pass --group G with one of: {', '.join(eligible) or 'none'}, "
            "or use --plot bars"
        )
    charts = radar_groups(board)
    if not charts:
        raise UserError(
            f"nothing to plot: no group has {MIN_RADAR_AXES} or more tasks with full-run (without --limit) "
            "scores; run more of a group's tasks, pass --group G to choose a group, or use --plot bars"
        )
    return charts[0]


def _svg(plot: str, data: ChartData) -> str:
    if plot == "radar":
        return radar_svg(
            data.axes, data.series, maximum=data.maxima, title=data.title, references=data.references
        )
    return bars_svg(data.axes, data.series, maximum=data.maxima, title=data.title, intervals=data.intervals)


def _png(plot: str, data: ChartData) -> bytes:
    try:
        figure_mod: Any = importlib.import_module("matplotlib.figure")
        agg: Any = importlib.import_module("matplotlib.backends.backend_agg")
    except ImportError as exc:
        raise UserError(
            f"PNG plots need matplotlib, which is not installed ({exc}); {PLOTS_EXTRA_HINT}, "
            "or write the chart as SVG (--format svg)"
        ) from None
    polar = plot == "radar"
    figure = figure_mod.Figure(figsize=(7, 6) if polar else (max(6, 1.2 * len(data.axes) + 3), 5), dpi=150)
    agg.FigureCanvasAgg(figure)
    axes = figure.add_subplot(111, polar=polar)
    uniform = len(set(data.maxima)) == 1
    labels = [t if uniform else f"{t} (/{m:g})" for t, m in zip(data.axes, data.maxima, strict=True)]
    if polar:
        _png_radar(axes, data, labels)
    else:
        _png_bars(axes, data, labels, uniform)
    axes.set_title(data.title)
    axes.legend(loc="upper right", bbox_to_anchor=(1.3, 1.1) if polar else None, fontsize=8)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png", bbox_inches="tight", metadata={"Software": "monkeyeval via matplotlib"})
    return out.getvalue()


def _png_radar(axes: Any, data: ChartData, labels: list[str]) -> None:
    count = len(data.axes)
    angles = [2 * math.pi * i / count for i in range(count)]
    axes.set_theta_zero_location("N")  # the first axis straight up, then clockwise (as the SVG)
    axes.set_theta_direction(-1)
    for index, (name, values) in enumerate(data.series):
        colour, dash = series_style(index)
        radii = [
            0.0 if v is None else min(max(v / m, 0.0), 1.0) for v, m in zip(values, data.maxima, strict=True)
        ]
        axes.plot(
            [*angles, angles[0]],
            [*radii, radii[0]],
            color=colour,
            label=name,
            linestyle=(0, tuple(float(d) for d in dash.split())) if dash else "-",
        )
        axes.fill([*angles, angles[0]], [*radii, radii[0]], color=colour, alpha=0.12)
    for name, values in data.references:
        radii = [min(max(v / m, 0.0), 1.0) for v, m in zip(values, data.maxima, strict=True)]
        axes.plot(
            [*angles, angles[0]], [*radii, radii[0]], color=REFERENCE_COLOUR, linestyle="--", label=name
        )
    axes.set_xticks(angles)
    axes.set_xticklabels(labels, fontsize=8)
    axes.set_ylim(0, 1)
    axes.set_yticks([0.25, 0.5, 0.75, 1.0])
    axes.set_yticklabels(
        [
            f"{data.maxima[0] * f:g}" if len(set(data.maxima)) == 1 else f"{f:.0%}"
            for f in (0.25, 0.5, 0.75, 1.0)
        ],
        fontsize=7,
    )


def _png_bars(axes: Any, data: ChartData, labels: list[str], uniform: bool) -> None:
    width = 0.8 / max(len(data.series), 1)
    for index, ((name, values), cis) in enumerate(zip(data.series, data.intervals, strict=True)):
        colour = PALETTE[index % len(PALETTE)]
        xs: list[float] = []
        heights: list[float] = []
        errors: list[list[float]] = [[], []]
        for c, (value, ci) in enumerate(zip(values, cis, strict=True)):
            if value is None:
                continue
            top = data.maxima[c]
            xs.append(c - 0.4 + width * (index + 0.5))
            heights.append(value / top * (top if uniform else 100))
            low, high = ci if ci else (value, value)
            errors[0].append(max(value - low, 0.0) / top * (top if uniform else 100))
            errors[1].append(max(high - value, 0.0) / top * (top if uniform else 100))
        axes.bar(xs, heights, width * 0.9, color=colour, label=name, yerr=errors, capsize=2)
    axes.set_xticks(range(len(data.axes)))
    axes.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    axes.set_ylim(0, data.maxima[0] if uniform else 100)
    axes.set_ylabel("score" if uniform else "% of the task's maximum")


def _number(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))
