"""`--batch-size auto`: the largest batch that fits, found by halving on out-of-memory, remembered per task.

The search runs on this process's first batch of work: the costliest when the runner sorts by cost
(runner/schedule.py), the first one this rank claimed under claims (runner/claims.py). It starts at the size
remembered for this model, task and device
(`results/<model>/.batch-size.json`), else at `AUTO_START` (capped by the work), generates that many
samples, and on an out-of-memory error frees the cached memory, halves and retries with the first half. The
batch that fits is kept: its records are real predictions, not a discarded probe. The size found is written
back, so the next run of the same model and task on the same device starts there and searches no more. A
later, costlier batch that still runs out of memory is retried sample by sample, as any failed batch is.
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monkeyeval.core import jsontext
from monkeyeval.core.atomic import atomic_write_json
from monkeyeval.core.types import PredictionRecord, Sample
from monkeyeval.models.base import DecodeSettings, ModelAdapter
from monkeyeval.runner.data import WorkItem, prepare
from monkeyeval.runner.engine import generate_batch, is_out_of_memory

AUTO_START = 64
BATCH_SIZE_FILE = ".batch-size.json"
MEMO_SCHEMA = 1


def release_memory() -> None:
    """Return what a failed batch left allocated (Python garbage, torch's CUDA cache)."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def device_label(device: str) -> str:
    """The device a size is remembered for: the GPU's name for CUDA devices, else the device string."""
    torch = sys.modules.get("torch")
    if device.startswith("cuda") and torch is not None and torch.cuda.is_available():
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return device


@dataclass(frozen=True)
class BatchSizeMemo:
    """The sizes found per task and device, in one small JSON file beside a model's task folders."""

    path: Path

    @classmethod
    def for_run(cls, run_dir: Path) -> BatchSizeMemo:
        """The memo of the model whose task folder is `run_dir` (results/<model>/<task>)."""
        return cls(Path(run_dir).parent / BATCH_SIZE_FILE)

    def _read(self) -> dict[str, dict[str, int]]:
        try:
            data = jsontext.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return {}  # no memo yet, or a damaged one: search again
        if not isinstance(data, dict) or data.get("schema") != MEMO_SCHEMA:
            return {}
        sizes = data.get("sizes")
        return sizes if isinstance(sizes, dict) else {}

    def recall(self, task: str, device: str) -> int | None:
        """The size found earlier for `task` on `device`, or None."""
        entry = self._read().get(task)
        size = entry.get(device) if isinstance(entry, dict) else None
        return size if isinstance(size, int) and not isinstance(size, bool) and size >= 1 else None

    def remember(self, task: str, device: str, size: int) -> None:
        """Record `size` for `task` on `device` (atomic; other tasks' entries are kept)."""
        sizes = self._read()
        entry = sizes.get(task)
        sizes[task] = {**(entry if isinstance(entry, dict) else {}), device: size}
        atomic_write_json(self.path, {"schema": MEMO_SCHEMA, "sizes": sizes})


@dataclass(frozen=True)
class AutoBatch:
    """What the search found: the size, the first batch's records, and how it got there."""

    size: int
    records: list[PredictionRecord]
    tried: tuple[int, ...]  # every size tried, largest first
    remembered: bool  # the search started from a remembered size
    saved: bool  # the size was written to the memo (a share smaller than the start that fits proves little)


def search_batch_size(
    adapter: ModelAdapter,
    items: Sequence[WorkItem],
    settings: DecodeSettings,
    start: int,
    preprocess: Callable[[Sample, str], Any],
) -> tuple[int, list[PredictionRecord], tuple[int, ...]]:
    """Generate the first `start` items, halving on out-of-memory; (size, its records, sizes tried)."""
    size = max(1, min(start, len(items)))
    prepared = [prepare(item, preprocess) for item in items[:size]]
    tried = []
    while True:
        tried.append(size)
        try:
            return size, generate_batch(adapter, prepared[:size], settings, raise_oom=size > 1), tuple(tried)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            release_memory()
            size //= 2


def find_batch_size(
    adapter: ModelAdapter,
    items: Sequence[WorkItem],
    settings: DecodeSettings,
    memo: BatchSizeMemo,
    task: str,
    device: str,
) -> AutoBatch:
    """Search from the remembered size (else `AUTO_START`) and remember what fits."""
    remembered = memo.recall(task, device)
    start = remembered if remembered is not None else AUTO_START
    size, records, tried = search_batch_size(adapter, items, settings, start, adapter.preprocessor())
    saved = (len(tried) > 1 or len(items) >= start) and size != remembered
    if saved:
        memo.remember(task, device, size)
    return AutoBatch(size, records, tried, remembered is not None, saved)


def describe(found: AutoBatch, task: str, device: str, memo: BatchSizeMemo) -> str:
    """The line announcing the size found."""
    how = "the remembered size" if found.remembered else f"a search from {AUTO_START}"
    if len(found.tried) > 1:
        how += f", halved after out-of-memory at {', '.join(str(size) for size in found.tried[:-1])}"
    elif not found.remembered and found.size < AUTO_START:
        how += f", capped by the {found.size} samples to run"
    kept = f"remembered in {memo.path}" if found.saved else "nothing new to remember"
    return f"{task}: --batch-size auto uses {found.size} on {device} ({how}; {kept})"
