"""CI drift gate: compare a results tree with an approved baseline file (see `monkeyeval.gate.baseline` for
the format and `monkeyeval.gate.compare` for the decision rules)."""

from monkeyeval.gate.baseline import (
    Baseline,
    BaselineEntry,
    BaselineError,
    baseline_from_tree,
    load_baseline,
    write_baseline,
)
from monkeyeval.gate.compare import GateOptions, GateResult, TaskVerdict, run_gate

__all__ = [
    "Baseline",
    "BaselineEntry",
    "BaselineError",
    "GateOptions",
    "GateResult",
    "TaskVerdict",
    "baseline_from_tree",
    "load_baseline",
    "run_gate",
    "write_baseline",
]
