"""Gate output: rich tables for the terminal and a Markdown summary for PR comments."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from monkeyeval.core.numbers import format_delta, format_score
from monkeyeval.gate.compare import Flip, GateResult, TaskVerdict

MAX_PREDICTION_CHARS = 200
STATUS_LABEL = {"pass": "PASS", "fail": "DRIFT", "error": "ERROR"}
HEADLINE = {0: "✅ no drift (exit 0)", 1: "❌ drift detected (exit 1)", 2: "⛔ cannot compare (exit 2)"}
SUMMARY_HEADERS = [
    "model",
    "task",
    "metric",
    "baseline",
    "new",
    "Δ",
    "tolerance",
    "p(drop)",
    "flips ↓/↑",
    "status",
]


def summary_rows(result: GateResult) -> list[list[str]]:
    """One row of strings per verdict (columns: SUMMARY_HEADERS)."""
    return [_summary_row(verdict) for verdict in result.verdicts]


def options_line(result: GateResult) -> str:
    """The settings the gate ran with, in one line."""
    opts = result.options
    line = f"mode={opts.mode}, default tolerance={opts.tolerance:g}, max new errors={opts.max_new_errors}"
    if opts.mode == "paired":
        line += f", alpha={opts.alpha:g}, resamples={opts.n_resamples}, seed={opts.seed}"
    if opts.allow_fingerprint_change:
        line += ", fingerprint changes allowed"
    if opts.max_slowdown is not None:
        line += f", max slowdown={opts.max_slowdown:g} (samples/s)"
    return line


def rich_gate(result: GateResult, max_flips: int = 20) -> Group:
    """The gate result as rich renderables."""
    parts: list[Table | Text] = [Text(HEADLINE[result.exit_code], style="bold"), Text(options_line(result))]
    table = Table(title="Gate", header_style="bold")
    for header in SUMMARY_HEADERS:
        table.add_column(Text(header), overflow="fold")
    styles = {"pass": "green", "fail": "red", "error": "magenta"}
    for verdict, row in zip(result.verdicts, summary_rows(result), strict=True):
        table.add_row(*(Text(cell) for cell in row[:-1]), Text(row[-1], style=styles[verdict.outcome]))
    parts.append(table)
    for verdict in result.verdicts:
        for line in _reason_lines(verdict):
            parts.append(Text(f"{verdict.model}/{verdict.task}: {line}"))
        for title, flips in _flip_sets(verdict):
            flip_table = Table(
                title=Text(f"{verdict.model}/{verdict.task}: {title} ({len(flips)})"), header_style="bold"
            )
            for header in ("id", "baseline score", "new score", "baseline prediction", "new prediction"):
                flip_table.add_column(Text(header), overflow="fold")
            for flip in flips[:max_flips]:
                flip_table.add_row(*(Text(cell) for cell in _flip_cells(flip)))
            parts.append(flip_table)
            if len(flips) > max_flips:
                parts.append(Text(f"... and {len(flips) - max_flips} more"))
    parts += _extra_lines(result)
    return Group(*parts)


def markdown_gate(result: GateResult, max_flips: int = 20) -> str:
    """A concise PR comment: headline, then the drifted and failing tasks (errors first) with their
    reasons and flipped samples, then every passing task in one line, then skipped files."""
    out = [f"## monkeyeval gate: {HEADLINE[result.exit_code]}", "", f"`{options_line(result)}`", ""]
    order = {"error": 0, "fail": 1}
    failing = sorted(
        (verdict for verdict in result.verdicts if verdict.outcome in order),
        key=lambda verdict: (order[verdict.outcome], verdict.model, verdict.task),
    )
    passing = [verdict for verdict in result.verdicts if verdict.outcome not in order]
    if failing:
        out.append(_md_row(SUMMARY_HEADERS))
        out.append("|" + "|".join("---" for _ in SUMMARY_HEADERS) + "|")
        out += [_md_row(_summary_row(verdict)) for verdict in failing]
        out.append("")
    for verdict in failing:
        out += [f"### {_md(verdict.model)}/{_md(verdict.task)}: {STATUS_LABEL[verdict.outcome]}", ""]
        out += [f"- {_md(line)}" for line in _reason_lines(verdict)]
        out.append("")
        for title, flips in _flip_sets(verdict):
            out += [f"{title} ({len(flips)}):", ""]
            out.append(
                _md_row(["id", "baseline score", "new score", "baseline prediction", "new prediction"])
            )
            out.append("|---|---|---|---|---|")
            out += [_md_row(_flip_cells(flip)) for flip in flips[:max_flips]]
            if len(flips) > max_flips:
                out.append(f"\n… and {len(flips) - max_flips} more")
            out.append("")
    if passing:
        cells = [f"{_md(v.model)}/{_md(v.task)} {format_score(v.new_score, v.aggregation)}" for v in passing]
        out += [f"**Passing ({len(passing)})**: " + ", ".join(cells), ""]
        speeds = [v for v in passing if v.speed is not None]
        if speeds:
            out += ["### Speed", ""]
            out += [f"- {_md(v.model)}/{_md(v.task)}: {_md(v.speed.describe())}" for v in speeds if v.speed]
            out.append("")
    extra = [line.plain for line in _extra_lines(result)]
    if extra:
        out += ["### Other", ""] + [f"- {_md(line)}" for line in extra] + [""]
    return "\n".join(out)


def _summary_row(verdict: TaskVerdict) -> list[str]:
    agg = verdict.aggregation
    base = format_score(verdict.base_score, agg)
    new = "missing" if verdict.new_score is None else format_score(verdict.new_score, agg)
    delta = "—" if verdict.new_score is None else format_delta(verdict.new_score - verdict.base_score, agg)
    tolerance = f"±{_display_norm(verdict.tolerance, agg, verdict.n)}"
    p_value = "—" if verdict.paired is None else f"{verdict.paired.p_value_drop:.3g}"
    flips = f"{len(verdict.right_to_wrong)}/{len(verdict.wrong_to_right)}" if verdict.flips_checked else "—"
    return [verdict.model, verdict.task, verdict.metric, base, new, delta, tolerance, p_value, flips,
            STATUS_LABEL[verdict.outcome]]  # fmt: skip


def _display_norm(value: float, aggregation: str, n: int) -> str:
    """A normalised-scale amount (tolerance) on the display scale: points ×100, or a count for sum metrics."""
    if aggregation == "sum":
        return f"{value * n:.3g}"
    return f"{value * 100:.1f}"


def _reason_lines(verdict: TaskVerdict) -> list[str]:
    lines = [f"ERROR {text}" for text in verdict.usage_errors]
    for key, (before, after) in sorted(verdict.fingerprint_diffs.items()):
        lines.append(f"fingerprint {key}: baseline {before!r} -> new {after!r}")
    lines += [f"DRIFT {text}" for text in verdict.failures]
    lines += [f"note: {text}" for text in verdict.notes]
    if verdict.paired is not None:
        low, high = verdict.paired.ci95
        lines.append(
            f"paired: Δ={verdict.paired.delta:+.4g} (95% CI {low:+.4g}..{high:+.4g}) "
            f"over {verdict.n_matched} samples"
        )
    if verdict.n_changed_predictions:
        lines.append(f"{verdict.n_changed_predictions} predictions changed text")
    return lines


def _flip_sets(verdict: TaskVerdict) -> list[tuple[str, list[Flip]]]:
    sets = [("right → wrong", verdict.right_to_wrong), ("wrong → right", verdict.wrong_to_right)]
    return [(title, flips) for title, flips in sets if flips]


def _flip_cells(flip: Flip) -> list[str]:
    return [
        flip.sample_id,
        f"{flip.base_score:.3g}",
        f"{flip.new_score:.3g}",
        _clip(flip.base_prediction),
        _clip(flip.new_prediction),
    ]


def _extra_lines(result: GateResult) -> list[Text]:
    lines = [Text(f"skipped damaged file: {problem}", style="yellow") for problem in result.problems]
    if result.not_in_baseline:
        lines.append(Text(f"not in baseline (not gated): {', '.join(result.not_in_baseline)}", style="dim"))
    return lines


def _clip(text: str) -> str:
    text = text.replace("\n", "⏎")
    return text if len(text) <= MAX_PREDICTION_CHARS else text[: MAX_PREDICTION_CHARS - 1] + "…"


def _md(text: str) -> str:
    """Escape for a Markdown cell; `<`, `>` and `&` become entities so predictions cannot inject HTML."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(_md(cell) for cell in cells) + " |"
