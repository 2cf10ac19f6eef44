"""Is a run's predictions.jsonl the file its scores.json scored? (a kill between the two writes, an edit)

`finalize_run` writes predictions.jsonl first and scores.json second, recording the predictions' SHA-256
and record count. A scores.json without that digest (written before it was recorded) is not checked.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from monkeyeval.results.layout import SCORES_FILE
from monkeyeval.results.predict_only import PredictOnlyRun
from monkeyeval.results.reader import read_scores_file
from monkeyeval.results.schema import PredictionsDigest, ResultsError, RunResult


def digest_file(path: Path) -> PredictionsDigest:
    """SHA-256 of a jsonl file's bytes and its number of complete lines (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    lines = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            lines += block.count(b"\n")
    return PredictionsDigest(digest.hexdigest(), lines)


def refinalise_hint(run_dir: Path) -> str:
    """How to rewrite a run's pair from its own records."""
    if (run_dir / "run.json").is_file():
        return (
            f"re-finalise it with `monkeyeval merge {run_dir}` (or re-run the same `monkeyeval run` command, "
            "which resumes and rewrites both files)"
        )
    return "re-finalise it by re-running the `monkeyeval score` command that wrote it"


def pair_problem(run: RunResult | PredictOnlyRun) -> str | None:
    """Why `run`'s predictions.jsonl is not the file its scores.json (predict_only.json) recorded, or None
    when they match."""
    expected = run.predictions
    if expected is None:
        return None
    path = run.predictions_path
    try:
        actual = digest_file(path)
    except FileNotFoundError:
        found = "is missing"
    except OSError as err:
        found = f"cannot be read ({err.strerror})"
    else:
        if actual == expected:
            return None
        found = f"holds {actual.count} records (sha256 {actual.sha256[:12]})"
    verb = "scored" if run.path.name == SCORES_FILE else "recorded"
    return (
        f"{path} {found}, but {run.path.name} {verb} {expected.count} records "
        f"(sha256 {expected.sha256[:12]}): "
        f"the pair disagrees (a finalise was interrupted or a file was edited); "
        f"{refinalise_hint(run.run_dir)}"
    )


def folder_pair_problem(run_dir: Path) -> str | None:
    """`pair_problem` for the run in `run_dir`, or why its scores.json is unreadable (None: none there)."""
    path = Path(run_dir) / SCORES_FILE
    if not path.is_file():
        return None
    try:
        return pair_problem(read_scores_file(path))
    except ResultsError as err:
        return str(err)
