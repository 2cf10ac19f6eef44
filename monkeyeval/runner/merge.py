"""Merge part files into results/<model>/<task>/predictions.jsonl + scores.json, in dataset order.

The merge is deterministic (records sorted by dataset index, scored by `store.finalize_run`, written
atomically), so running it twice, or from whichever shard finished last, gives the same predictions.jsonl.
scores.json also gets the run's throughput, summed from the part metas' readings (`runner.throughput`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monkeyeval.core.errors import IncompleteResults
from monkeyeval.core.types import MISSING_ERROR, PredictionRecord, Sample
from monkeyeval.results.finalize import finalize_predict_only, finalize_run
from monkeyeval.results.predict_only import PredictOnlyRun
from monkeyeval.results.schema import InputNotes, TaskScore
from monkeyeval.runner.parts import read_manifest, read_metas, read_part_records
from monkeyeval.runner.throughput import run_throughput
from monkeyeval.tasks.config import TaskConfig
from monkeyeval.tasks.dataset import DatasetLoad


class IncompleteRun(IncompleteResults, RuntimeError):
    """Some samples have no prediction yet."""

    def __init__(self, run_dir: Path, missing: list[int], total: int) -> None:
        shown = ", ".join(str(i) for i in missing[:10])
        super().__init__(
            f"{run_dir}: {len(missing)} of {total} samples have no prediction yet (indices {shown}"
            f"{', ...' if len(missing) > 10 else ''}). Re-run the same `monkeyeval run` command (it resumes) "
            "or pass --allow-missing to score them as wrong."
        )
        self.missing = missing


def missing_indices(run_dir: Path, n_samples: int) -> list[int]:
    """Dataset indices (below n_samples) that no part file holds."""
    done = read_part_records(run_dir)
    return [i for i in range(n_samples) if i not in done]


def _collected(values: Sequence[Any]) -> Any:
    unique = sorted(set(values), key=str)
    if not unique:
        return None
    return unique[0] if len(unique) == 1 else unique


def run_model_fingerprint(run_dir: Path) -> dict[str, Any]:
    """The scores.json model fingerprint: manifest model + decoding fields, batch/world sizes of all parts.

    Batch and world size are single values when every part agrees, else the sorted list of values used.
    """
    manifest = read_manifest(run_dir) or {}
    decoding = manifest.get("decoding", {})
    metas = read_metas(run_dir)
    model = dict(manifest.get("model", {}))
    model.update(
        {
            "batch_size": _collected([m.get("batch_size") for m in metas]),
            "world_size": _collected([m.get("world_size") for m in metas]),
            "max_new_tokens": decoding.get("max_new_tokens"),
            "prompt_profile": decoding.get("prompt", {}).get("profile"),
        }
    )
    return model


def merge_run(
    run_dir: Path,
    task: TaskConfig,
    dataset: DatasetLoad,
    model_name: str,
    *,
    allow_missing: bool = False,
    predict_only: bool = False,
) -> TaskScore | PredictOnlyRun:
    """Merge, score and write; IncompleteRun unless every sample has a prediction (or allow_missing).

    `predict_only` (`run --predict-only`) writes predictions.jsonl and predict_only.json, and scores nothing.
    A scored merge records the throughput of the attempts that produced the final records in scores.json.
    """
    run_dir = Path(run_dir)
    samples = dataset.samples
    done = read_part_records(run_dir)
    missing = [i for i in range(len(samples)) if i not in done]
    if missing and not allow_missing:
        raise IncompleteRun(run_dir, missing, len(samples))
    records = [_merged_record(sample, done.get(sample.index)) for sample in samples]
    inputs = InputNotes(dataset.skipped_lines, dataset.limit)
    fingerprint = run_model_fingerprint(run_dir)
    if predict_only:
        return finalize_predict_only(
            run_dir, task, records, fingerprint, model_name, n_missing=len(missing), inputs=inputs
        )
    throughput, throughput_note = run_throughput(run_dir, done)
    return finalize_run(
        run_dir,
        task,
        records,
        fingerprint,
        model_name,
        n_missing=len(missing),
        samples=list(samples),
        inputs=inputs,
        throughput=throughput,
        throughput_note=throughput_note,
    )


def _merged_record(sample: Sample, earlier: PredictionRecord | None) -> PredictionRecord:
    """The predictions.jsonl record of `sample`: its part-file record with the dataset's answers."""
    if earlier is None:
        return PredictionRecord(
            index=sample.index,
            id=sample.id,
            prompt="",
            prediction="",
            answers=list(sample.answers),
            error=MISSING_ERROR,
        )
    return PredictionRecord(
        index=sample.index,
        id=sample.id,
        prompt=earlier.prompt,
        prediction=earlier.prediction,
        answers=list(sample.answers),
        error=earlier.error,
        n_new_tokens=earlier.n_new_tokens,
        truncated=earlier.truncated,
    )
