"""The parity fixture packer: packing then unpacking gives the upstream bytes (or arrays) back, and a
corrupted packed file is refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from parity_fixtures import PACKING, pack, unpack
from safetensors.numpy import load_file, save_file


def _upstream_like(root: Path) -> None:
    rng = np.random.default_rng(0)
    (root / "minimonkey" / "generation").mkdir(parents=True)
    (root / "monkey" / "checkpoint").mkdir(parents=True)
    (root / "textmonkey" / "checkpoint").mkdir(parents=True)
    save_file(
        {"w": rng.standard_normal((64, 32)).astype(np.float32), "i": np.arange(7, dtype=np.int64)},
        str(root / "monkey" / "checkpoint" / "model.safetensors"),
    )
    vocab = "".join(f"token{i} {i}\n" for i in range(20_000))
    for family in ("monkey", "textmonkey"):
        (root / family / "checkpoint" / "qwen.tiktoken").write_text(vocab)
    np.savez(root / "monkey" / "arrays.npz", logits=rng.standard_normal((3, 5)).astype(np.float32))
    vit = rng.standard_normal((2, 16, 4)).astype(np.float32)
    np.savez(root / "minimonkey" / "generation" / "plain.npz", vit_embeds=vit)
    np.savez(root / "minimonkey" / "generation" / "scm.npz", vit_embeds=vit)
    cases = [{"arrays_file": "generation/plain.npz", "use_scm": False}]
    cases.append({"arrays_file": "generation/scm.npz", "use_scm": True})
    (root / "minimonkey" / "generation" / "cases.jsonl").write_text(
        "".join(json.dumps(c) + "\n" for c in cases)
    )


def test_pack_unpack_round_trip(tmp_path: Path) -> None:
    source, packed, out = tmp_path / "upstream", tmp_path / "packed", tmp_path / "out"
    _upstream_like(source)
    pack(source, packed)
    manifest = json.loads((packed / PACKING).read_text())["files"]
    assert manifest["textmonkey/checkpoint/qwen.tiktoken"]["codec"] == "copy"
    assert manifest["monkey/checkpoint/model.safetensors"]["codec"] == "safetensors-planes-xz"
    assert not (packed / "monkey" / "checkpoint" / "model.safetensors").exists()
    unpack(packed, out)
    for name in ("monkey/checkpoint/model.safetensors", "textmonkey/checkpoint/qwen.tiktoken"):
        assert (out / name).read_bytes() == (source / name).read_bytes(), name
    with np.load(out / "monkey" / "arrays.npz") as got, np.load(source / "monkey" / "arrays.npz") as want:
        assert got.files == want.files and np.array_equal(got["logits"], want["logits"])
    with np.load(out / "minimonkey" / "generation" / "scm.npz") as kept:  # fed to the LM: kept whole
        assert np.array_equal(kept["vit_embeds"], load_vit(source, "scm"))
    with np.load(out / "minimonkey" / "generation" / "plain.npz") as strided:
        stride = int(strided["vit_embeds_token_stride"])
        assert np.array_equal(strided["vit_embeds_strided"], load_vit(source, "plain")[:, ::stride])
    assert load_file(str(out / "monkey" / "checkpoint" / "model.safetensors")).keys() == {"w", "i"}


def load_vit(source: Path, name: str) -> np.ndarray:
    with np.load(source / "minimonkey" / "generation" / f"{name}.npz") as npz:
        return npz["vit_embeds"]


def test_a_corrupted_packed_file_is_refused(tmp_path: Path) -> None:
    source, packed = tmp_path / "upstream", tmp_path / "packed"
    _upstream_like(source)
    pack(source, packed)
    manifest = json.loads((packed / PACKING).read_text())
    manifest["files"]["monkey/checkpoint/qwen.tiktoken"]["sha256"] = "0" * 64
    (packed / PACKING).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="sha256 differs"):
        unpack(packed, tmp_path / "out")
