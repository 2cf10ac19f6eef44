"""Mini-Monkey model parity with the upstream fixture: ViT, pixel shuffle, mlp1, LM logits, SCM, loading."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from monkeyeval.models.minimonkey.internlm2 import InternLM2Config, RotaryEmbedding, build_mask
from monkeyeval.models.minimonkey.model import MiniMonkeyForCausalLM, pixel_shuffle_v2
from monkeyeval.models.minimonkey.msac import TILE_BUDGETS, MiniMonkeyImagePreprocessor
from monkeyeval.models.weights import CheckpointError

from .support import LOGIT_TOL, VIT_TOL, labelled


def generation_cases(fixture_dir: Path) -> list[dict[str, Any]]:
    lines = (fixture_dir / "generation" / "cases.jsonl").read_text(encoding="utf-8").split("\n")
    return [json.loads(line) for line in lines if line.strip()]


def special_id(fixture_dir: Path, token: str) -> int:
    summary = json.loads((fixture_dir / "summary.json").read_text())
    return int(summary["special_token_ids"][token])


def case_arrays(fixture_dir: Path, case: dict[str, Any]) -> Any:
    return np.load(fixture_dir / case["arrays_file"])


def pixels_for(fixture_dir: Path, case: dict[str, Any]) -> torch.Tensor:
    """MSAC tiles of the case's image, cast to bf16 as upstream generate_v2 does."""
    pixel_values, grid = MiniMonkeyImagePreprocessor(TILE_BUDGETS[case["profile"]])(
        fixture_dir / case["image"]
    )
    assert list(grid) == case["target_aspect_ratio"]
    return pixel_values.to(torch.bfloat16)


def test_pixel_shuffle_matches_the_manifest_layout() -> None:
    grid = torch.arange(32 * 32, dtype=torch.float32).reshape(1, 32 * 32, 1)  # F(r, c) = 32 r + c
    out = pixel_shuffle_v2(grid)
    assert out.shape == (1, 256, 4)
    for i, j in [(0, 0), (0, 1), (3, 7), (15, 15)]:
        expected = [
            32 * (2 * i) + 2 * j,
            32 * (2 * i) + 2 * j + 1,
            32 * (2 * i + 1) + 2 * j,
            32 * (2 * i + 1) + 2 * j + 1,
        ]
        assert out[0, i * 16 + j].tolist() == expected


def test_vision_intermediates(model: MiniMonkeyForCausalLM, fixture_dir: Path) -> None:
    """The case that stores intermediates: ViT embeddings, every ViT layer and the pixel shuffle, tile 0."""
    case = next(
        c
        for c in generation_cases(fixture_dir)
        if "inter_vis_embeddings_tile0" in case_arrays(fixture_dir, c)
    )
    arrays = case_arrays(fixture_dir, case)
    pixels = pixels_for(fixture_dir, case)
    with torch.no_grad():
        states = model.vision_model.hidden_states(pixels[:1].float())
        shuffled = pixel_shuffle_v2(states[-1][:, 1:])
    torch.testing.assert_close(
        states[0][0], torch.from_numpy(arrays["inter_vis_embeddings_tile0"]), atol=VIT_TOL, rtol=0
    )
    recorded_layers = [key for key in arrays.files if key.startswith("inter_vis_layer")]
    assert len(states) - 1 == len(recorded_layers) == model.config.vision.num_hidden_layers > 0
    compared = 0
    for layer in range(len(states) - 1):
        expected = torch.from_numpy(arrays[f"inter_vis_layer{layer}_tile0"])
        torch.testing.assert_close(states[layer + 1][0], expected, atol=VIT_TOL, rtol=0)
        compared += 1
    assert compared == len(recorded_layers)
    torch.testing.assert_close(
        shuffled[0], torch.from_numpy(arrays["inter_mlp1_input_tile0"]), atol=VIT_TOL, rtol=0
    )


def test_first_step_logits_in_isolation(model: MiniMonkeyForCausalLM, fixture_dir: Path) -> None:
    """The LM alone: fixture vit_embeds + input ids -> first-forward logits (after SCM when on), for the
    case with stored decoder-layer outputs and every SCM case. (Every case's vit_embeds and first-step
    logits are checked from the image in test_generation.)"""
    img_context_id = special_id(fixture_dir, "<IMG_CONTEXT>")
    chosen = [
        case
        for case in generation_cases(fixture_dir)
        if case["use_scm"] or "inter_llm_positions" in case_arrays(fixture_dir, case)
    ]
    assert any(case["use_scm"] for case in chosen) and any(not case["use_scm"] for case in chosen)
    compared = 0
    for case in chosen:
        check_first_step(model, case, case_arrays(fixture_dir, case), img_context_id)
        compared += 1
    assert compared == len(chosen) > 0


def check_first_step(
    model: MiniMonkeyForCausalLM, case: dict[str, Any], arrays: Any, img_context_id: int
) -> None:
    message = labelled(case["id"])
    input_ids = torch.from_numpy(arrays["input_ids"])
    assert input_ids[: len(case["input_ids_before_image"])].tolist() == case["input_ids_before_image"]
    assert input_ids[-len(case["input_ids_after_image"]) :].tolist() == case["input_ids_after_image"]
    with torch.no_grad():
        embeds = model.embed_with_images(input_ids, torch.from_numpy(arrays["vit_embeds"]), img_context_id)
        if case["use_scm"]:
            grid = case["target_aspect_ratio"]
            kept = model.scm_kept_positions(
                embeds, case["img_context_first_pos"], grid[0] * grid[1] * model.config.tokens_per_tile
            )
            assert kept.tolist() == arrays["scm_kept_positions"].tolist(), case["id"]
            assert len(kept) == case["scm"]["kept_len"], case["id"]
            embeds = embeds[kept]
        positions = torch.arange(embeds.shape[0])[None]
        hidden, layers = model.language_model.hidden_states(embeds[None], positions, keep_layer_outputs=True)
        logits = model.language_model.output(hidden[:, -1]).float()[0]
    expected_logits = torch.from_numpy(arrays["first_step_logits"])
    torch.testing.assert_close(logits, expected_logits, atol=LOGIT_TOL, rtol=0, msg=message)
    if "inter_llm_positions" in arrays:
        at = torch.from_numpy(arrays["inter_llm_positions"])
        recorded_layers = [key for key in arrays.files if key.startswith("inter_llm_layer")]
        assert len(layers) == len(recorded_layers) == model.config.llm.num_hidden_layers > 0, case["id"]
        for index, output in enumerate(layers):
            expected = torch.from_numpy(arrays[f"inter_llm_layer{index}_out"])
            torch.testing.assert_close(output[0, at], expected, atol=LOGIT_TOL, rtol=0, msg=message)


def test_image_token_count_mismatch_is_an_error(model: MiniMonkeyForCausalLM, fixture_dir: Path) -> None:
    img_context_id = special_id(fixture_dir, "<IMG_CONTEXT>")
    per_tile = model.config.tokens_per_tile
    cases = generation_cases(fixture_dir)
    assert cases and all(c["num_image_context_tokens"] == per_tile * c["pixel_shape"][0] for c in cases)
    bos, eos = special_id(fixture_dir, "<s>"), special_id(fixture_dir, "</s>")
    ids = torch.tensor([bos] + [img_context_id] * (per_tile - 1) + [eos])
    with pytest.raises(
        ValueError, match=f"{per_tile - 1} <IMG_CONTEXT> tokens but the image gives {per_tile}"
    ):
        model.embed_with_images(ids, torch.zeros(1, per_tile, model.config.llm.hidden_size), img_context_id)


def test_dynamic_rope_only_rescales_beyond_max_positions() -> None:
    config = InternLM2Config(
        vocab_size=10,
        hidden_size=64,
        intermediate_size=8,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        rope_theta=1e6,
        max_position_embeddings=100,
        rope_scaling={"type": "dynamic", "factor": 2.0},
    )
    rotary = RotaryEmbedding(config)
    positions = torch.tensor([[0, 5, 99]])
    cos, _ = rotary(positions, key_length=100, dtype=torch.float32)
    inv_freq = 1.0 / (1e6 ** (torch.arange(0, 16, 2).float() / 16))
    torch.testing.assert_close(cos[0, 1, :8], torch.cos(5 * inv_freq), atol=0, rtol=0)
    cos_long, _ = rotary(positions, key_length=150, dtype=torch.float32)
    base = 1e6 * (2.0 * 150 / 100 - 1.0) ** (16 / 14)
    scaled = 1.0 / (base ** (torch.arange(0, 16, 2).float() / 16))
    torch.testing.assert_close(cos_long[0, 1, :8], torch.cos(5 * scaled), atol=1e-6, rtol=0)
    assert not torch.allclose(cos_long, cos)


def test_padding_mask_keeps_every_row_finite() -> None:
    valid = torch.tensor([[False, False, True, True], [True, True, True, True]])
    mask, is_causal = build_mask(valid, query_length=4, past_length=0)
    assert mask is not None and not is_causal
    assert mask[0, 0].tolist() == [
        [True, False, False, False],  # a padding query attends to itself only
        [False, True, False, False],
        [False, False, True, False],
        [False, False, True, True],
    ]
    assert mask[1, 0].tolist() == torch.ones(4, 4, dtype=torch.bool).tril().tolist()
    assert build_mask(None, 3, 0) == (None, True)
    assert build_mask(None, 1, 7) == (None, False)


def _copy_checkpoint(fixture_dir: Path, target: Path) -> Path:
    shutil.copytree(fixture_dir / "checkpoint", target)
    return target


def test_missing_tensor_fails_loudly(fixture_dir: Path, tmp_path: Path) -> None:
    folder = _copy_checkpoint(fixture_dir, tmp_path / "ckpt")
    state = load_file(str(folder / "model.safetensors"))
    del state["language_model.model.layers.0.attention.wqkv.weight"]
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"not filled: \['language_model.model.layers.0.attention.wqkv"):
        MiniMonkeyForCausalLM.from_pretrained(folder)


def test_extra_tensor_fails_loudly(fixture_dir: Path, tmp_path: Path) -> None:
    folder = _copy_checkpoint(fixture_dir, tmp_path / "ckpt")
    state = load_file(str(folder / "model.safetensors"))
    state["vision_model.encoder.unexpected_scale"] = torch.ones(3)
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"not consumed: \['vision_model.encoder.unexpected_scale'\]"):
        MiniMonkeyForCausalLM.from_pretrained(folder)


def test_sharded_bin_checkpoint_loads_the_same_weights(
    model: MiniMonkeyForCausalLM, fixture_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "sharded"
    folder.mkdir()
    shutil.copy(fixture_dir / "checkpoint" / "config.json", folder / "config.json")
    state = load_file(str(fixture_dir / "checkpoint" / "model.safetensors"))
    names = sorted(state)
    shards = {"pytorch_model-00001-of-00002.bin": names[::2], "pytorch_model-00002-of-00002.bin": names[1::2]}
    weight_map = {}
    for shard, keys in shards.items():
        torch.save({key: state[key] for key in keys}, folder / shard)
        weight_map.update(dict.fromkeys(keys, shard))
    (folder / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": weight_map}))
    loaded = MiniMonkeyForCausalLM.from_pretrained(folder)
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_unsupported_config_is_rejected(fixture_dir: Path, tmp_path: Path) -> None:
    folder = _copy_checkpoint(fixture_dir, tmp_path / "ckpt")
    config = json.loads((folder / "config.json").read_text())
    config["llm_config"]["architectures"] = ["Qwen2ForCausalLM"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"config\.json: llm_config\.architectures"):
        MiniMonkeyForCausalLM.from_pretrained(folder)


def test_bf16_weights_follow_the_fp32_model(model: MiniMonkeyForCausalLM, fixture_dir: Path) -> None:
    """`--dtype bf16` loads bf16 weights and runs the same computation (to bf16 precision)."""
    half = MiniMonkeyForCausalLM.from_pretrained(fixture_dir / "checkpoint", dtype="bf16")
    assert {p.dtype for p in half.parameters()} == {torch.bfloat16}
    case = generation_cases(fixture_dir)[0]
    pixels = pixels_for(fixture_dir, case)[:2]
    with torch.no_grad():
        full, reduced = model.extract_feature(pixels), half.extract_feature(pixels)
    assert reduced.dtype == torch.bfloat16
    torch.testing.assert_close(reduced.float(), full, atol=0.05 * float(full.abs().max()), rtol=0)
