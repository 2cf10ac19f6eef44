"""Checkpoint files: locate (local folder or hub id), read every tensor, and fill a module strictly."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch

from monkeyeval.core.atomic import utf8
from monkeyeval.core.errors import UserError


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
            weight_map = json.loads(index.read_text())["weight_map"]
            return [folder / name for name in sorted(set(weight_map.values()))]
        if (folder / single).exists():
            return [folder / single]
    shards = sorted(folder.glob("*.safetensors"))
    if shards:
        return shards
    raise CheckpointError(
        f"{folder}: no weights found (looked for model.safetensors, sharded *.safetensors with "
        "model.safetensors.index.json, pytorch_model.bin, pytorch_model-*.bin with its index json)"
    )


def read_state_dict(folder: Path) -> dict[str, torch.Tensor]:
    """Every tensor of every weight file, by name (bin files load with weights_only=True)."""
    state: dict[str, torch.Tensor] = {}
    for path in weight_files(folder):
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            part = load_file(str(path))
        else:
            part = torch.load(path, map_location="cpu", weights_only=True)
        overlap = state.keys() & part.keys()
        if overlap:
            raise CheckpointError(f"{path}: tensors also present in another shard: {sorted(overlap)[:5]}")
        state.update(part)
    return state


def load_strict(
    module: torch.nn.Module,
    state: Mapping[str, torch.Tensor],
    rename: Callable[[str], str | None] = lambda key: key,
    source: str = "checkpoint",
) -> None:
    """Copy `state` into `module`: every checkpoint tensor consumed, every parameter filled, shapes equal.

    `rename` maps a checkpoint key to a module key (None = a tensor deliberately ignored, which must be rare
    and documented by the caller). Raises CheckpointError listing what is unconsumed, missing or mismatched.
    """
    targets = dict(module.state_dict())
    filled: set[str] = set()
    unconsumed: list[str] = []
    mismatched: list[str] = []
    with torch.no_grad():
        for key, tensor in state.items():
            name = rename(key)
            if name is None:
                continue
            target = targets.get(name)
            if target is None:
                unconsumed.append(key)
                continue
            if tuple(target.shape) != tuple(tensor.shape):
                mismatched.append(f"{key}: checkpoint {tuple(tensor.shape)} vs model {tuple(target.shape)}")
                continue
            target.copy_(tensor.to(target.dtype))
            filled.add(name)
    missing = [name for name in targets if name not in filled]
    problems = []
    if unconsumed:
        problems.append(f"{len(unconsumed)} checkpoint tensors not consumed: {unconsumed[:8]}")
    if missing:
        problems.append(f"{len(missing)} model tensors not filled: {missing[:8]}")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatches: {mismatched[:8]}")
    if problems:
        raise CheckpointError(f"{source}: " + "; ".join(problems))


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
    """SHA-256 over the named side files that exist (config, tokenizer, ...) and every weight file."""
    present = [folder / name for name in side_files if (folder / name).is_file()]
    return hash_files(present + weight_files(folder))
