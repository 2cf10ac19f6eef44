"""`weights.load_streaming`: meta modules filled shard by shard, strictly, in the target dtype."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from monkeyeval.models.weights import CheckpointError, load_streaming, load_strict, meta_tensors


class Tiny(torch.nn.Module):
    """A linear layer, a norm, an integer buffer and an optionally tied head."""

    def __init__(self, tied: bool = False) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(6, 4)
        self.norm = torch.nn.LayerNorm(4)
        self.head = torch.nn.Linear(4, 6, bias=False)
        if tied:
            self.head.weight = self.embed.weight
        self.register_buffer("steps", torch.arange(3, dtype=torch.int64))


def on_meta(dtype: torch.dtype = torch.bfloat16, tied: bool = False) -> Tiny:
    with torch.device("meta"):
        return Tiny(tied).to(dtype)


def fp32_state() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    state = {
        name: torch.randn(tensor.shape, generator=generator) for name, tensor in Tiny().state_dict().items()
    }
    state["steps"] = torch.tensor([7, 8, 9])
    return state


def write_shards(folder: Path, state: dict[str, torch.Tensor], fmt: str = "safetensors") -> None:
    """`state` split over two shards with an index json (HF layout)."""
    names = sorted(state)
    stem, suffix = ("model", "safetensors") if fmt == "safetensors" else ("pytorch_model", "bin")
    parts = {f"{stem}-00001-of-00002.{suffix}": names[::2], f"{stem}-00002-of-00002.{suffix}": names[1::2]}
    weight_map = {}
    for shard, keys in parts.items():
        tensors = {key: state[key].contiguous() for key in keys}
        if fmt == "safetensors":
            save_file(tensors, str(folder / shard))
        else:
            torch.save(tensors, folder / shard)
        weight_map.update(dict.fromkeys(keys, shard))
    (folder / f"{stem}.{suffix}.index.json").write_text(json.dumps({"weight_map": weight_map}))


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_bf16_target_from_fp32_shards_equals_to_bfloat16(tmp_path: Path, fmt: str) -> None:
    state = fp32_state()
    write_shards(tmp_path, state, fmt)
    module = on_meta(torch.bfloat16)
    load_streaming(module, tmp_path, "cpu")
    loaded = module.state_dict()
    assert meta_tensors(module) == []
    for name, tensor in state.items():
        expected = tensor.to(torch.bfloat16) if tensor.is_floating_point() else tensor
        assert loaded[name].dtype == expected.dtype, name
        assert torch.equal(loaded[name], expected), name  # bit for bit the `.to(bfloat16)` values
    assert loaded["steps"].dtype == torch.int64  # non-floating tensors keep their dtype
    assert isinstance(module.head.weight, torch.nn.Parameter) and module.head.weight.requires_grad
    assert "steps" in dict(module.named_buffers())


def test_streaming_equals_the_in_memory_loader(tmp_path: Path) -> None:
    state = fp32_state()
    write_shards(tmp_path, state)
    streamed = on_meta(torch.float16)
    load_streaming(streamed, tmp_path)
    with torch.device("meta"):
        reference = Tiny()
    reference = reference.to_empty(device="cpu").to(torch.float16)
    load_strict(reference, state)
    for name, tensor in reference.state_dict().items():
        assert torch.equal(streamed.state_dict()[name], tensor), name


def test_the_loaded_tensors_own_their_memory(tmp_path: Path) -> None:
    """Same-dtype tensors are copied out of the memory-mapped shard: rewriting the file changes nothing."""
    state = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in fp32_state().items()}
    write_shards(tmp_path, state)
    module = on_meta(torch.bfloat16)
    load_streaming(module, tmp_path)
    for path in tmp_path.glob("*.safetensors"):
        with open(path, "r+b") as handle:  # zero the data in place (same inode: a mapping would see it)
            header = int.from_bytes(handle.read(8), "little")
            handle.seek(8 + header)
            handle.write(bytes(path.stat().st_size - 8 - header))
    for name, tensor in state.items():
        assert torch.equal(module.state_dict()[name], tensor), name


def test_already_materialised_tensors_are_copied_into(tmp_path: Path) -> None:
    state = fp32_state()
    write_shards(tmp_path, state)
    module = Tiny()
    weight = module.head.weight
    load_streaming(module, tmp_path)
    assert module.head.weight is weight and torch.equal(weight, state["head.weight"])


def test_tied_parameters_stay_tied(tmp_path: Path) -> None:
    state = fp32_state()
    state["head.weight"] = state["embed.weight"].clone()
    write_shards(tmp_path, state)
    module = on_meta(torch.bfloat16, tied=True)
    load_streaming(module, tmp_path)
    assert module.head.weight is module.embed.weight
    assert torch.equal(module.head.weight, state["embed.weight"].to(torch.bfloat16))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda s: s | {"extra.weight": torch.zeros(2)},
            r"1 checkpoint tensors not consumed: \['extra.weight'\]",
        ),
        (
            lambda s: {k: v for k, v in s.items() if k != "norm.bias"},
            r"1 model tensors not filled: \['norm.bias'\]",
        ),
        (
            lambda s: s | {"head.weight": torch.zeros(6, 5)},
            r"\['head.weight: checkpoint \(6, 5\) vs model \(6, 4\)'\]",
        ),
    ],
)
def test_strictness_is_that_of_load_strict(tmp_path: Path, change, message: str) -> None:
    state = change(fp32_state())
    write_shards(tmp_path, state)
    with pytest.raises(CheckpointError, match=message) as streamed:
        load_streaming(on_meta(), tmp_path, source="ckpt")
    with pytest.raises(CheckpointError) as in_memory:
        load_strict(Tiny(), state, source="ckpt")
    assert str(streamed.value) == str(in_memory.value)


def test_rename_skips_and_maps_keys(tmp_path: Path) -> None:
    state = {f"model.{k}": v for k, v in fp32_state().items()} | {"model.rotary.inv_freq": torch.ones(2)}
    write_shards(tmp_path, state)
    module = on_meta(torch.float32)

    def rename(key: str) -> str | None:
        return None if key.endswith("inv_freq") else key.removeprefix("model.")

    load_streaming(module, tmp_path, rename=rename)
    assert torch.equal(module.norm.weight, state["model.norm.weight"])


def test_a_tensor_in_two_shards_is_refused(tmp_path: Path) -> None:
    state = fp32_state()
    write_shards(tmp_path, state)
    second = tmp_path / "model-00002-of-00002.safetensors"
    save_file({"norm.weight": state["norm.weight"], "embed.weight": state["embed.weight"]}, str(second))
    with pytest.raises(CheckpointError, match=r"also present in another shard: \['embed.weight'\]"):
        load_streaming(on_meta(), tmp_path)


def test_a_legacy_bin_file_is_read_whole(tmp_path: Path) -> None:
    """A pre-zip `.bin` cannot be memory-mapped; it still loads."""
    state = fp32_state()
    torch.save(state, tmp_path / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    module = on_meta(torch.float32)
    load_streaming(module, tmp_path)
    assert torch.equal(module.embed.weight, state["embed.weight"])


def test_a_truncated_bin_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "pytorch_model.bin"
    torch.save(fp32_state(), path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="cannot read this PyTorch weights file") as caught:
        load_streaming(on_meta(), tmp_path)
    assert str(path) in str(caught.value)


class WithDerivedBuffer(Tiny):
    """A non-persistent buffer computed in `__init__`: on meta it is never computed, so loading must fail."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("inv_freq", torch.arange(2.0), persistent=False)


def test_a_tensor_left_on_meta_is_an_error_naming_it(tmp_path: Path) -> None:
    write_shards(tmp_path, fp32_state())
    with torch.device("meta"):
        module = WithDerivedBuffer()
    with pytest.raises(CheckpointError, match=r"still on the meta device after loading: \['inv_freq'\]"):
        load_streaming(module, tmp_path)


def test_the_native_models_have_no_tensor_outside_their_checkpoint(parity_dir: Path) -> None:
    """Every tensor of the Monkey and Mini-Monkey modules is in their state dict (so a checkpoint fills it):
    no non-persistent buffer or plain tensor attribute that building on meta would leave uncomputed."""
    from monkeyeval.models.minimonkey.model import MiniMonkeyConfig, MiniMonkeyForCausalLM
    from monkeyeval.models.monkey.adapter import MonkeyAdapter, TextMonkeyAdapter

    modules: list[torch.nn.Module] = []
    for adapter in (MonkeyAdapter, TextMonkeyAdapter):
        config = json.loads((parity_dir / adapter.family / "checkpoint" / "config.json").read_text())
        modules.append(adapter.build_model(config, torch.device("meta"), torch.bfloat16))
    with torch.device("meta"):
        modules.append(
            MiniMonkeyForCausalLM(MiniMonkeyConfig.from_folder(parity_dir / "minimonkey" / "checkpoint"))
        )
    for module in modules:
        assert meta_tensors(module) == sorted(module.state_dict())
