"""One number format for every command (run summary, score, report, gate, HTML).

* `mean` metrics (fractions in [0, 1]) and `corpus` metrics (CIDEr) print as percentages with one decimal,
  as the papers print them: 0.66667 -> `66.7`.
* `sum` metrics (OCRBench's 0-1000 count) print as the count: `514` (one decimal only when not whole).
* A 95 % interval follows its score in brackets: `66.7 [53.3, 78.3]`.
* A change prints with its sign on the same scale: `+1.2`, `-3`.
* Files (scores.json, csv, json) keep the raw numbers; only what people read is formatted.
"""

from __future__ import annotations

from collections.abc import Sequence

MISSING = "—"


def format_score(value: float | None, aggregation: str) -> str:
    """A score on its display scale (see the module docstring); `—` for None."""
    return MISSING if value is None else _on_display_scale(value, aggregation, sign="")


def format_interval(ci95: Sequence[float] | None, aggregation: str) -> str:
    """`[low, high]` on the display scale, or an empty string without an interval."""
    if not ci95:
        return ""
    return f"[{format_score(ci95[0], aggregation)}, {format_score(ci95[1], aggregation)}]"


def format_score_ci(value: float | None, ci95: Sequence[float] | None, aggregation: str) -> str:
    """`66.7 [53.3, 78.3]`: the score, then its interval when it has one."""
    interval = format_interval(ci95, aggregation) if value is not None else ""
    return f"{format_score(value, aggregation)} {interval}".rstrip()


def format_delta(delta: float | None, aggregation: str) -> str:
    """A signed change on the display scale: `+1.2` points, or `+3` for counts."""
    return MISSING if delta is None else _on_display_scale(delta, aggregation, sign="+")


def display_scale(aggregation: str) -> float:
    """The factor from a raw score to its display scale (100 for fractions and CIDEr, 1 for counts)."""
    return 1.0 if aggregation == "sum" else 100.0


def _on_display_scale(value: float, aggregation: str, sign: str) -> str:
    """One decimal on the display scale; a whole count without one (`sign`: "" or "+")."""
    if aggregation == "sum" and float(value).is_integer():
        return f"{value:{sign}.0f}"
    return f"{value * display_scale(aggregation):{sign}.1f}"
