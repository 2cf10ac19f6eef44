"""Resume: which samples are already predicted, and whether the earlier run decoded the same way.

The decoding fingerprint holds everything that changes answers: the model fingerprint (family, checkpoint
hash, dtype, family options...), max_new_tokens, the prompt profile/template and the dataset hash. Batch
size and world size are recorded per part but never block a resume (batch composition can still change
answers under left padding; `monkeyeval check-invariance` shows whether it does). The checkpoint's path is
informative only (moving a checkpoint folder keeps its hash).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from monkeyeval.core.errors import UserError
from monkeyeval.core.types import PredictionRecord, Sample
from monkeyeval.runner.engine import RETRIED_ERRORS
from monkeyeval.runner.parts import part_files, read_manifest, read_part_records
from monkeyeval.tasks.prompts import PromptProfile

NON_BLOCKING_MODEL_KEYS = frozenset({"checkpoint", "batch_size", "world_size"})


class ResumeRefused(UserError, RuntimeError):
    """The results folder holds work that must not be mixed with this run."""


@dataclass
class ResumePlan:
    """Samples already predicted (by dataset index) and the indices still to do, in dataset order."""

    done: dict[int, PredictionRecord]
    todo: list[int]
    n_retried: int = 0  # samples whose earlier attempt failed, back in `todo`


def decoding_fingerprint(
    model: dict[str, Any], max_new_tokens: int, prompt: dict[str, str], jsonl_sha256: str | None
) -> dict[str, Any]:
    """Everything that must match for two runs' predictions to be mixed."""
    return {
        "model": {k: v for k, v in model.items() if k not in NON_BLOCKING_MODEL_KEYS},
        "max_new_tokens": max_new_tokens,
        "prompt": dict(prompt),
        "jsonl_sha256": jsonl_sha256,
    }


def fingerprint_differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Human-readable "key: old -> new" lines for every differing leaf."""
    lines = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            lines.extend(fingerprint_differences(a, b, f"{prefix}{key}."))
        elif a != b:
            lines.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return lines


def prompt_fingerprint(profile: PromptProfile) -> dict[str, str]:
    """The prompt part of the decoding fingerprint."""
    return {"profile": profile.name, "template": profile.template}


def refuse_known_changes(run_dir: Path, recorded: dict[str, Any], known: dict[str, Any]) -> None:
    """Before the model loads: refuse when the earlier run's `recorded` decoding fingerprint (its run.json)
    differs in a field already known.

    `known` holds part of a decoding fingerprint (max_new_tokens, prompt, dataset hash, and model fields such
    as family and family_options); only model fields the earlier run recorded are compared. The full check
    runs again once the model has loaded (`plan_resume`).
    """
    recorded_model = recorded.get("model", {})
    new = {**known, "model": {k: v for k, v in known["model"].items() if k in recorded_model}}
    old = {key: recorded.get(key) for key in known} | {"model": {k: recorded_model[k] for k in new["model"]}}
    differences = fingerprint_differences(old, new)
    if differences:
        raise ResumeRefused(_refusal(run_dir, differences))


def _refusal(run_dir: Path, differences: list[str]) -> str:
    listed = "\n  ".join(differences)
    return (
        f"{run_dir} was produced with different decoding settings; refusing to mix them:\n  {listed}\n"
        + _fresh_hint(run_dir)
    )


def _fresh_hint(run_dir: Path) -> str:
    return (
        f"To start over, re-run with --fresh (moves {run_dir} aside to {run_dir.name}.old-<time>, deleting "
        "nothing), or write elsewhere with --results DIR / --model-name NAME."
    )


def move_aside(run_dir: Path) -> Path | None:
    """`--fresh`: rename the old run folder to <name>.old-<UTC time> (nothing is deleted)."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        return None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    target = run_dir.with_name(f"{run_dir.name}.old-{stamp}")
    os.replace(run_dir, target)
    return target


def plan_resume(
    run_dir: Path,
    samples: Sequence[Sample],
    model_texts: Sequence[str],
    fingerprint: dict[str, Any],
    retry_errors: bool = True,
) -> ResumePlan:
    """What is left to do; raises ResumeRefused when the folder's earlier work must not be mixed in.

    Samples whose earlier generation failed (an out-of-memory batch, say) or whose prompt was over the input
    limit are done again unless `retry_errors` is False (`--keep-errors`); image errors are kept (they would
    fail the same way).
    """
    run_dir = Path(run_dir)
    fresh_hint = _fresh_hint(run_dir)
    manifest = read_manifest(run_dir)
    if manifest is None:
        if part_files(run_dir) or (run_dir / "predictions.jsonl").exists():
            raise ResumeRefused(
                f"{run_dir} holds results not written by `monkeyeval run` (no run.json). {fresh_hint}"
            )
        return ResumePlan(done={}, todo=list(range(len(samples))))
    differences = fingerprint_differences(manifest.get("decoding", {}), fingerprint)
    if differences:
        raise ResumeRefused(_refusal(run_dir, differences))
    done: dict[int, PredictionRecord] = {}
    retried = 0
    for index, record in read_part_records(run_dir).items():
        if index >= len(samples):
            continue  # an earlier, larger --limit
        sample = samples[index]
        if record.id != sample.id or record.prompt != model_texts[index]:
            raise ResumeRefused(
                f"{run_dir}: earlier prediction for sample {index} has id {record.id!r} and prompt "
                f"{record.prompt[:80]!r}, but the dataset now gives id {sample.id!r} and prompt "
                f"{model_texts[index][:80]!r}. {fresh_hint}"
            )
        if retry_errors and (record.error or "").startswith(RETRIED_ERRORS):
            retried += 1
            continue
        done[index] = record
    todo = [index for index in range(len(samples)) if index not in done]
    return ResumePlan(done=done, todo=todo, n_retried=retried)
