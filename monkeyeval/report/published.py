"""Published scores of the Monkey family (paper and README numbers) for the built-in tasks.

The data lives in `published.yaml` next to this file (its header comment lists what was left out and why).
Values are on the display scale of `monkeyeval.core.numbers` (66.5 for a mean metric, 514 for OCRBench).

`reference_for(checkpoint, task)` finds the published number a run should be compared with: an exact hub
id (`echo840/Monkey`, case-insensitive) wins; a local folder (`/ckpt/Monkey`, `./Monkey`, `Monkey`) or a
Hugging Face cache snapshot (`.../models--echo840--Monkey/snapshots/<sha>`) matches only when its name
equals a hub id's name. Another owner's hub id with the same name (`someone/Monkey`) matches nothing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import PurePath
from typing import Any

import yaml

from monkeyeval.core.errors import UserError

PUBLISHED_FILE = "published.yaml"
PUBLISHED_SCHEMA = 1


class PublishedDataError(UserError, ValueError):
    """published.yaml is malformed (a packaging or editing mistake)."""


@dataclass(frozen=True)
class PublishedScore:
    """One published number: `value` on the display scale for built-in task `task`."""

    model: str
    checkpoints: tuple[str, ...]
    task: str
    value: float
    source: str
    origin: str
    note: str = ""


@functools.cache
def published_scores() -> tuple[PublishedScore, ...]:
    """Every published score of published.yaml, in file order."""
    text = resources.files("monkeyeval.report").joinpath(PUBLISHED_FILE).read_text(encoding="utf-8")
    return parse_published(yaml.safe_load(text))


def parse_published(data: Any) -> tuple[PublishedScore, ...]:
    """Validate the YAML object of published.yaml and flatten it into `PublishedScore`s."""
    if not isinstance(data, dict) or data.get("schema") != PUBLISHED_SCHEMA:
        raise PublishedDataError(f"{PUBLISHED_FILE}: expected a mapping with schema: {PUBLISHED_SCHEMA}")
    out: list[PublishedScore] = []
    seen: set[tuple[str, str]] = set()
    for number, block in enumerate(data.get("blocks") or [], start=1):
        where = f"{PUBLISHED_FILE} block {number}"
        if not isinstance(block, dict):
            raise PublishedDataError(f"{where}: expected a mapping")
        model, source, origin = (_text(block, key, where) for key in ("model", "source", "origin"))
        checkpoints = block.get("checkpoints") or []
        if not isinstance(checkpoints, list) or not all(isinstance(c, str) and c for c in checkpoints):
            raise PublishedDataError(f"{where}: checkpoints must be a list of hub ids")
        scores = block.get("scores")
        if not isinstance(scores, dict) or not scores:
            raise PublishedDataError(f"{where}: scores must map task names to values")
        for task, entry in scores.items():
            value, note = _value_and_note(entry, f"{where} task {task}")
            for checkpoint in checkpoints:
                key = (checkpoint.lower(), str(task))
                if key in seen:
                    raise PublishedDataError(f"{where}: a second number for {checkpoint} on {task}")
                seen.add(key)
            out.append(PublishedScore(model, tuple(checkpoints), str(task), value, source, origin, note))
    return tuple(out)


def reference_for(checkpoint: str, task: str) -> PublishedScore | None:
    """The published score for a run of `checkpoint` on `task`, or None (see the module docstring)."""
    candidates = [score for score in published_scores() if score.task == task]
    wanted = checkpoint.strip().replace("\\", "/").rstrip("/")
    if not wanted:
        return None
    cached = _cache_hub_id(wanted)
    exact = (cached or wanted).lower()
    for score in candidates:
        if any(hub.lower() == exact for hub in score.checkpoints):
            return score
    parts = PurePath(wanted).parts
    looks_local = wanted.startswith(("/", ".", "~")) or len(parts) != 2
    if cached is not None or not looks_local:
        return None
    name = parts[-1].lower()
    hits = [s for s in candidates if any(hub.split("/")[-1].lower() == name for hub in s.checkpoints)]
    return hits[0] if len({hit.model for hit in hits}) == 1 else None


def _cache_hub_id(checkpoint: str) -> str | None:
    """`echo840/Monkey` for a Hugging Face cache path `.../models--echo840--Monkey/snapshots/<sha>`."""
    parts = PurePath(checkpoint).parts
    for index, part in enumerate(parts[:-1]):
        if part.startswith("models--") and parts[index + 1] == "snapshots":
            return part[len("models--") :].replace("--", "/", 1)
    return None


def _text(block: dict[str, Any], key: str, where: str) -> str:
    value = block.get(key)
    if not isinstance(value, str) or not value.strip():
        raise PublishedDataError(f"{where}: {key} must be a non-empty string")
    return value


def _value_and_note(entry: Any, where: str) -> tuple[float, str]:
    note = ""
    if isinstance(entry, dict):
        note = str(entry.get("note") or "")
        entry = entry.get("value")
    if isinstance(entry, bool) or not isinstance(entry, int | float):
        raise PublishedDataError(f"{where}: value must be a number")
    return float(entry), note
