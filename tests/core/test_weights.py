"""Checkpoint reading and strict loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from monkeyeval.models.weights import (
    CheckpointError,
    check_safetensors,
    checkpoint_sha256,
    hash_files,
    load_strict,
    read_state_dict,
    resolve_checkpoint,
    weight_files,
)


def _module() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4))


def _state() -> dict[str, torch.Tensor]:
    return {k: v.clone() + 1 for k, v in _module().state_dict().items()}


def test_single_safetensors_round_trip(tmp_path: Path) -> None:
    save_file(_state(), str(tmp_path / "model.safetensors"))
    module = _module()
    load_strict(module, read_state_dict(tmp_path))
    for key, value in _state().items():
        assert torch.equal(module.state_dict()[key], value)


def test_sharded_safetensors_with_index(tmp_path: Path) -> None:
    state = _state()
    keys = sorted(state)
    save_file({k: state[k] for k in keys[:2]}, str(tmp_path / "model-00001-of-00002.safetensors"))
    save_file({k: state[k] for k in keys[2:]}, str(tmp_path / "model-00002-of-00002.safetensors"))
    index = {
        "weight_map": {k: f"model-0000{1 if i < 2 else 2}-of-00002.safetensors" for i, k in enumerate(keys)}
    }
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    assert len(weight_files(tmp_path)) == 2
    assert set(read_state_dict(tmp_path)) == set(keys)


def test_sharded_bin_with_index(tmp_path: Path) -> None:
    state = _state()
    keys = sorted(state)
    torch.save({k: state[k] for k in keys[:1]}, tmp_path / "pytorch_model-00001-of-00002.bin")
    torch.save({k: state[k] for k in keys[1:]}, tmp_path / "pytorch_model-00002-of-00002.bin")
    index = {
        "weight_map": {k: f"pytorch_model-0000{1 if i < 1 else 2}-of-00002.bin" for i, k in enumerate(keys)}
    }
    (tmp_path / "pytorch_model.bin.index.json").write_text(json.dumps(index))
    module = _module()
    load_strict(module, read_state_dict(tmp_path))
    assert torch.equal(module.state_dict()[keys[0]], state[keys[0]])


def test_extra_tensor_is_not_silently_ignored(tmp_path: Path) -> None:
    state = _state() | {"unexpected.weight": torch.zeros(2)}
    with pytest.raises(CheckpointError, match=r"not consumed: \['unexpected.weight'\]"):
        load_strict(_module(), state)


def test_missing_tensor_is_reported(tmp_path: Path) -> None:
    state = _state()
    state.pop("1.bias")
    with pytest.raises(CheckpointError, match=r"not filled: \['1.bias'\]"):
        load_strict(_module(), state)


def test_shape_mismatch_is_reported() -> None:
    state = _state()
    state["0.weight"] = torch.zeros(5, 3)
    with pytest.raises(CheckpointError, match="shape mismatches"):
        load_strict(_module(), state)


def test_rename_maps_prefixes() -> None:
    state = {f"transformer.{k}": v for k, v in _state().items()}
    module = _module()
    load_strict(module, state, rename=lambda key: key.removeprefix("transformer."))
    assert torch.equal(module.state_dict()["0.bias"], _state()["0.bias"])


def test_folder_without_weights_names_what_it_looked_for(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"model\.safetensors"):
        weight_files(tmp_path)


def test_resolve_local_folder_and_bad_ids(tmp_path: Path) -> None:
    assert resolve_checkpoint(str(tmp_path)) == tmp_path.resolve()
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(CheckpointError, match="found a file"):
        resolve_checkpoint(str(tmp_path / "file.txt"))
    with pytest.raises(CheckpointError, match="no such folder"):
        resolve_checkpoint(str(tmp_path / "missing" / "deeper"))


def test_hub_failure_explains_network_requirement(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    def offline(repo_id: str) -> str:
        raise OSError("network unreachable")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(CheckpointError, match="network access"):
        resolve_checkpoint("echo840/Monkey")


def test_hash_changes_with_content(tmp_path: Path) -> None:
    a = tmp_path / "a.bin"
    a.write_bytes(b"1")
    first = hash_files([a])
    a.write_bytes(b"2")
    assert hash_files([a]) != first


def test_checkpoint_sha256_covers_side_files_and_weights(tmp_path: Path) -> None:
    save_file(_state(), str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text("{}")
    first = checkpoint_sha256(tmp_path, ("config.json", "absent.json"))
    assert first == hash_files([tmp_path / "config.json", tmp_path / "model.safetensors"])
    (tmp_path / "config.json").write_text('{"a": 1}')
    assert checkpoint_sha256(tmp_path, ("config.json",)) != first


def test_dtype_names_short_and_long() -> None:
    from monkeyeval.models.dtypes import named_dtype

    assert named_dtype("bf16") is named_dtype("bfloat16") is torch.bfloat16
    assert named_dtype("fp32") is torch.float32
    assert named_dtype("int8") is None


def _saved(tmp_path: Path) -> Path:
    path = tmp_path / "model.safetensors"
    save_file(_state(), str(path))
    return path


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[: len(data) - 10], "where its header describes"),
        (lambda data: data[: len(data) // 2], "no valid header"),  # cut inside the header
        (lambda data: data[:-1], "where its header describes"),
        (lambda data: data + b"\0", "where its header describes"),
        (lambda data: b"", "0 bytes, no valid header"),
        (lambda data: data[:7], "no valid header"),
        (lambda data: (2**40).to_bytes(8, "little") + data[8:], "no valid header"),
        (lambda data: data[:8] + b"{" * (len(data) - 8), "unreadable header"),
        (lambda data: b"GARBAGE!" + data[8:], "no valid header"),
    ],
)
def test_a_damaged_safetensors_file_is_named_before_loading(tmp_path: Path, damage, message: str) -> None:
    path = _saved(tmp_path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CheckpointError, match="not a complete safetensors file") as caught:
        read_state_dict(tmp_path)
    assert str(path) in str(caught.value) and message in str(caught.value)


def test_a_whole_safetensors_file_passes_the_check(tmp_path: Path) -> None:
    check_safetensors(_saved(tmp_path))


def test_a_bad_shard_index_is_named(tmp_path: Path) -> None:
    index = tmp_path / "model.safetensors.index.json"
    index.write_text("[" * 50_000, encoding="utf-8")  # nested too deeply for json: still a clear error
    with pytest.raises(CheckpointError, match="not a usable shard index"):
        weight_files(tmp_path)
    index.write_text(json.dumps({"weight_map": {"a": "model-00001.safetensors"}}), encoding="utf-8")
    with pytest.raises(CheckpointError, match=r"missing: \['model-00001.safetensors'\]"):
        weight_files(tmp_path)


def test_a_truncated_bin_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "pytorch_model.bin"
    torch.save(_state(), path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="cannot read this PyTorch weights file") as caught:
        read_state_dict(tmp_path)
    assert str(path) in str(caught.value)


def test_checkpoint_digest_is_computed_once_per_state_of_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monkeyeval.models import weights

    monkeypatch.setenv("MONKEYEVAL_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "ckpt"
    folder.mkdir()
    save_file(_state(), str(folder / "model.safetensors"))
    (folder / "config.json").write_text("{}", encoding="utf-8")
    reads: list[int] = []
    real = weights.hash_files
    monkeypatch.setattr(weights, "hash_files", lambda paths: reads.append(len(paths)) or real(paths))
    first = checkpoint_sha256(folder, ("config.json",))
    assert first == real([folder / "config.json", folder / "model.safetensors"])  # same digest as before
    assert checkpoint_sha256(folder, ("config.json",)) == first and reads == [
        2
    ]  # the second start reads nothing
    (folder / "config.json").write_text("{}", encoding="utf-8")  # same bytes, new ctime: hashed again
    assert checkpoint_sha256(folder, ("config.json",)) == first and reads == [2, 2]
    (folder / "config.json").write_text('{"a": 1}', encoding="utf-8")
    changed = checkpoint_sha256(folder, ("config.json",))
    assert changed != first and reads == [2, 2, 2]
    entries = list((tmp_path / "cache" / "checkpoint-hashes").glob("*.json"))
    assert len(entries) == 3 and all(json.loads(e.read_text())["sha256"] in (first, changed) for e in entries)
    for entry in entries:
        entry.write_text("{damaged", encoding="utf-8")  # a damaged entry is recomputed, never trusted
    assert checkpoint_sha256(folder, ("config.json",)) == changed and len(reads) == 4


def test_an_unwritable_cache_still_gives_the_digest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    monkeypatch.setenv("MONKEYEVAL_CACHE_DIR", str(blocker / "cache"))
    save_file(_state(), str(tmp_path / "model.safetensors"))
    assert checkpoint_sha256(tmp_path, ()) == hash_files([tmp_path / "model.safetensors"])
