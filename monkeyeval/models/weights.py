"""Checkpoint files: locate (local folder or hub id), read tensors, and fill a module strictly.

`load_streaming` is the loader of the native families: the module is built on the meta device in its target
dtype and every tensor is materialised on the target device straight from the (memory-mapped) shard, one
tensor at a time, so the peak is the weights in that dtype plus one shard's mapped pages.
`read_state_dict` + `load_strict` read everything into host memory first (small checkpoints, tests).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from monkeyeval.core import jsontext
from monkeyeval.core.atomic import utf8
from monkeyeval.core.errors import UserError
from monkeyeval.models.hash_cache import cached_digest

if TYPE_CHECKING:  # torch is imported where tensors are read: hashing and `replay` never need it
    import torch


class CheckpointError(UserError, RuntimeError):
    """A checkpoint that cannot be used as it is (missing files, unconsumed or missing tensors)."""


def resolve_checkpoint(checkpoint: str) -> Path:
    """A local folder as is; otherwise a hub id downloaded with huggingface_hub (needs network access)."""
    local = Path(checkpoint).expanduser()
    if local.is_dir():
        return local.resolve()
    if local.exists():
        raise CheckpointError(f"{checkpoint}: expected a checkpoint folder, found a file")
    if checkpoint.count("/") != 1 or checkpoint.startswith((".", "/")):
        raise CheckpointError(f"{checkpoint}: no such folder, and not a hub id of the form owner/name")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(checkpoint))
    except Exception as exc:  # network, auth, missing repo: all end here
        raise CheckpointError(
            f"{checkpoint}: not a local folder, and downloading it from the Hugging Face hub failed "
            f"({type(exc).__name__}: {exc}). Hub downloads need network access; on an offline machine, "
            "download the checkpoint elsewhere and pass its local folder to --ckpt."
        ) from exc


def weight_files(folder: Path) -> list[Path]:
    """The weight files of a checkpoint folder: single or sharded safetensors, else single or sharded bin."""
    for index_name, single in (
        ("model.safetensors.index.json", "model.safetensors"),
        ("pytorch_model.bin.index.json", "pytorch_model.bin"),
    ):
        index = folder / index_name
        if index.exists():
            return _indexed_shards(index)
        if (folder / single).exists():
            return [folder / single]
    shards = sorted(folder.glob("*.safetensors"))
    if shards:
        return shards
    raise CheckpointError(
        f"{folder}: no weights found (looked for model.safetensors, sharded *.safetensors with "
        "model.safetensors.index.json, pytorch_model.bin, pytorch_model-*.bin with its index json)"
    )


def _indexed_shards(index: Path) -> list[Path]:
    """The shard files an index json names (each must exist)."""
    try:
        weight_map = jsontext.loads(index.read_text(encoding="utf-8"))["weight_map"]
        names = sorted({str(name) for name in weight_map.values()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(
            f"{index}: not a usable shard index ({type(exc).__name__}: {exc}); it must be JSON with a "
            '"weight_map" object of tensor name -> shard file'
        ) from None
    shards = [index.parent / name for name in names]
    absent = [shard.name for shard in shards if not shard.is_file()]
    if absent:
        raise CheckpointError(f"{index}: names shard files that are missing: {absent[:5]}")
    return shards


SAFETENSORS_HEADER_LIMIT = 100 * 1024 * 1024  # the safetensors format's own bound on the header size


def check_safetensors(path: Path) -> None:
    """Raise CheckpointError unless `path` is a whole safetensors file (valid header, all data present)."""
    problem = _safetensors_problem(path)
    if problem is not None:
        raise CheckpointError(
            f"{path}: not a complete safetensors file: {problem}; download or convert the checkpoint again"
        )


def _safetensors_problem(path: Path) -> str | None:
    """What is wrong with a safetensors file, or None.

    The format: an 8-byte little-endian header length N, N bytes of JSON (tensor -> dtype, shape,
    data_offsets), then the data, whose size must equal the largest end offset.
    """
    size = path.stat().st_size
    with open(path, "rb") as handle:
        prefix = handle.read(8)
        length = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
        if length < 2 or length > min(SAFETENSORS_HEADER_LIMIT, size - 8):
            return f"{size} bytes, no valid header (truncated or not a safetensors file)"
        header_bytes = handle.read(length)
    try:
        header = jsontext.loads(header_bytes)
        entries = [entry for key, entry in header.items() if key != "__metadata__"]
        data_size = max((int(entry["data_offsets"][1]) for entry in entries), default=0)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        return f"unreadable header ({type(exc).__name__}: {exc})"
    expected = 8 + length + data_size
    if size != expected:
        return f"{size} bytes where its header describes {expected} (truncated or damaged)"
    return None


def check_weight_files(folder: Path) -> list[Path]:
    """`weight_files(folder)`, each safetensors file checked whole (see `check_safetensors`)."""
    files = weight_files(folder)
    for path in files:
        if path.suffix == ".safetensors":
            check_safetensors(path)
    return files


def read_state_dict(folder: Path) -> dict[str, torch.Tensor]:
    """Every tensor of every weight file, by name (bin files load with weights_only=True)."""
    state: dict[str, torch.Tensor] = {}
    for path in check_weight_files(folder):
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            part = load_file(str(path))
        else:
            part = _load_bin(path)
        overlap = state.keys() & part.keys()
        if overlap:
            raise CheckpointError(f"{path}: tensors also present in another shard: {sorted(overlap)[:5]}")
        state.update(part)
    return state


def _load_bin(path: Path) -> dict[str, torch.Tensor]:
    """A `.bin` state dict (weights_only: no code runs); a damaged file is a CheckpointError naming it."""
    import pickle

    import torch

    try:
        part = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: cannot read this PyTorch weights file ({type(exc).__name__}: {str(exc)[:200]}); it is "
            "truncated, damaged or holds more than tensors"
        ) from None
    if not isinstance(part, dict) or not all(isinstance(v, torch.Tensor) for v in part.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensor name -> tensor")
    return part


Rename = Callable[[str], str | None]  # checkpoint key -> module key, None = skip


def _same_key(key: str) -> str | None:
    return key


def load_strict(
    module: torch.nn.Module,
    state: Mapping[str, torch.Tensor],
    rename: Rename = _same_key,
    source: str = "checkpoint",
) -> None:
    """Copy `state` into `module`: every checkpoint tensor consumed, every parameter filled, shapes equal.

    `rename` maps a checkpoint key to a module key (None = a tensor deliberately ignored, which must be rare
    and documented by the caller). Raises CheckpointError listing what is unconsumed, missing or mismatched.
    """
    import torch

    targets = dict(module.state_dict())
    shapes = {key: tuple(tensor.shape) for key, tensor in state.items()}
    _check_strict(shapes, {name: tuple(t.shape) for name, t in targets.items()}, rename, source)
    with torch.no_grad():
        for key, tensor in state.items():
            name = rename(key)
            if name is not None:
                targets[name].copy_(tensor.to(targets[name].dtype))


def _check_strict(
    checkpoint: Mapping[str, tuple[int, ...]],
    model: Mapping[str, tuple[int, ...]],
    rename: Rename,
    source: str,
) -> None:
    """Raise CheckpointError listing unconsumed checkpoint keys, unfilled model keys and shape mismatches."""
    filled: set[str] = set()
    unconsumed: list[str] = []
    mismatched: list[str] = []
    for key, shape in checkpoint.items():
        name = rename(key)
        if name is None:
            continue
        if name not in model:
            unconsumed.append(key)
        elif model[name] != shape:
            mismatched.append(f"{key}: checkpoint {shape} vs model {model[name]}")
        else:
            filled.add(name)
    missing = [name for name in model if name not in filled]
    problems = []
    if unconsumed:
        problems.append(f"{len(unconsumed)} checkpoint tensors not consumed: {unconsumed[:8]}")
    if missing:
        problems.append(f"{len(missing)} model tensors not filled: {missing[:8]}")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatches: {mismatched[:8]}")
    if problems:
        raise CheckpointError(f"{source}: " + "; ".join(problems))


def shard_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor of one weight file, without reading tensor data."""
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            return {name: tuple(handle.get_slice(name).get_shape()) for name in handle.keys()}  # noqa: SIM118
    return {name: tuple(tensor.shape) for name, tensor in _load_bin_mapped(path).items()}


def shard_tensors(path: Path) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) of one weight file, one at a time, memory-mapped: safetensors, or a zip-format `.bin`
    with mmap=True (a legacy `.bin` is read whole). Tensors may view the mapping: copy what must last."""
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            for name in handle.keys():  # noqa: SIM118 (a safe_open handle is not a mapping)
                yield name, handle.get_tensor(name)
        return
    yield from _load_bin_mapped(path).items()


def _load_bin_mapped(path: Path) -> dict[str, torch.Tensor]:
    """A `.bin` state dict memory-mapped where its format allows, else read whole (`_load_bin`)."""
    import torch

    try:
        part = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # legacy format, or damaged: the plain reader reads it whole or names the file
        return _load_bin(path)
    if not isinstance(part, dict) or not all(isinstance(v, torch.Tensor) for v in part.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensor name -> tensor")
    return part


def load_streaming(
    module: torch.nn.Module,
    folder: Path,
    device: torch.device | str = "cpu",
    rename: Rename = _same_key,
    source: str = "checkpoint",
) -> None:
    """Fill `module` from the weight files of `folder`, strictly (see `load_strict`), shard by shard.

    Tensors on the meta device are materialised on `device` in their own dtype (build the module on meta
    and `.to(dtype)` it first: floating tensors take `dtype`, others keep theirs); each checkpoint tensor
    is cast on the host exactly as `tensor.to(dtype)`, then placed. Tensors already materialised are
    copied into in place. Shared (tied) tensors stay shared. Every check runs on the shard headers before
    any data is read; a tensor still on the meta device afterwards (say a non-persistent buffer computed
    in `__init__`) is a CheckpointError naming it.
    """
    import torch

    files = check_weight_files(folder)
    checkpoint: dict[str, tuple[int, ...]] = {}
    for path in files:
        shapes = shard_shapes(path)
        overlap = checkpoint.keys() & shapes.keys()
        if overlap:
            raise CheckpointError(f"{path}: tensors also present in another shard: {sorted(overlap)[:5]}")
        checkpoint.update(shapes)
    targets = module.state_dict(keep_vars=True)
    _check_strict(checkpoint, {name: tuple(t.shape) for name, t in targets.items()}, rename, source)
    slots = _tensor_slots(module)
    placed: dict[int, torch.Tensor] = {}  # id of a meta tensor -> its materialised replacement
    target_device = torch.device(device)
    with torch.no_grad():
        for path in files:
            for key, tensor in shard_tensors(path):
                name = rename(key)
                if name is None:
                    continue
                target = targets[name]
                if not target.is_meta:
                    target.copy_(tensor.to(target.dtype))
                elif id(target) in placed:  # a tied tensor met again under another name
                    placed[id(target)].copy_(tensor.to(target.dtype))
                else:
                    placed[id(target)] = _materialise(target, tensor, target_device, slots)
    left = meta_tensors(module)
    if left:
        raise CheckpointError(
            f"{source}: {len(left)} model tensors are still on the meta device after loading: {left[:8]}. "
            "They are in no checkpoint; a non-persistent buffer must be computed where it is used (or "
            "recomputed on the target device by the model's loader), not only in __init__."
        )


Slot = tuple["torch.nn.Module", str]  # owning module, attribute name


def _tensor_slots(module: torch.nn.Module) -> dict[int, list[Slot]]:
    """Every (module, attribute) holding each parameter or buffer, by tensor id (tied ones have several)."""
    slots: dict[int, list[Slot]] = {}
    for owner in module.modules():
        for attr, tensor in [*owner._parameters.items(), *owner._buffers.items()]:
            if tensor is not None:
                slots.setdefault(id(tensor), []).append((owner, attr))
    return slots


def _materialise(
    target: torch.Tensor, value: torch.Tensor, device: torch.device, slots: Mapping[int, list[Slot]]
) -> torch.Tensor:
    """`value` cast to `target`'s dtype on the host, placed on `device`, set in every slot of `target`."""
    import torch

    data = value.to(target.dtype)
    if device.type != "cpu":
        data = data.to(device)
    elif data is value:
        data = data.clone()  # never keep a view of the mapped file
    replacement = (
        torch.nn.Parameter(data, target.requires_grad) if isinstance(target, torch.nn.Parameter) else data
    )
    for owner, attr in slots[id(target)]:
        setattr(owner, attr, replacement)  # nn.Module keeps a parameter a parameter, a buffer a buffer
    return replacement


def meta_tensors(module: torch.nn.Module) -> list[str]:
    """Names of the parameters, buffers and plain tensor attributes of `module` left on the meta device."""
    import torch

    names = []
    for prefix, owner in module.named_modules(remove_duplicate=False):
        dot = f"{prefix}." if prefix else ""
        tensors = [*owner._parameters.items(), *owner._buffers.items()]
        tensors += [(k, v) for k, v in vars(owner).items() if isinstance(v, torch.Tensor)]
        names += [dot + attr for attr, tensor in tensors if tensor is not None and tensor.is_meta]
    return sorted(set(names))


def hash_files(paths: list[Path], chunk: int = 1 << 20) -> str:
    """SHA-256 over the given files' names and bytes (for the model fingerprint)."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(utf8(path.name))
        with open(path, "rb") as handle:
            while block := handle.read(chunk):
                digest.update(block)
    return digest.hexdigest()


def checkpoint_sha256(folder: Path, side_files: Sequence[str]) -> str:
    """SHA-256 over the named side files that exist (config, tokenizer, ...) and every weight file; computed
    once per state of those files (`models.hash_cache`)."""
    present = [folder / name for name in side_files if (folder / name).is_file()]
    return cached_digest("hash_files", present + weight_files(folder), hash_files)
