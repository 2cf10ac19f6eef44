"""`monkeyeval gate`: CI drift gate against a baseline file, or write that baseline."""

from __future__ import annotations

from pathlib import Path

import typer

from monkeyeval.cli.errors import EXIT_USAGE, reported

DEFAULT_TOLERANCE = 0.01

GATE_HELP = """Fail CI when scores drift from an approved baseline, or write that baseline.

Approve: `monkeyeval gate results/ --write-baseline baseline.json [--tolerance X]`
Check: `monkeyeval gate results/ --baseline baseline.json [--mode paired]`
(after `monkeyeval run --task demo --ckpt demo`, both work as written from the same folder)

Rules, per baseline (model, task):
- abs mode: fails when the score drops by more than the tolerance (normalised scale: score, or score/n for
  sum metrics such as OCRBench; 0.01 = one point of a ×100 score). Tolerance: the baseline entry's own value,
  else --tolerance.
- paired mode: paired bootstrap over per-sample scores matched by id; fails when the drop is significant
  (p < --alpha) AND the paired mean drop exceeds the tolerance (use --tolerance 0 for significance alone).
- health: fails when n_errors, n_truncated, n_missing or n_skipped_lines (dataset lines that were not valid
  samples) rises above the baseline's by more than --max-new-errors.
- a run whose predictions.jsonl is not the file its scores.json scored (an interrupted finalise) is a usage
  error that says how to re-finalise it.
- a baseline task missing from the results fails.
- score-relevant fingerprint fields (jsonl_sha256, metric, metric_version, prompt_sha256) must match, else
  exit 2 unless --allow-fingerprint-change.
- speed (only with --max-slowdown F): fails (exit 1) when samples/s fell by more than F (0.2 = 20 %) against
  the throughput the baseline stored; skipped with a one-line reason, never failing, when either side has no
  throughput (a `monkeyeval score` run is untimed) or the device (name, count) or the speed settings
  (family, family options, dtype, batch size, world size, max_new_tokens) differ.
Samples that flip right -> wrong or wrong -> right (right = per-sample score >= 0.5) are listed with both
predictions.

Exit codes: 0 no drift, 1 drift, 2 usage error (missing/bad files or options, fingerprint mismatch).
"""


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("gate", help=GATE_HELP)(reported(gate))


def gate(
    results_dir: Path = typer.Argument(..., help="Results folder (every sub-folder holding a scores.json)."),
    baseline: Path | None = typer.Option(None, "--baseline", "-b", help="Baseline JSON to check against."),
    write_baseline_to: Path | None = typer.Option(
        None, "--write-baseline", help="Write a baseline of RESULTS_DIR to this file instead of checking."
    ),
    tolerance: float | None = typer.Option(
        None,
        "--tolerance",
        "-t",
        help=f"Absolute tolerance (normalised scale). Check: used where the baseline entry has none "
        f"(default {DEFAULT_TOLERANCE}). --write-baseline: stored in every entry (default: none stored).",
    ),
    mode: str = typer.Option("abs", "--mode", "-m", help="abs or paired."),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level of the paired test."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed (paired mode)."),
    resamples: int = typer.Option(10000, "--resamples", help="Bootstrap resamples (paired mode)."),
    allow_fingerprint_change: bool = typer.Option(
        False,
        "--allow-fingerprint-change",
        help="Compare even when score-relevant fingerprint fields differ.",
    ),
    max_new_errors: int = typer.Option(
        0,
        "--max-new-errors",
        help="Allowed rise of n_errors / n_truncated / n_missing / n_skipped_lines over the baseline.",
    ),
    max_slowdown: float | None = typer.Option(
        None,
        "--max-slowdown",
        metavar="FRACTION",
        help="Also gate speed: fail when samples/s fell by more than FRACTION of the baseline's "
        "(0.2 = 20 %). Compared only when the device (name, count) and speed settings (family, family "
        "options, dtype, batch size, world size, max_new_tokens) match the baseline's and both sides were "
        "timed; otherwise the check is skipped with its reason (not a failure). Default: speed is not gated.",
    ),
    markdown: Path | None = typer.Option(
        None, "--markdown", help="Also write a PR-comment Markdown summary."
    ),
    show_flips: int = typer.Option(20, "--show-flips", help="Flipped samples listed per task and direction."),
) -> None:
    from rich.text import Text

    from monkeyeval.core.atomic import atomic_write_text
    from monkeyeval.gate import (
        BaselineError,
        GateOptions,
        baseline_from_tree,
        load_baseline,
        run_gate,
        write_baseline,
    )
    from monkeyeval.gate.compare import MODES
    from monkeyeval.gate.render import HEADLINE, markdown_gate, rich_gate
    from monkeyeval.report.render import make_console
    from monkeyeval.results.schema import ResultsError
    from monkeyeval.results.tree import load_results

    out, err = make_console(), make_console(stderr=True)

    def usage_error(message: str) -> typer.Exit:
        """Print the error (and put it in the --markdown file, so a PR comment step always has one)."""
        err.print(Text.assemble(("error: ", "red"), message))
        if markdown is not None:
            atomic_write_text(markdown, f"## monkeyeval gate: {HEADLINE[2]}\n\n{message}\n")
        return typer.Exit(EXIT_USAGE)

    if (baseline is None) == (write_baseline_to is None):
        raise usage_error("pass exactly one of --baseline FILE (check) or --write-baseline FILE (approve)")
    if mode not in MODES:
        raise usage_error(f"unknown --mode {mode!r}; choose one of {', '.join(MODES)}")
    if tolerance is not None and tolerance < 0:
        raise usage_error("--tolerance must be >= 0")
    if not 0 < alpha < 1:
        raise usage_error("--alpha must be between 0 and 1")
    if max_new_errors < 0 or resamples < 1 or show_flips < 0:
        raise usage_error("--max-new-errors and --show-flips must be >= 0, --resamples >= 1")
    if max_slowdown is not None and not 0 <= max_slowdown < 1:
        raise usage_error("--max-slowdown must be a fraction in [0, 1), e.g. 0.2 for 20 %")
    if max_slowdown is not None and write_baseline_to is not None:
        raise usage_error(
            "--max-slowdown applies to a check (--baseline); --write-baseline stores every run's throughput"
        )
    try:
        tree = load_results(results_dir)
    except ResultsError as exc:
        raise usage_error(str(exc)) from exc
    for problem in tree.problems:
        err.print(Text.assemble(("skipped ", "yellow"), str(problem)))

    if write_baseline_to is not None:
        if not tree.runs:
            raise usage_error(f"no valid scores.json under {results_dir}: nothing to write")
        new_baseline, warnings = baseline_from_tree(tree, tolerance)
        for warning in warnings:
            err.print(Text.assemble(("warning: ", "yellow"), warning))
        write_baseline(write_baseline_to, new_baseline)
        out.print(
            f"wrote baseline of {len(new_baseline.entries)} runs to {write_baseline_to}", highlight=False
        )
        return

    if baseline is None:  # unreachable: checked above; narrows the type
        raise usage_error("--baseline is required")
    try:
        approved = load_baseline(baseline)
    except BaselineError as exc:
        raise usage_error(str(exc)) from exc
    options = GateOptions(
        mode=mode,
        tolerance=DEFAULT_TOLERANCE if tolerance is None else tolerance,
        alpha=alpha,
        seed=seed,
        n_resamples=resamples,
        allow_fingerprint_change=allow_fingerprint_change,
        max_new_errors=max_new_errors,
        max_slowdown=max_slowdown,
    )
    result = run_gate(tree, approved, options)
    out.print(rich_gate(result, max_flips=show_flips))
    if markdown is not None:
        atomic_write_text(markdown, markdown_gate(result, max_flips=show_flips))
        err.print(f"wrote {markdown}", highlight=False)
    raise typer.Exit(result.exit_code)
