"""bench/gpu_suite.py: the tiny end-to-end run, the budget skip, the peak table and the FLOP formulas."""

from __future__ import annotations

import importlib
import json
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from monkeyeval.models.minimonkey.model import MiniMonkeyConfig, MiniMonkeyForCausalLM
from monkeyeval.models.monkey.qwen import QwenModel

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "gpu_suite.py"
FAMILIES = ("monkey", "textmonkey", "minimonkey")


def bench(name: str) -> ModuleType:
    """A bench/ module, imported the way the scripts import each other (bench/ on sys.path)."""
    if str(SCRIPT.parent) not in sys.path:
        sys.path.insert(0, str(SCRIPT.parent))
    return importlib.import_module(name)


def fixture_config(parity_dir: Path, family: str) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((parity_dir / family / "checkpoint" / "config.json").read_text())
    return config


def fixture_case_count(parity_dir: Path, family: str) -> int:
    folder = parity_dir / family
    path = folder / "generation" / "cases.jsonl" if family == "minimonkey" else folder / "cases.jsonl"
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def run_suite(out: Path, *extra: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--tiny", "--device", "cpu", "--out", str(out), *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    doc: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return doc


def expected_cases(parity_dir: Path) -> set[tuple[str, int, int]]:
    """(model, batch, image tokens) of every tiny case, from the fixture configs and the tiny scale."""
    scale = bench("gpu_suite").SCALES["tiny"]
    textmonkey_span = int(fixture_config(parity_dir, "textmonkey")["visual"]["n_queries"])
    per_tile = MiniMonkeyConfig.from_dict(fixture_config(parity_dir, "minimonkey")).tokens_per_tile
    images = [("monkey", 1280), ("textmonkey", textmonkey_span)]
    images += [("minimonkey", tiles * per_tile) for tiles in scale.minimonkey_tiles]
    return {(model, batch, tokens) for model, tokens in images for batch in scale.batches}


@pytest.mark.slow
def test_tiny_suite_on_cpu_end_to_end(parity_dir: Path, tmp_path: Path) -> None:
    doc = run_suite(tmp_path / "suite.json", "--parity-dir", str(parity_dir))
    assert doc["complete"] is True and doc["scale"] == "tiny"
    device = doc["device"]
    assert device["type"] == "cpu" and device["peak_bf16_tflops"] is None
    assert "cpu" in device["peak_note"] and "null" in device["peak_note"]
    seen = set()
    for case in doc["cases"]:
        assert case["status"] == "ok", case
        image_tokens = int(case["prompt"].split("(")[1].split()[0])
        seen.add((case["model"], case["batch"], image_tokens))
        assert case["prompt_tokens"] > image_tokens
        for key in ("samples_per_s", "generated_tokens_per_s", "tflops_per_s"):
            assert math.isfinite(case[key]) and case[key] > 0, (case, key)
        assert case["generated_tokens_per_s"] == pytest.approx(case["samples_per_s"] * case["new_tokens"])
        assert case["flops"]["total"] == pytest.approx(case["flops"]["vision"] + case["flops"]["language"])
        assert case["peak_fraction"] is None and case["peak_memory_gib"] is None
    assert seen == expected_cases(parity_dir)
    assert len(doc["cases"]) == len(seen)
    agreement = doc["agreement"]
    assert agreement["tf32"] is False and set(agreement["families"]) == set(FAMILIES)
    for family, result in agreement["families"].items():
        count = fixture_case_count(parity_dir, family)
        assert result["cases"] == count, family
        assert 0 <= result["identical"] <= count
        assert result["fraction_identical"] == pytest.approx(result["identical"] / count)
        assert (result["first_divergent"] is None) == (result["identical"] == count)
        assert result["fp32_matches_fixture"] == count, family  # float32 reproduces upstream's answers


@pytest.mark.slow
def test_spent_budget_skips_every_case_with_a_note(tmp_path: Path) -> None:
    doc = run_suite(
        tmp_path / "suite.json", "--budget-s", "0", "--no-agreement", "--models", "monkey,minimonkey"
    )
    assert doc["complete"] is True and doc["agreement"]["families"] == {}
    scale = bench("gpu_suite").SCALES["tiny"]
    assert len(doc["cases"]) == len(scale.batches) * (1 + len(scale.minimonkey_tiles))
    for case in doc["cases"]:
        assert case["status"] == "skipped" and "wall-time budget of 0 s" in case["note"]
    assert doc["models"] == {}  # nothing was built


def test_peak_table_by_device_name() -> None:
    peak_for_name = bench("gpu_suite").peak_for_name
    assert peak_for_name("NVIDIA H100 80GB HBM3")[0] == 989
    assert peak_for_name("NVIDIA H100 PCIe")[0] == 756
    assert peak_for_name("NVIDIA H200")[0] == 989
    assert peak_for_name("NVIDIA A100-SXM4-80GB")[0] == 312
    peak, note = peak_for_name("NVIDIA L4")
    assert peak is None and "'NVIDIA L4' is not in the peak table" in note


TOY_QWEN = {"hidden_size": 8, "num_attention_heads": 2, "kv_channels": 4, "intermediate_size": 16}
TOY_QWEN |= {"num_hidden_layers": 1, "vocab_size": 10}


def test_language_flops_by_hand() -> None:
    rm = bench("real_models")
    shape = rm.qwen_shape(TOY_QWEN)
    # per layer: c_attn 8x24 + c_proj 8x8 + w1 8x8 + w2 8x8 + mlp c_proj 8x8 = 192 + 64 * 4 = 448 weights
    assert shape.block_params == 448
    # prompt 3, 2 new tokens: 3 prefill + 1 decode token through the blocks, 2 head calls (8 x 10),
    # attention width 8: prefill pairs 1 + 2 + 3 = 6, the decode step attends 4 keys; 4 x 8 FLOPs a pair
    by_hand = 2 * 448 * 4 + 2 * 8 * 10 * 2 + (6 + 4) * 4 * 8
    assert rm.language_flops(shape, 3, 2) == by_hand == 4224


def test_block_params_equal_the_built_models() -> None:
    rm = bench("real_models")
    for raw in (TOY_QWEN, rm.REAL_MONKEY_CONFIG):
        with torch.device("meta"):
            model = QwenModel(rm.QwenConfig.from_dict(raw))
        linear = sum(m.weight.numel() for m in model.h.modules() if isinstance(m, torch.nn.Linear))
        assert rm.qwen_shape(raw).block_params == linear
    config = MiniMonkeyConfig.from_dict(rm.REAL_MINIMONKEY_CONFIG)
    with torch.device("meta"):
        layers = MiniMonkeyForCausalLM(config).language_model.model.layers
    linear = sum(m.weight.numel() for m in layers.modules() if isinstance(m, torch.nn.Linear))
    assert rm.internlm2_shape(config).block_params == linear


def test_minimonkey_vision_flops_by_hand() -> None:
    rm = bench("real_models")
    vision = {"hidden_size": 4, "intermediate_size": 8, "num_attention_heads": 2, "num_hidden_layers": 1}
    vision |= {"image_size": 28, "patch_size": 14}
    llm = {"vocab_size": 10, "hidden_size": 6, "intermediate_size": 8, "num_hidden_layers": 1}
    llm |= {"num_attention_heads": 2, "num_key_value_heads": 1}
    config = MiniMonkeyConfig.from_dict({"force_image_size": 28, "vision_config": vision, "llm_config": llm})
    # a 2x2 patch grid: the patch embedding maps 4 patches of 3 x 14 x 14 pixels to width 4
    patches = 2 * 4 * (3 * 14 * 14) * 4
    # one block on 5 tokens (4 patches + class): qkv + proj 4 x 4^2, fc1 + fc2 2 x 4 x 8;
    # attention 4 x 5^2 x 4
    block = 2 * 5 * (4 * 16 + 2 * 4 * 8) + 4 * 25 * 4
    # pixel shuffle: 1 token of width 16, mlp1 16 -> 6 -> 6
    mlp1 = 2 * 1 * (16 * 6 + 6 * 6)
    assert rm.minimonkey_vision_flops(config, 3) == 3 * (patches + block + mlp1) == 3 * 20760


def counted(fn: Any, *args: Any, **kwargs: Any) -> int:
    """FLOPs torch counts for `fn(*args, **kwargs)`, attention through the math kernel (matmuls it sees)."""
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        fn(*args, **kwargs)
    return int(counter.get_total_flops())


def full_square_prefill(shape: Any, prompt: int) -> int:
    """What the causal count leaves out and the math kernel computes: the masked half of the prefill."""
    return int(shape.layers * 2 * shape.attention_width * prompt * (prompt - 1))


@pytest.mark.parametrize("family", ["monkey", "textmonkey"])
def test_monkey_flops_equal_torch_counts(parity_dir: Path, family: str) -> None:
    """The analytic counts equal what torch counts through the tiny models' real forward passes."""
    rm = bench("real_models")
    torch.manual_seed(0)
    config = fixture_config(parity_dir, family)
    model = rm.random_monkey(config, torch.device("cpu"), torch.float32)
    pixels = torch.randn(1, 3, 896, 896)
    vision = rm.monkey_vision_flops if family == "monkey" else rm.textmonkey_vision_flops
    assert counted(model.encode_images, pixels) == vision(config["visual"], 1)
    span = rm.image_span(config)
    ids = torch.tensor([rm.prompt_ids(config, span + 20, span)])
    eod = int(config["visual"]["image_start_id"]) - 214
    flops = counted(
        rm.monkey_greedy_generate, model, ids, torch.ones_like(ids), model.encode_images(pixels), eod, 3, 3
    )
    shape = rm.qwen_shape(config)
    assert flops == rm.language_flops(shape, ids.shape[1], 3) + full_square_prefill(shape, ids.shape[1])


def test_minimonkey_flops_equal_torch_counts(parity_dir: Path) -> None:
    rm = bench("real_models")
    torch.manual_seed(0)
    config = MiniMonkeyConfig.from_dict(fixture_config(parity_dir, "minimonkey"))
    model = rm.random_minimonkey(config, "cpu", "fp32")
    requests = [rm.request(config, 2, torch.Generator().manual_seed(0))]
    length = int(requests[0].input_ids.shape[0])
    shape = rm.internlm2_shape(config)
    expected = rm.minimonkey_vision_flops(config, 2) + rm.language_flops(shape, length, 3)
    flops = counted(rm.greedy_generate, model, requests, rm.forced_settings(config, 3))
    assert flops == expected + full_square_prefill(shape, length)
