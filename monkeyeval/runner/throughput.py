"""Throughput of a run: a per-process meter, and its aggregation into scores.json's `throughput` at merge.

Each process that predicts a share keeps a `ThroughputMeter` (wall clock, samples, generated and prefill
tokens, peak memories, device) and stores `meter.to_json()` under `"throughput"` in its part file's meta at
done. `run_throughput` reads those readings back at merge, for the attempts whose parts hold the final
records, and sums them into a `RunThroughput`. Timing never enters a part file's records, so predictions stay
byte-identical however fast they were made.

Grouping: the parts `attemptNNNN-rank*` of one run form one attempt; the `--shard` parts form one group
(their jobs are taken to run side by side). A resumed `--shard` job rewrites its meta, so its reading covers
its last session only.
"""

from __future__ import annotations

import json
import math
import platform
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from monkeyeval.core import jsontext
from monkeyeval.core.types import PredictionRecord
from monkeyeval.results.schema import RunThroughput
from monkeyeval.runner.parts import part_files, read_meta

META_KEY = "throughput"
"""The part-meta key the meter's reading is stored under."""
SHARD_GROUP = "shards"
OPTIONAL_COUNTS = ("prefill_tokens", "peak_device_memory_bytes", "peak_host_rss_bytes")
RATE_DIGITS = 6  # significant digits kept of the rates (scores.json), wall time in ms


@dataclass
class ThroughputMeter:
    """One process's meter: `add_batch` per batch, `to_json()` at done (it stamps the finish time).

    `device` is the torch device string the process predicts on ("cpu", "cuda:1"); the reading names the
    device (CUDA: `torch.cuda.get_device_name`, CPU: "cpu" and the processor's model name).
    """

    device: str = "cpu"
    started_at: float = field(default_factory=time.time)  # unix time: comparable between ranks
    finished_at: float | None = None
    samples: int = 0
    generated_tokens: int = 0
    prefill_tokens: int | None = 0  # None once a batch's prompt lengths were unknown
    peak_device_memory_bytes: int | None = None
    peak_host_rss_bytes: int | None = None
    device_name: str = ""

    def add_batch(self, records: Sequence[PredictionRecord], prefill_tokens: int | None) -> None:
        """Count a batch's records, their generated tokens and its prompt tokens (None: unknown)."""
        self.samples += len(records)
        self.generated_tokens += sum(r.n_new_tokens for r in records if r.n_new_tokens is not None)
        if prefill_tokens is None or self.prefill_tokens is None:
            self.prefill_tokens = None
        else:
            self.prefill_tokens += prefill_tokens

    def finish(self) -> None:
        """Stamp the finish time and read the peak memories and the device name (once)."""
        if self.finished_at is not None:
            return
        self.finished_at = time.time()
        self.peak_host_rss_bytes = peak_host_rss_bytes()
        self.peak_device_memory_bytes = peak_device_memory_bytes(self.device)
        self.device_name = device_name(self.device)

    def to_json(self) -> dict[str, Any]:
        """The reading stored in the part meta (finishes the meter first)."""
        self.finish()
        return {
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "samples": self.samples,
            "generated_tokens": self.generated_tokens,
            "prefill_tokens": self.prefill_tokens,
            "peak_device_memory_bytes": self.peak_device_memory_bytes,
            "peak_host_rss_bytes": self.peak_host_rss_bytes,
            "device": self.device_name,
        }


def peak_host_rss_bytes() -> int | None:
    """This process's peak resident set size in bytes (ru_maxrss: KiB on Linux/BSD, bytes on macOS)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def _cuda(device: str) -> Any:
    """torch's CUDA module when torch is already imported and CUDA is in use on `device`, else None."""
    torch = sys.modules.get("torch")
    if torch is None or not device.startswith("cuda") or not torch.cuda.is_initialized():
        return None
    return torch.cuda


def peak_device_memory_bytes(device: str) -> int | None:
    """CUDA's peak allocated bytes on `device` (None when it is not a CUDA device in use)."""
    cuda = _cuda(device)
    return None if cuda is None else int(cuda.max_memory_allocated(device))


def device_name(device: str) -> str:
    """The GPU's name for a CUDA device in use, "cpu (<processor>)" for the CPU, else the device string."""
    cuda = _cuda(device)
    if cuda is not None:
        return str(cuda.get_device_name(device))
    if device.startswith("cuda"):
        return device  # CUDA never initialised in this process: nothing ran there
    if device != "cpu":
        return device
    model = cpu_model()
    return f"cpu ({model})" if model else "cpu"


def cpu_model() -> str:
    """The processor's model name (/proc/cpuinfo on Linux, else `platform.processor()`; "" when unknown)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                    return " ".join(value.split())
    except OSError:
        pass
    return platform.processor().strip()


@dataclass(frozen=True)
class MeterReading:
    """One part's reading, as read back from its meta."""

    started_at: float
    finished_at: float
    samples: int
    generated_tokens: int
    prefill_tokens: int | None
    peak_device_memory_bytes: int | None
    peak_host_rss_bytes: int | None
    device: str

    @classmethod
    def from_json(cls, obj: Any) -> MeterReading | None:
        """The reading of a meta's `throughput` value; None when absent or malformed."""
        if not isinstance(obj, dict):
            return None
        started, finished, device = obj.get("started_at"), obj.get("finished_at"), obj.get("device")
        if not (_is_number(started) and _is_number(finished) and finished >= started):
            return None
        if not isinstance(device, str) or not device:
            return None
        counts = {key: obj.get(key) for key in ("samples", "generated_tokens")}
        optional = {key: obj.get(key) for key in OPTIONAL_COUNTS}
        if not all(_is_count(value) for value in counts.values()):
            return None
        if not all(value is None or _is_count(value) for value in optional.values()):
            return None
        return cls(
            started_at=float(started),
            finished_at=float(finished),
            samples=int(obj["samples"]),
            generated_tokens=int(obj["generated_tokens"]),
            prefill_tokens=optional["prefill_tokens"],
            peak_device_memory_bytes=optional["peak_device_memory_bytes"],
            peak_host_rss_bytes=optional["peak_host_rss_bytes"],
            device=device,
        )


def _is_count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def group_of(part: Path) -> str:
    """The attempt a part file belongs to: "attempt0003" for `attempt0003-rank001-of004.jsonl`, or
    SHARD_GROUP for every `--shard` part."""
    return SHARD_GROUP if part.name.startswith("shard") else part.name.partition("-rank")[0]


def describe_group(group: str) -> str:
    """ "attempt 3", or "the --shard jobs"."""
    if group == SHARD_GROUP:
        return "the --shard jobs"
    return f"attempt {int(group.removeprefix('attempt'))}"


def run_throughput(run_dir: Path, final: Mapping[int, PredictionRecord]) -> tuple[RunThroughput | None, str]:
    """The throughput of the attempts whose parts hold `final` records (`read_part_records`' result), and
    a note: why it is None, or which contributing attempts had no reading (their samples are left out)."""
    groups: dict[str, list[Path]] = {}
    for part in part_files(run_dir):
        groups.setdefault(group_of(part), []).append(part)
    contributing = {
        name: parts for name, parts in groups.items() if any(_holds_final_record(p, final) for p in parts)
    }
    metered: dict[str, list[MeterReading]] = {}
    unmetered: list[str] = []
    for name, parts in contributing.items():
        readings = [(part, _reading(part)) for part in parts]
        if any(reading is None and _has_records(part) for part, reading in readings):
            unmetered.append(name)
        else:
            metered[name] = [reading for _, reading in readings if reading is not None]
    if not metered:
        if not contributing:
            return None, "not timed: no part file holds this run's records"
        names = ", ".join(describe_group(name) for name in unmetered)
        return None, (
            f"not timed: {names} recorded no throughput (interrupted before it finished, or written by a "
            "monkeyeval that did not time runs)"
        )
    note = ""
    if unmetered:
        names = ", ".join(describe_group(name) for name in unmetered)
        note = f"{names} recorded no throughput (interrupted?): its samples and time are left out"
    return aggregate(metered.values(), len(unmetered)), note


def aggregate(attempts: Iterable[Sequence[MeterReading]], unmetered_attempts: int = 0) -> RunThroughput:
    """Sum attempts (each the readings of its ranks): per attempt wall = latest finish - earliest start."""
    attempts = [readings for readings in attempts if readings]
    readings = [reading for ranks in attempts for reading in ranks]
    span = sum(max(r.finished_at for r in ranks) - min(r.started_at for r in ranks) for ranks in attempts)
    wall = round(span, 3)  # ms; the rates are the totals over this written figure
    samples = sum(r.samples for r in readings)
    generated = sum(r.generated_tokens for r in readings)
    prefill = [r.prefill_tokens for r in readings]
    devices = sorted({r.device for r in readings})
    return RunThroughput(
        samples=samples,
        wall_s=wall,
        samples_per_s=_rate(samples, wall),
        generated_tokens=generated,
        generated_tokens_per_s=_rate(generated, wall),
        prefill_tokens=None if any(p is None for p in prefill) else sum(p for p in prefill if p is not None),
        peak_device_memory_bytes=_largest(r.peak_device_memory_bytes for r in readings),
        peak_host_rss_bytes=_largest(r.peak_host_rss_bytes for r in readings),
        device=devices[0] if len(devices) == 1 else tuple(devices),
        device_count=max(len(ranks) for ranks in attempts),
        attempts=len(attempts),
        unmetered_attempts=unmetered_attempts,
    )


def _rate(amount: int, wall: float) -> float | None:
    return float(f"{amount / wall:.{RATE_DIGITS}g}") if wall > 0 else None


def _largest(values: Iterable[int | None]) -> int | None:
    known = [value for value in values if value is not None]
    return max(known) if known else None


def _reading(part: Path) -> MeterReading | None:
    try:
        meta = read_meta(part)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return MeterReading.from_json(meta.get(META_KEY)) if isinstance(meta, dict) else None


def _has_records(part: Path) -> bool:
    try:
        return part.stat().st_size > 0
    except OSError:
        return False


def _holds_final_record(part: Path, final: Mapping[int, PredictionRecord]) -> bool:
    """True when one of the part's records is the final record of its index (read up to the first one)."""
    try:
        with open(part, "rb") as handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    return False  # a torn last line is not a record
                if not line.strip():
                    continue
                record = PredictionRecord.from_json(jsontext.loads(line.decode("utf-8")))
                if final.get(record.index) == record:
                    return True
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return False
