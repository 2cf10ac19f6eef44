"""Worker-side preprocessing: a torch DataLoader over (sample, prompt) items, errors recorded per sample.

Each item is preprocessed by the adapter's picklable `preprocessor()` in DataLoader worker processes
(overlapping with generation in the main process). A sample whose image path escapes the image root, whose
image is missing, not a regular file (a FIFO, a device) or cannot be decoded, carries an error string instead
of a payload; the run goes on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from monkeyeval.core.errors import BadValue
from monkeyeval.core.images import require_regular_file
from monkeyeval.core.lifeline import die_with_parent
from monkeyeval.core.types import Sample


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
        return [prepare(item, self.preprocess) for item in self.batches[position]]


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
TRIES_PER_BATCH = 2


def iterate_batches(
    items: Sequence[WorkItem],
    preprocess: Callable[[Sample, str], Any],
    batch_size: int,
    num_workers: int,
    timeout_s: float = DEFAULT_PREPROCESS_TIMEOUT_S,
) -> Iterator[list[Prepared]]:
    """Batches of prepared items in the given order (workers preprocess ahead of the consumer).

    A worker that dies (killed, out of memory, a crash in a decoder) or delivers nothing for `timeout_s`
    stops torch's loader; a fresh loader then resumes at the batch that was awaited. A batch that stops the
    loader `TRIES_PER_BATCH` times is recorded as preprocessing errors and the run goes on.
    """
    if batch_size < 1:
        raise BadValue(f"--batch-size must be at least 1, got {batch_size}")
    batches = [items[start : start + batch_size] for start in range(0, len(items), batch_size)]
    if num_workers <= 0:
        for work in batches:
            yield [prepare(item, preprocess) for item in work]
        return
    position, failures = 0, [0] * len(batches)
    while position < len(batches):
        try:
            for batch in _loader(batches[position:], preprocess, num_workers, timeout_s):
                yield _unpack_batch(batch)
                position += 1
        except RuntimeError as exc:
            if not str(exc).startswith(LOADER_FAILURES):
                raise
            failures[position] += 1
            if failures[position] >= TRIES_PER_BATCH:
                reason = f"preprocessing failed: a worker preparing this batch died or hung ({exc})"
                yield [Prepared(item, error=reason) for item in batches[position]]
                position += 1


def _die_with_rank(rank_pid: int, worker_id: int) -> None:
    """DataLoader `worker_init_fn`: the worker is killed when its rank dies, even by SIGKILL."""
    del worker_id
    die_with_parent(rank_pid)


def _loader(
    batches: Sequence[Sequence[WorkItem]],
    preprocess: Callable[[Sample, str], Any],
    num_workers: int,
    timeout_s: float,
) -> Iterator[list[Prepared]]:
    """A torch DataLoader yielding one packed batch per item of `batches`, in order."""
    from torch.utils.data import DataLoader

    loader: DataLoader[list[Prepared]] = DataLoader(
        BatchDataset(batches, preprocess),  # type: ignore[arg-type]
        batch_size=None,
        shuffle=False,
        num_workers=min(num_workers, len(batches)),
        collate_fn=_pack_batch,
        prefetch_factor=4,
        timeout=timeout_s,
        worker_init_fn=partial(_die_with_rank, os.getpid()),
    )
    yield from loader
