"""Load a results tree: every finished run (scores.json + predictions.jsonl) under a folder.

A run is any folder, at any depth, that holds a `scores.json` (read by `reader.read_scores_file`). The model
and task names come from the file's content, never from the path. Loading is tolerant: a damaged or invalid
`scores.json` becomes a `LoadProblem` (path + reason) and is skipped; it never aborts the whole load; so does
a run whose predictions.jsonl is not the file its scores.json scored (`results.pair`), which is also listed in
`ResultsTree.inconsistent`. When two files claim the same (model, task), the one with the newest `created`
stamp wins and the other is reported.

Per-sample scores (for the gate's paired test and flip listing) are read from the run's `predictions.jsonl`
on demand with `load_sample_scores`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from monkeyeval.core import jsontext
from monkeyeval.core.gcpause import collection_paused
from monkeyeval.results.layout import SCORES_FILE
from monkeyeval.results.pair import pair_problem
from monkeyeval.results.predict_only import PREDICT_ONLY_FILE, PredictOnlyRun, read_predict_only_file
from monkeyeval.results.reader import read_scores_file
from monkeyeval.results.schema import ResultsError, RunResult


@dataclass(frozen=True)
class LoadProblem:
    """A file that was skipped, and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class ResultsTree:
    """Every valid run found under a root, plus the files that were skipped."""

    root: Path
    runs: list[RunResult] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)
    inconsistent: dict[tuple[str, str], str] = field(default_factory=dict)  # (model, task) -> why
    predict_only: list[PredictOnlyRun] = field(default_factory=list)  # `run --predict-only`: no scores

    def get(self, model: str, task: str) -> RunResult | None:
        """The run for (model, task), or None."""
        for run in self.runs:
            if run.model == model and run.task == task:
                return run
        return None

    def __iter__(self) -> Iterator[RunResult]:
        return iter(self.runs)

    def __len__(self) -> int:
        return len(self.runs)


@dataclass(frozen=True)
class SampleScores:
    """Per-sample primary scores and predictions of one run, keyed by sample id (string)."""

    scores: dict[str, float]
    predictions: dict[str, str]
    unscored_ids: tuple[str, ...] = ()


def discover_scores_files(root: Path, name: str = SCORES_FILE) -> list[Path]:
    """Every `scores.json` (or other `name`) under `root` (any depth), sorted; hidden folders are skipped."""
    root = Path(root)
    if not root.is_dir():
        raise ResultsError(f"{root}: results folder not found (pass the folder that holds <model>/<task>/)")
    found = []
    for path in root.rglob(name):
        relative = path.relative_to(root).parts
        if any(part.startswith(".") for part in relative[:-1]):
            continue
        if path.is_file():
            found.append(path)
    return sorted(found)


def load_results(root: Path) -> ResultsTree:
    """Load every run under `root`; invalid files land in `problems` instead of raising."""
    root = Path(root)
    tree = ResultsTree(root=root)
    by_key: dict[tuple[str, str], RunResult] = {}
    for path in discover_scores_files(root):
        try:
            run = read_scores_file(path)
        except ResultsError as err:
            tree.problems.append(LoadProblem(path, str(err).removeprefix(f"{path}: ")))
            continue
        key = (run.model, run.task)
        mismatch = pair_problem(run)
        if mismatch is not None:
            tree.problems.append(LoadProblem(path, mismatch))
            tree.inconsistent[key] = mismatch
            continue
        previous = by_key.get(key)
        if previous is None:
            by_key[key] = run
            continue
        newer, older = (run, previous) if run.created > previous.created else (previous, run)
        by_key[key] = newer
        tree.problems.append(
            LoadProblem(
                older.path,
                f"duplicate run for model {run.model!r} task {run.task!r}: {newer.path} is newer "
                "(by 'created') and is used; delete or move the stale folder",
            )
        )
    tree.runs = sorted(by_key.values(), key=lambda r: (r.model, r.task))
    tree.predict_only = _predict_only_runs(root, tree)
    return tree


def _predict_only_runs(root: Path, tree: ResultsTree) -> list[PredictOnlyRun]:
    """The valid predict-only runs under `root` (problems go to `tree.problems`)."""
    runs = []
    for path in discover_scores_files(root, PREDICT_ONLY_FILE):
        try:
            run = read_predict_only_file(path)
        except ResultsError as err:
            tree.problems.append(LoadProblem(path, str(err).removeprefix(f"{path}: ")))
            continue
        mismatch = pair_problem(run)
        if mismatch is not None:
            tree.problems.append(LoadProblem(path, mismatch))
            continue
        runs.append(run)
    return sorted(runs, key=lambda r: (r.model, r.task))


@collection_paused()
def load_sample_scores(predictions_path: Path) -> SampleScores:
    """Per-sample primary scores and predictions from a `predictions.jsonl`, keyed by id.

    A sample with an error and no score counts as 0 (the scoring rule for errors); a sample with neither is
    listed in `unscored_ids` and left out of `scores`. A torn last line (killed writer) is ignored; any other
    bad line raises `ResultsError` with its line number. Duplicate ids are an error.
    """
    path = Path(predictions_path)
    if not path.is_file():
        raise ResultsError(f"{path}: predictions file not found (per-sample scores are needed for this step)")
    scores: dict[str, float] = {}
    predictions: dict[str, str] = {}
    unscored: list[str] = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.endswith("\n"):
                break  # torn write from a killed process
            if not line.strip():
                continue
            try:
                row = jsontext.loads(line)
            except json.JSONDecodeError as err:
                raise ResultsError(f"{path}:{line_no}: invalid JSON ({err.msg}); re-score this run") from err
            if not isinstance(row, dict) or "id" not in row:
                raise ResultsError(f"{path}:{line_no}: each line must be an object with an 'id'")
            sample_id = str(row["id"])
            if sample_id in predictions:
                raise ResultsError(f"{path}:{line_no}: duplicate id {sample_id!r}")
            predictions[sample_id] = str(row.get("prediction", ""))
            value = row.get("score")
            if value is None:
                if row.get("error"):
                    scores[sample_id] = 0.0
                else:
                    unscored.append(sample_id)
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ResultsError(f"{path}:{line_no}: 'score' must be a finite number, got {value!r}")
            scores[sample_id] = float(value)
    return SampleScores(scores=scores, predictions=predictions, unscored_ids=tuple(unscored))
