"""Per-rank part files and the run manifest inside results/<model>/<task>/.

Layout:
    run.json                                 the manifest: decoding fingerprint + how to re-resolve the task
    parts/attempt0003-rank001-of004.jsonl    torchrun / single-process attempt 3, rank 1 of 4
    parts/shard002-of008.jsonl               independent `--shard 2/8` job
    parts/<part>.meta.json                   who wrote the part (batch size, world size), written once
    parts/<part>.done                        completion marker, written when the rank finished its slice

Every run (re-run) of the command starts a new attempt number, so parts of an earlier attempt, whatever its
world size, are never reopened, clobbered or duplicated; shard jobs reuse their shard's file (appending).
Each line is a `PredictionRecord.to_json()` without scores, appended and flushed per batch (see
`PartAppender` for when it is fsynced).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monkeyeval.core import jsontext
from monkeyeval.core.atomic import JsonlAppender, atomic_write_json, json_line, read_jsonl_tolerant
from monkeyeval.core.errors import UserError
from monkeyeval.core.types import PredictionRecord

PARTS_DIR = "parts"
MANIFEST_FILE = "run.json"
MANIFEST_SCHEMA = 1
_ATTEMPT_RE = re.compile(r"^attempt(\d{4,})-rank(\d{3,})-of(\d{3,})\.jsonl$")
_SHARD_RE = re.compile(r"^shard(\d{3,})-of(\d{3,})\.jsonl$")


class PartsError(UserError, RuntimeError):
    """A part file or manifest that cannot be used."""


@dataclass(frozen=True)
class PartId:
    """Which writer a part file belongs to."""

    rank: int
    world_size: int
    attempt: int | None = None  # None for `--shard` parts

    @property
    def filename(self) -> str:
        """The part file's name."""
        if self.attempt is None:
            return f"shard{self.rank:03d}-of{self.world_size:03d}.jsonl"
        return f"attempt{self.attempt:04d}-rank{self.rank:03d}-of{self.world_size:03d}.jsonl"


class PartAppender(JsonlAppender):
    """A part file writer: every batch is flushed to the OS at once, fsynced at most every `fsync_every_s`.

    A flushed batch survives a SIGKILL or a crash of the process (the kernel holds it); fsync only adds
    safety against losing the machine itself. Syncing each tiny batch costs a few ms, which is a real share
    of a small model's batch time, so the sync is rate-limited and always done on close. After a power
    loss, at most the last `fsync_every_s` seconds of batches are recomputed on resume.
    """

    def __init__(self, path: Path, fsync_every_s: float = 1.0) -> None:
        super().__init__(path)
        self.fsync_every_s = fsync_every_s
        self._last_sync = time.monotonic()

    def append_many(self, rows: Iterable[dict[str, Any]]) -> None:
        """Append rows and flush them; fsync when the last sync is older than `fsync_every_s`."""
        handle = self._handle
        for row in rows:
            handle.write(json_line(row))
        handle.flush()
        now = time.monotonic()
        if now - self._last_sync >= self.fsync_every_s:
            os.fsync(handle.fileno())
            self._last_sync = now

    def close(self) -> None:
        """fsync, then close."""
        if not self._handle.closed:
            self._handle.flush()
            os.fsync(self._handle.fileno())
        super().close()


def parts_dir(run_dir: Path) -> Path:
    """<run_dir>/parts."""
    return Path(run_dir) / PARTS_DIR


def part_path(run_dir: Path, part: PartId) -> Path:
    """Where a part file lives."""
    return parts_dir(run_dir) / part.filename


def done_marker(path: Path) -> Path:
    """The completion marker of a part file."""
    return path.with_name(path.name.removesuffix(".jsonl") + ".done")


def meta_path(path: Path) -> Path:
    """The sidecar describing who wrote a part file."""
    return path.with_name(path.name.removesuffix(".jsonl") + ".meta.json")


def part_files(run_dir: Path) -> list[Path]:
    """Every part file (attempts and shards), sorted by name."""
    folder = parts_dir(run_dir)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _ATTEMPT_RE.match(p.name) or _SHARD_RE.match(p.name))


def next_attempt(run_dir: Path) -> int:
    """One more than the highest attempt number present (1 for a new run)."""
    numbers = [int(m.group(1)) for p in part_files(run_dir) if (m := _ATTEMPT_RE.match(p.name))]
    return max(numbers, default=0) + 1


def write_meta(path: Path, meta: dict[str, Any]) -> None:
    """Record who writes `path` (atomic; rewritten by a resumed shard job)."""
    atomic_write_json(meta_path(path), meta)


def read_meta(path: Path) -> dict[str, Any] | None:
    """The sidecar of part file `path`, or None when it has none."""
    meta = meta_path(path)
    if not meta.is_file():
        return None
    value: dict[str, Any] = jsontext.loads(meta.read_text(encoding="utf-8"))
    return value


def read_metas(run_dir: Path) -> list[dict[str, Any]]:
    """The sidecars of every part file (those that have one)."""
    return [meta for path in part_files(run_dir) if (meta := read_meta(path)) is not None]


def mark_done(path: Path) -> None:
    """Write the completion marker of a part file."""
    atomic_write_json(done_marker(path), {"part": path.name})


def read_part_records(run_dir: Path) -> dict[int, PredictionRecord]:
    """index -> record over every part file (torn last lines ignored).

    The first record of an index in file-name order (attempt order) wins, except that a later record
    replaces an earlier failure (a sample retried on resume: its answer, or how it failed this time).

    Two parts holding the same index with different content (possible only when independent jobs overlap)
    must agree on id and prompt; otherwise the run is inconsistent and this raises.
    """
    records: dict[int, PredictionRecord] = {}
    for path in part_files(run_dir):
        try:
            rows = read_jsonl_tolerant(path)
        except json.JSONDecodeError as exc:
            raise PartsError(
                f"{path}: damaged part file ({exc}); delete it to recompute its samples"
            ) from exc
        for row in rows:
            record = PredictionRecord.from_json(row)
            earlier = records.get(record.index)
            if earlier is None:
                records[record.index] = record
            elif (earlier.id, earlier.prompt) != (record.id, record.prompt):
                raise PartsError(
                    f"{path}: sample {record.index} (id {record.id!r}) disagrees with another part file; "
                    "the run folder mixes different runs: start fresh with --fresh"
                )
            elif earlier.error is not None:
                records[record.index] = record  # a retried sample replaces its earlier failure
    return records


def read_manifest(run_dir: Path) -> dict[str, Any] | None:
    """run.json, or None when the folder has none."""
    path = Path(run_dir) / MANIFEST_FILE
    if not path.is_file():
        return None
    try:
        data = jsontext.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PartsError(f"{path}: unreadable run manifest ({exc}); start fresh with --fresh") from exc
    if not isinstance(data, dict) or data.get("schema") != MANIFEST_SCHEMA:
        raise PartsError(f"{path}: not a monkeyeval run manifest of schema {MANIFEST_SCHEMA}")
    return data


def write_manifest(run_dir: Path, manifest: dict[str, Any]) -> None:
    """Write run.json atomically."""
    atomic_write_json(Path(run_dir) / MANIFEST_FILE, {"schema": MANIFEST_SCHEMA, **manifest})
