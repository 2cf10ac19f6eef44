"""Compare a results tree with a baseline and decide pass / drift / usage error, per (model, task).

Decision rules (the CLI help and `results/baselines/README.md` repeat them):

* **Missing**: a baseline (model, task) with no valid run in the results -> drift (exit 1); a run whose
  predictions.jsonl is not the file its scores.json scored is a usage error (exit 2) that says how to
  re-finalise it.
* **Fingerprint**: the score-relevant fields (jsonl_sha256, metric, metric_version, prompt_sha256) must match
  the baseline; a difference is a usage error (exit 2) unless `allow_fingerprint_change`, then it is a note.
* **abs mode**: drop = baseline - new on the normalised scale (score; score/n for `sum` metrics); fails when
  drop > tolerance. Tolerance = the entry's `tolerance`, else the `--tolerance` option.
* **paired mode**: per-sample scores matched by id; paired bootstrap of mean(new - base). Fails when the drop
  is significant (p_value_drop < alpha) AND the paired mean drop exceeds the tolerance (a practical floor: use
  `--tolerance 0` for a pure significance test). No per-sample data on either side is a usage error (exit 2).
  Corpus metrics (CIDEr) have no per-sample scores: the abs rule applies to them in paired mode too.
* **Health**: fails when n_errors, n_truncated, n_missing or n_skipped_lines (dataset lines that were not
  valid samples) exceeds the baseline's by more than `max_new_errors` (default 0).
* **Speed** (only with `max_slowdown`, `--max-slowdown`): fails when samples/s fell by more than that
  fraction of the baseline's; skipped with a one-line note (never a failure) when either side has no
  throughput or the device or speed settings differ (`monkeyeval.gate.speed`).
* **Flips** (listed, never gating by themselves): a sample is *right* when its primary per-sample score is
  >= 0.5 (ANLS: passed its 0.5 threshold; VQA soft accuracy: at least 2 of 10 annotators match, i.e. 0.6;
  0/1 metrics: 1). Not defined for corpus metrics (CIDEr).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monkeyeval.gate.baseline import Baseline, BaselineEntry
from monkeyeval.gate.speed import SpeedCheck, check_speed
from monkeyeval.metrics.stats import PairedResult, paired_bootstrap
from monkeyeval.results.schema import ResultsError, RunResult
from monkeyeval.results.tree import ResultsTree, SampleScores, load_sample_scores

MODES = ("abs", "paired")
GATED_HEALTH_KEYS = ("n_errors", "n_truncated", "n_missing", "n_skipped_lines")
RIGHT_THRESHOLD = 0.5
FLOAT_SLACK = 1e-12


@dataclass(frozen=True)
class GateOptions:
    """Knobs of one gate run (CLI flags)."""

    mode: str = "abs"
    tolerance: float = 0.01
    alpha: float = 0.05
    seed: int = 0
    n_resamples: int = 10000
    allow_fingerprint_change: bool = False
    max_new_errors: int = 0
    max_slowdown: float | None = None  # None: no speed check


@dataclass(frozen=True)
class Flip:
    """A sample whose right/wrong status changed between the baseline and the new run."""

    sample_id: str
    base_score: float
    new_score: float
    base_prediction: str
    new_prediction: str


@dataclass
class TaskVerdict:
    """The gate's finding for one baseline (model, task)."""

    model: str
    task: str
    metric: str
    aggregation: str
    n: int
    tolerance: float
    base_score: float
    new_score: float | None = None
    drop: float | None = None
    paired: PairedResult | None = None
    n_matched: int = 0
    fingerprint_diffs: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    usage_errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    right_to_wrong: list[Flip] = field(default_factory=list)
    wrong_to_right: list[Flip] = field(default_factory=list)
    n_changed_predictions: int | None = None
    flips_checked: bool = False
    speed: SpeedCheck | None = None

    @property
    def outcome(self) -> str:
        """`error` (exit 2), `fail` (exit 1) or `pass`."""
        if self.usage_errors:
            return "error"
        return "fail" if self.failures else "pass"


@dataclass
class GateResult:
    """Every verdict plus what the results hold beyond the baseline."""

    options: GateOptions
    verdicts: list[TaskVerdict]
    not_in_baseline: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """2 when any usage error, else 1 when any drift, else 0."""
        outcomes = {verdict.outcome for verdict in self.verdicts}
        if "error" in outcomes:
            return 2
        return 1 if "fail" in outcomes else 0


def normalised(score: float, aggregation: str, n: int) -> float:
    """Score on the scale tolerances use: `score / n` for `sum` metrics, the score itself otherwise."""
    if aggregation == "sum":
        return score / n if n else 0.0
    return score


def run_gate(tree: ResultsTree, baseline: Baseline, options: GateOptions) -> GateResult:
    """Check every baseline entry against `tree`."""
    if options.mode not in MODES:
        raise ValueError(f"unknown gate mode {options.mode!r}; choose one of {', '.join(MODES)}")
    unscored = {(run.model, run.task) for run in tree.predict_only}
    verdicts = [
        check_entry(
            entry,
            tree.get(entry.model, entry.task),
            options,
            inconsistent=tree.inconsistent.get((entry.model, entry.task)),
            predict_only=(entry.model, entry.task) in unscored,
        )
        for entry in baseline.entries
    ]
    known = {(entry.model, entry.task) for entry in baseline.entries}
    extra = [f"{run.model}/{run.task}" for run in tree.runs if (run.model, run.task) not in known]
    return GateResult(options, verdicts, extra, [str(problem) for problem in tree.problems])


def check_entry(
    entry: BaselineEntry,
    run: RunResult | None,
    options: GateOptions,
    inconsistent: str | None = None,
    predict_only: bool = False,
) -> TaskVerdict:
    """The verdict for one baseline entry (`run` is the matching new run, or None; `inconsistent` says why
    the newest run's predictions.jsonl and scores.json disagree, a usage error; `predict_only`: the results
    hold only an unscored `run --predict-only` run of it)."""
    tolerance = entry.tolerance if entry.tolerance is not None else options.tolerance
    verdict = TaskVerdict(
        model=entry.model,
        task=entry.task,
        metric=entry.metric,
        aggregation=entry.aggregation,
        n=entry.n,
        tolerance=tolerance,
        base_score=entry.score,
    )
    if inconsistent is not None:
        verdict.usage_errors.append(inconsistent)
        return verdict
    if run is None and predict_only:
        verdict.failures.append(
            "missing: only a --predict-only run (predictions, no scores) for this model and task; run it "
            "without --predict-only on a split with answers to gate it"
        )
        return verdict
    if run is None:
        verdict.failures.append("missing: no valid scores.json for this model and task in the results")
        return verdict
    verdict.new_score = run.score
    _check_fingerprint(entry, run, options, verdict)
    verdict.drop = normalised(entry.score, entry.aggregation, entry.n) - normalised(
        run.score, run.aggregation, run.n
    )
    new_samples = _read_samples(run, verdict)
    if new_samples is not None:
        _list_flips(entry, new_samples, verdict)
    if options.mode == "paired" and entry.aggregation == "corpus":
        verdict.notes.append("corpus metric: no per-sample scores to pair, the abs rule was applied")
    if options.mode == "abs" or entry.aggregation == "corpus":
        if verdict.drop > tolerance + FLOAT_SLACK:
            verdict.failures.append(f"score dropped by {verdict.drop:.4g} > tolerance {tolerance:.4g}")
    else:
        _check_paired(entry, new_samples, options, tolerance, verdict)
    _check_health(entry, run, options, verdict)
    if options.max_slowdown is not None:
        verdict.speed = check_speed(entry.throughput, run, options.max_slowdown)
        (verdict.failures if verdict.speed.failed else verdict.notes).append(verdict.speed.describe())
    return verdict


def _check_fingerprint(
    entry: BaselineEntry, run: RunResult, options: GateOptions, verdict: TaskVerdict
) -> None:
    new_fp = run.score_relevant_fingerprint()
    diffs = {key: (entry.fingerprint.get(key), new_fp.get(key)) for key in entry.fingerprint}
    verdict.fingerprint_diffs = {key: pair for key, pair in diffs.items() if pair[0] != pair[1]}
    if not verdict.fingerprint_diffs:
        return
    fields = ", ".join(sorted(verdict.fingerprint_diffs))
    if options.allow_fingerprint_change:
        verdict.notes.append(f"fingerprint differs ({fields}); compared anyway (--allow-fingerprint-change)")
    else:
        verdict.usage_errors.append(
            f"score-relevant fingerprint differs ({fields}): the scores are not comparable. If the change is "
            "intended, pass --allow-fingerprint-change to compare anyway, or refresh the baseline with "
            "`monkeyeval gate RESULTS --write-baseline FILE`"
        )


def _read_samples(run: RunResult, verdict: TaskVerdict) -> SampleScores | None:
    try:
        samples = load_sample_scores(run.predictions_path)
    except ResultsError as err:
        verdict.notes.append(f"no per-sample data: {err}")
        return None
    if samples.unscored_ids and run.aggregation != "corpus":
        verdict.notes.append(f"{len(samples.unscored_ids)} unscored samples ignored for paired/flips")
    return samples


def _check_paired(
    entry: BaselineEntry,
    new_samples: SampleScores | None,
    options: GateOptions,
    tolerance: float,
    verdict: TaskVerdict,
) -> None:
    if entry.sample_scores is None or new_samples is None:
        side = "baseline entry" if entry.sample_scores is None else "new run's predictions.jsonl"
        verdict.usage_errors.append(f"paired mode needs per-sample scores, but the {side} has none")
        return
    matched = [sample_id for sample_id in entry.sample_scores if sample_id in new_samples.scores]
    verdict.n_matched = len(matched)
    if not matched:
        verdict.usage_errors.append("paired mode: no sample id is shared by the baseline and the new run")
        return
    unmatched = len(entry.sample_scores) - len(matched)
    if unmatched:
        verdict.notes.append(f"{unmatched} baseline samples have no scored counterpart in the new run")
    base = [entry.sample_scores[sample_id] for sample_id in matched]
    new = [new_samples.scores[sample_id] for sample_id in matched]
    result = paired_bootstrap(base, new, n_resamples=options.n_resamples, seed=options.seed)
    verdict.paired = result
    paired_drop = -result.delta
    if result.p_value_drop < options.alpha and paired_drop > tolerance + FLOAT_SLACK:
        verdict.failures.append(
            f"significant drop: paired mean drop {paired_drop:.4g} > tolerance {tolerance:.4g}, "
            f"p={result.p_value_drop:.4g} < alpha {options.alpha:g}"
        )


def _check_health(entry: BaselineEntry, run: RunResult, options: GateOptions, verdict: TaskVerdict) -> None:
    for key in GATED_HEALTH_KEYS:
        before, after = getattr(entry, key), getattr(run, key)
        if after > before + options.max_new_errors:
            verdict.failures.append(
                f"health: {key} rose {before} -> {after} "
                f"(allowed +{options.max_new_errors}, --max-new-errors)"
            )


def _list_flips(entry: BaselineEntry, new_samples: SampleScores, verdict: TaskVerdict) -> None:
    if entry.predictions is not None:
        verdict.n_changed_predictions = sum(
            1
            for sample_id, text in entry.predictions.items()
            if sample_id in new_samples.predictions and new_samples.predictions[sample_id] != text
        )
    if entry.aggregation == "corpus":
        verdict.notes.append("flips are not defined for corpus metrics")
        return
    if entry.sample_scores is None:
        return
    verdict.flips_checked = True
    base_predictions = entry.predictions or {}
    for sample_id, before in entry.sample_scores.items():
        after = new_samples.scores.get(sample_id)
        if after is None:
            continue
        was_right, is_right = before >= RIGHT_THRESHOLD, after >= RIGHT_THRESHOLD
        if was_right == is_right:
            continue
        flip = Flip(
            sample_id=sample_id,
            base_score=before,
            new_score=after,
            base_prediction=base_predictions.get(sample_id, "(not stored in baseline)"),
            new_prediction=new_samples.predictions[sample_id],
        )
        (verdict.right_to_wrong if was_right else verdict.wrong_to_right).append(flip)
