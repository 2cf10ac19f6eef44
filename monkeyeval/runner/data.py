"""What a batch is made of before generation: work items, their preprocessing, and its trip from a worker.

Each item is preprocessed by the adapter's picklable `preprocessor()` (in the DataLoader workers of
runner/workers.py, or inline). A sample whose image path escapes the image root, whose image is missing,
not a regular file (a FIFO, a device) or cannot be decoded, carries an error string instead of a payload;
the run goes on. `pack_batch` / `unpack_batch` carry a prepared batch from a worker to its rank.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from monkeyeval.core.errors import BadValue
from monkeyeval.core.images import require_regular_file
from monkeyeval.core.types import Sample

if TYPE_CHECKING:
    import torch

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


SHARED_MEMORY_MIN_BYTES = 256 * 1024  # tensors this large travel in shared memory; smaller ones as bytes


@dataclass(frozen=True)
class PackedTensor:
    """A tensor travelling from a worker as a numpy array (pickled bytes, not a shared-memory handle)."""

    array: Any
    dtype: str


def pack_tensors(
    obj: Any, memo: dict[int, Any] | None = None, shared_min_bytes: int = SHARED_MEMORY_MIN_BYTES
) -> Any:
    """Replace every small torch tensor inside dicts, lists, tuples and dataclasses by a PackedTensor.

    torch's own transport gives every tensor a shared-memory segment and a file descriptor, which costs
    about 0.7 ms a tensor: more than copying the bytes of a small one (token ids, masks), far less than
    copying a large one (a page's tiles) through the pipe. So a tensor of `SHARED_MEMORY_MIN_BYTES` or more
    is left to torch (`shared_min_bytes`: the bench's knob). An object reached twice (the features dict
    every row of an hf batch shares) is packed once and stays one object after the trip.
    """
    import torch

    def pack(obj: torch.Tensor) -> Any:
        tensor = obj.detach().cpu().contiguous()
        if tensor.numel() * tensor.element_size() >= shared_min_bytes and _moved_to_shared_memory(tensor):
            return tensor
        if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16: ship the raw 16-bit patterns
            return PackedTensor(tensor.view(torch.int16).numpy(), "bfloat16")
        return PackedTensor(tensor.numpy(), "")

    return _map_leaves(obj, torch.Tensor, pack, {} if memo is None else memo)


def _moved_to_shared_memory(tensor: torch.Tensor) -> bool:
    """Move `tensor` into shared memory now, so its trip passes a file descriptor only; False when shared
    memory is short (a container's small /dev/shm): it then travels as bytes, slower but whole, where
    torch's own transport would fail in the worker's queue thread and leave the rank waiting."""
    try:
        tensor.share_memory_()
    except RuntimeError:
        return False
    return True


def unpack_tensors(obj: Any, memo: dict[int, Any] | None = None) -> Any:
    """Inverse of `pack_tensors` (zero-copy: tensors share the received arrays' memory)."""
    import torch

    def unpack(packed: PackedTensor) -> torch.Tensor:
        tensor = torch.from_numpy(packed.array)
        return tensor.view(torch.bfloat16) if packed.dtype == "bfloat16" else tensor

    return _map_leaves(obj, PackedTensor, unpack, {} if memo is None else memo)


def _map_leaves(obj: Any, leaf: type, convert: Callable[[Any], Any], memo: dict[int, Any]) -> Any:
    """`obj` with `convert` applied to every instance of `leaf` inside dicts, lists, tuples and dataclasses
    (a leaf is tested first: a PackedTensor is a dataclass too). An object reached twice is converted once,
    through `memo`, and stays one object."""
    if id(obj) in memo:
        return memo[id(obj)]
    converted: Any = obj
    if isinstance(obj, leaf):
        converted = convert(obj)
    elif isinstance(obj, dict):
        converted = {key: _map_leaves(value, leaf, convert, memo) for key, value in obj.items()}
    elif isinstance(obj, (list, tuple)):
        converted = type(obj)(_map_leaves(value, leaf, convert, memo) for value in obj)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {}
        for field in dataclasses.fields(obj):
            if field.init:
                value = getattr(obj, field.name)
                mapped = _map_leaves(value, leaf, convert, memo)
                if mapped is not value:
                    fields[field.name] = mapped
        converted = dataclasses.replace(obj, **fields) if fields else obj
    memo[id(obj)] = converted
    return converted


def pack_batch(batch: list[Prepared]) -> list[tuple[Any, str | None]]:
    """collate_fn (one call per batch), run in the worker: each item's (payload, error), payload tensors
    packed for the trip back (what the batch's payloads share, they still share after it). The work items
    stay behind: the rank has them."""
    memo: dict[int, Any] = {}
    return [(pack_tensors(p.payload, memo), p.error) for p in batch]


def unpack_batch(items: Sequence[WorkItem], packed: list[tuple[Any, str | None]]) -> list[Prepared]:
    """Inverse of `pack_batch`, run in the rank: `items` are the batch's work items, in order."""
    memo: dict[int, Any] = {}
    return [
        Prepared(item, unpack_tensors(payload, memo), error)
        for item, (payload, error) in zip(items, packed, strict=True)
    ]


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


def cut(items: Sequence[T], batch_size: int) -> list[list[T]]:
    """Consecutive batches of `batch_size` items (the last one may be shorter)."""
    if batch_size < 1:
        raise BadValue(f"--batch-size must be at least 1, got {batch_size}")
    return [list(items[start : start + batch_size]) for start in range(0, len(items), batch_size)]
