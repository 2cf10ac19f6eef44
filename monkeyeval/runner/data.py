"""Worker-side preprocessing: a torch DataLoader over (sample, prompt) items, errors recorded per sample.

Each item is preprocessed by the adapter's picklable `preprocessor()` in DataLoader worker processes
(overlapping with generation in the main process). A sample whose image path escapes the image root, whose
image is missing, not a regular file (a FIFO, a device) or cannot be decoded, carries an error string instead
of a payload; the run goes on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

from monkeyeval.core.errors import BadValue
from monkeyeval.core.images import require_regular_file
from monkeyeval.core.lifeline import die_with_parent
from monkeyeval.core.types import Sample

T = TypeVar("T")


@dataclass(frozen=True)
class WorkItem:
    """One sample to run: `prompt` is the rendered prompt, `model_text` the exact model input stored."""

    sample: Sample
    prompt: str
    model_text: str


@dataclass
class Prepared:
    """A work item after preprocessing: payload, or the error that replaced it."""

    item: WorkItem
    payload: Any = None
    error: str | None = None


def describe_preprocess_error(sample: Sample, exc: BaseException) -> str:
    """A one-line error for predictions.jsonl that names the image and what went wrong."""
    if isinstance(exc, FileNotFoundError):
        return f"missing image {sample.image!r}: {sample.image_path} does not exist"
    if isinstance(exc, (OSError, SyntaxError)):  # PIL's UnidentifiedImageError is an OSError
        return f"cannot decode image {sample.image!r} ({sample.image_path}): {type(exc).__name__}: {exc}"
    return f"preprocessing failed for image {sample.image!r}: {type(exc).__name__}: {exc}"


def prepare(item: WorkItem, preprocess: Callable[[Sample, str], Any]) -> Prepared:
    """Run the adapter's preprocessor on one item, turning any exception into a per-sample error."""
    if item.sample.error is not None:
        return Prepared(item, error=item.sample.error)
    try:
        if item.sample.image_path is not None:
            require_regular_file(item.sample.image_path)  # a FIFO or device would block any decoder
        return Prepared(item, payload=preprocess(item.sample, item.prompt))
    except Exception as exc:
        return Prepared(item, error=describe_preprocess_error(item.sample, exc))


def prepare_batch(items: Sequence[WorkItem], preprocess: Callable[[Sample, str], Any]) -> list[Prepared]:
    """Each item `prepare`d, then the preprocessor's optional batch step, `collate(payloads) -> payloads`,
    over the items that succeeded (the hf family runs its processor there, in the worker).

    A batch step that raises leaves the payloads as they were: the adapter's `generate` then meets the same
    failure on the uncollated payloads and records it per sample, as it did before any batch step ran.
    """
    batch = [prepare(item, preprocess) for item in items]
    collate = getattr(preprocess, "collate", None)
    ready = [k for k, prepared in enumerate(batch) if prepared.error is None]
    if collate is None or not ready:
        return batch
    try:
        payloads = collate([batch[k].payload for k in ready])
    except Exception:
        return batch
    for k, payload in zip(ready, payloads, strict=True):
        batch[k] = Prepared(batch[k].item, payload)
    return batch


class BatchDataset:
    """Map-style dataset for torch's DataLoader: batch b -> its Prepared items (prepared in a worker)."""

    def __init__(
        self, batches: Sequence[Sequence[WorkItem]], preprocess: Callable[[Sample, str], Any]
    ) -> None:
        self.batches = [list(batch) for batch in batches]
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, position: int) -> list[Prepared]:
        return prepare_batch(self.batches[position], self.preprocess)


@dataclass(frozen=True)
class PackedTensor:
    """A tensor travelling from a worker as a numpy array (pickled bytes, not a shared-memory handle)."""

    array: Any
    dtype: str


def pack_tensors(obj: Any) -> Any:
    """Replace every torch tensor inside dicts/lists/tuples by a PackedTensor.

    torch's default transport gives every tensor its own shared-memory segment and file descriptor,
    which costs more than copying the bytes for the many small tensors of a batch (token ids, masks).
    """
    import torch

    if isinstance(obj, torch.Tensor):
        tensor = obj.detach().cpu().contiguous()
        if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16: ship the raw 16-bit patterns
            return PackedTensor(tensor.view(torch.int16).numpy(), "bfloat16")
        return PackedTensor(tensor.numpy(), "")
    if isinstance(obj, dict):
        return {key: pack_tensors(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(pack_tensors(value) for value in obj)
    return obj


def unpack_tensors(obj: Any) -> Any:
    """Inverse of `pack_tensors` (zero-copy: tensors share the received arrays' memory)."""
    import torch

    if isinstance(obj, PackedTensor):
        tensor = torch.from_numpy(obj.array)
        return tensor.view(torch.bfloat16) if obj.dtype == "bfloat16" else tensor
    if isinstance(obj, dict):
        return {key: unpack_tensors(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(unpack_tensors(value) for value in obj)
    return obj


def _pack_batch(batch: list[Prepared]) -> list[Prepared]:
    """collate_fn (one call per batch), run in the worker: payload tensors packed for the trip back."""
    return [Prepared(p.item, pack_tensors(p.payload), p.error) for p in batch]


def _unpack_batch(batch: list[Prepared]) -> list[Prepared]:
    return [Prepared(p.item, unpack_tensors(p.payload), p.error) for p in batch]


MAX_DEFAULT_WORKERS = 4


def default_num_workers(device: str, cpu_count: int | None, ranks_on_node: int = 1) -> int:
    """Worker processes for image work when `--num-workers` is not given.

    On CPU the model's generate already uses every core, so workers would compete with it: 0 (inline). On a
    GPU, images are prepared while the GPU generates: the cores this rank has, minus one for the main
    process, at most `MAX_DEFAULT_WORKERS`.
    """
    if not device.startswith("cuda"):
        return 0
    cores = (cpu_count or 1) // max(1, ranks_on_node)
    return max(0, min(MAX_DEFAULT_WORKERS, cores - 1))


def worker_count(requested: int | None, device: str, ranks_on_node: int = 1) -> int:
    """`--num-workers` as given, else the default for this device and this machine's cores."""
    if requested is not None:
        return requested
    return default_num_workers(device, os.cpu_count(), ranks_on_node)


DEFAULT_PREPROCESS_TIMEOUT_S = 600.0
LOADER_FAILURES = ("DataLoader worker", "DataLoader timed out")  # torch's messages for a dead or hung worker
TRIES_PER_BATCH = 2  # a batch that kills or hangs its own worker this often is recorded as errors


LOADER_PREFETCH = 4  # batches each worker prepares ahead when the batches are all this rank's
CLAIMING_PREFETCH = 1  # ... and when they are claimed: a rank holds at most num_workers + 1 claimed batches


class Claimer(Protocol):
    """Where a rank gets its next batch from when batches are shared (runner/claims.py `ClaimPool`)."""

    def next_free(self) -> int | None:
        """Claim the next free batch and return its position; None once every batch is taken."""

    def mine(self) -> list[int]:
        """The positions of every batch this rank has claimed so far (read back from where claims live)."""


class BatchOrder:
    """Which batches of a planned list this rank runs, in the order it runs them.

    Without a `claimer` every batch is taken in turn. With one, a batch is claimed when the loader asks for
    one to prepare, and remembered, so the fresh loader started after a worker died re-sends the claimed
    batches not yet `delivered` before it claims more. torch raises a dead worker's error from a signal
    handler, wherever the main thread is, even between a claim and its record here: `recover` then takes
    such a claim back from the claimer, so no claimed batch is lost.
    """

    def __init__(self, n_batches: int, claimer: Claimer | None = None) -> None:
        self.n_batches = n_batches
        self.claimer = claimer
        self.claimed: list[int] = []
        self.delivered = 0  # batches of `claimed` handed to the consumer

    def _claim(self) -> int | None:
        if self.claimer is not None:
            return self.claimer.next_free()
        following = len(self.claimed)  # derived from what is recorded: an interrupted call loses nothing
        return following if following < self.n_batches else None

    def positions(self) -> Iterator[int]:
        """The claimed batches not yet delivered, then newly claimed ones (a torch sampler over positions)."""
        cursor = self.delivered
        while True:
            if cursor == len(self.claimed):
                position = self._claim()
                if position is None:
                    return
                self.claimed.append(position)
            yield self.claimed[cursor]
            cursor += 1

    def recover(self) -> None:
        """Record the claims an interrupted `positions` made but did not record (after a loader failure)."""
        if self.claimer is not None:
            known = set(self.claimed)
            self.claimed.extend(position for position in self.claimer.mine() if position not in known)

    def awaited(self) -> int | None:
        """The claimed batch the consumer waits for next (None: none claimed yet)."""
        return self.claimed[self.delivered] if self.delivered < len(self.claimed) else None


def iterate_batches(
    items: Sequence[WorkItem],
    preprocess: Callable[[Sample, str], Any],
    batch_size: int,
    num_workers: int,
    timeout_s: float = DEFAULT_PREPROCESS_TIMEOUT_S,
) -> Iterator[list[Prepared]]:
    """Batches of `batch_size` prepared items in the given order (see `iterate_planned`)."""
    yield from iterate_planned(cut(items, batch_size), preprocess, num_workers, timeout_s)


def cut(items: Sequence[T], batch_size: int) -> list[list[T]]:
    """Consecutive batches of `batch_size` items (the last one may be shorter)."""
    if batch_size < 1:
        raise BadValue(f"--batch-size must be at least 1, got {batch_size}")
    return [list(items[start : start + batch_size]) for start in range(0, len(items), batch_size)]


def iterate_planned(
    batches: Sequence[Sequence[WorkItem]],
    preprocess: Callable[[Sample, str], Any],
    num_workers: int,
    timeout_s: float = DEFAULT_PREPROCESS_TIMEOUT_S,
    order: BatchOrder | None = None,
) -> Iterator[list[Prepared]]:
    """The prepared batches `order` picks from `batches` (default: all, in list order), workers ahead.

    A worker that dies (killed, out of memory, a crash in a decoder) or delivers nothing for `timeout_s`
    stops torch's loader. The batch the loader was awaiting is then prepared alone (`_prepared_alone`: the
    worker that died may have held another batch), and a fresh loader resumes after it. With an `order`
    that claims batches (runner/claims.py), each worker prepares one batch ahead (`CLAIMING_PREFETCH`).
    """
    if not batches:
        return
    prefetch = LOADER_PREFETCH if order is None else CLAIMING_PREFETCH
    order = order if order is not None else BatchOrder(len(batches))
    if num_workers <= 0:
        for position in order.positions():
            yield prepare_batch(batches[position], preprocess)
            order.delivered += 1
        return
    while True:
        try:
            for batch in _loader(batches, order.positions(), preprocess, num_workers, timeout_s, prefetch):
                yield _unpack_batch(batch)
                order.delivered += 1
            return
        except RuntimeError as exc:
            order.recover()
            awaited = order.awaited()
            if not str(exc).startswith(LOADER_FAILURES) or awaited is None:
                raise
            yield _prepared_alone(batches[awaited], preprocess, timeout_s, exc)
            order.delivered += 1


def _prepared_alone(
    batch: Sequence[WorkItem], preprocess: Callable[[Sample, str], Any], timeout_s: float, exc: RuntimeError
) -> list[Prepared]:
    """A batch prepared by a worker of its own; preprocessing errors once it stops its own loader (the
    worker dies or hangs) `TRIES_PER_BATCH` times. `exc` is the failure that sent it here."""
    for _ in range(TRIES_PER_BATCH):
        try:
            for packed in _loader([batch], [0], preprocess, 1, timeout_s, 1):
                return _unpack_batch(packed)
        except RuntimeError as again:
            if not str(again).startswith(LOADER_FAILURES):
                raise
            exc = again
    reason = f"preprocessing failed: a worker preparing this batch died or hung ({exc})"
    return [Prepared(item, error=reason) for item in batch]


def _die_with_rank(rank_pid: int, worker_id: int) -> None:
    """DataLoader `worker_init_fn`: the worker is killed when its rank dies, even by SIGKILL."""
    del worker_id
    die_with_parent(rank_pid)


def _loader(
    batches: Sequence[Sequence[WorkItem]],
    positions: Iterable[int],
    preprocess: Callable[[Sample, str], Any],
    num_workers: int,
    timeout_s: float,
    prefetch: int = LOADER_PREFETCH,
) -> Iterator[list[Prepared]]:
    """A torch DataLoader yielding one packed batch per position (in the order `positions` gives them).

    torch asks `positions` for the next batch only when a worker has room (`prefetch` per worker).
    """
    from torch.utils.data import DataLoader

    loader: DataLoader[list[Prepared]] = DataLoader(
        BatchDataset(batches, preprocess),  # type: ignore[arg-type]
        batch_size=None,
        sampler=positions,
        num_workers=min(num_workers, len(batches)),
        collate_fn=_pack_batch,
        prefetch_factor=prefetch,
        timeout=timeout_s,
        worker_init_fn=partial(_die_with_rank, os.getpid()),
    )
    yield from loader
