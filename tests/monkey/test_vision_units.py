"""Unit tests of the Monkey / TextMonkey vision side: image loading, config handling, LoRA routing, the
window-attention geometry and the token selection (the fixtures are covered by test_vision_parity.py)."""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from monkeyeval.models.monkey.image import CLIP_MEAN, CLIP_STD, ImageLoadError, MonkeyImagePreprocessor
from monkeyeval.models.monkey.textmonkey_vision import (
    TextMonkeyVisual,
    TextMonkeyVisualConfig,
    TokenResamplerConfig,
    select_least_redundant,
)
from monkeyeval.models.monkey.textmonkey_windows import relative_position_index, shifted_window_mask
from monkeyeval.models.monkey.vision import MonkeyVisual
from monkeyeval.models.monkey.vision_vit import sincos_position_table

REAL_MONKEY_VISUAL: dict[str, Any] = {
    "heads": 16,
    "image_size": 896,
    "image_start_id": 151857,
    "layers": 48,
    "mlp_ratio": 4.9231,
    "output_dim": 4096,
    "patch_size": 14,
    "width": 1664,
    "lora_repeat_num": 4,
}
TINY_VISUAL: dict[str, Any] = {
    "heads": 2,
    "image_size": 896,
    "layers": 1,
    "mlp_ratio": 2.0,
    "output_dim": 128,
    "patch_size": 14,
    "width": 16,
}


# ---------------------------------------------------------------- image preprocessing


def _expected_normalised(rgb: np.ndarray) -> np.ndarray:
    mean = np.array(CLIP_MEAN, dtype=np.float32)[:, None, None]
    std = np.array(CLIP_STD, dtype=np.float32)[:, None, None]
    return (rgb.transpose(2, 0, 1).astype(np.float32) / np.float32(255) - mean) / std


def test_preprocessor_resizes_with_pillow_bicubic_and_normalises(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    source = Image.fromarray(rng.integers(0, 256, (37, 61, 3), dtype=np.uint8))
    path = tmp_path / "wide.png"
    source.save(path)
    tensor = MonkeyImagePreprocessor(896)(path)
    assert tensor.dtype == torch.float32 and tensor.shape == (3, 896, 896)
    resized = np.asarray(source.resize((896, 896), Image.Resampling.BICUBIC))
    np.testing.assert_allclose(tensor.numpy(), _expected_normalised(resized), rtol=0, atol=1e-6)


def test_preprocessor_keeps_an_image_of_the_target_size(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    path = tmp_path / "exact.png"
    Image.fromarray(pixels).save(path)
    tensor = MonkeyImagePreprocessor(32)(path)
    np.testing.assert_allclose(tensor.numpy(), _expected_normalised(pixels), rtol=0, atol=1e-6)


def test_preprocessor_drops_alpha_without_compositing(tmp_path: Path) -> None:
    path = tmp_path / "transparent.png"
    Image.new("RGBA", (8, 8), (200, 10, 90, 0)).save(path)
    tensor = MonkeyImagePreprocessor(8)(path)
    colour = np.full((8, 8, 3), (200, 10, 90), dtype=np.uint8)
    np.testing.assert_allclose(tensor.numpy(), _expected_normalised(colour), rtol=0, atol=1e-6)


def test_preprocessor_expands_palette_and_grey(tmp_path: Path) -> None:
    grey = tmp_path / "grey.png"
    Image.new("L", (4, 4), 77).save(grey)
    palette = tmp_path / "palette.png"
    Image.new("RGB", (4, 4), (5, 6, 7)).convert("P").save(palette)
    np.testing.assert_allclose(
        MonkeyImagePreprocessor(4)(grey).numpy(),
        _expected_normalised(np.full((4, 4, 3), 77, np.uint8)),
        atol=1e-6,
    )
    np.testing.assert_allclose(
        MonkeyImagePreprocessor(4)(palette).numpy(),
        _expected_normalised(np.asarray(Image.open(palette).convert("RGB"))),
        atol=1e-6,
    )


def test_preprocessor_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.png"
    with pytest.raises(ImageLoadError, match=r"missing\.png: image file not found"):
        MonkeyImagePreprocessor()(missing)
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"this is not an image")
    with pytest.raises(ImageLoadError, match=r"garbage\.png: cannot decode image"):
        MonkeyImagePreprocessor()(garbage)
    truncated = tmp_path / "truncated.png"
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:300])
    with pytest.raises(ImageLoadError, match=r"truncated\.png"):
        MonkeyImagePreprocessor()(truncated)


def test_preprocessor_pickles(tmp_path: Path) -> None:
    path = tmp_path / "img.png"
    Image.new("RGB", (10, 20), (1, 2, 3)).save(path)
    original = MonkeyImagePreprocessor(28)
    clone = pickle.loads(pickle.dumps(original))
    assert clone == original
    assert torch.equal(clone(path), original(path))


# ---------------------------------------------------------------- configuration


def test_monkey_needs_one_lora_adapter_per_window() -> None:
    with pytest.raises(ValueError, match="at least 4 adapters"):
        MonkeyVisual.from_visual_config({**TINY_VISUAL, "lora_repeat_num": 2})


def test_textmonkey_defaults_are_the_upstream_constants() -> None:
    visual = {**REAL_MONKEY_VISUAL, "lora_repeat_num": 0, "add_window": True, "use_global": True}
    config = TextMonkeyVisualConfig.from_visual({**visual, "resampler": True, "r": 512, "n_queries": 768})
    assert config.window_pos == (2, 6, 24, 46)
    assert config.window_dim == (128, 256, 512, 1024)
    assert config.window_head == (4, 8, 16, 32)
    assert config.window_attn_dim == 1664 and config.window_size == 12
    assert config.token_resampler == TokenResamplerConfig(1024, 4096, 1, 128, 8)
    assert config.vit.n_queries == 256  # the ViT resampler; config n_queries (768) is the image span
    assert config.n_image_tokens == 768


def test_textmonkey_rejects_bad_overrides() -> None:
    base = {**TINY_VISUAL, "add_window": True, "hardcoded_overrides": {"window_attn_dim": 16}}
    with pytest.raises(ValueError, match="unknown keys"):
        TextMonkeyVisualConfig.from_visual({**base, "hardcoded_overrides": {"window_poss": [1]}})
    with pytest.raises(ValueError, match="window_attn_dim 1664 must equal the ViT width 16"):
        TextMonkeyVisualConfig.from_visual({**base, "hardcoded_overrides": {}})
    with pytest.raises(ValueError, match="0, 1 or >= 4"):
        TextMonkeyVisualConfig.from_visual({**base, "lora_repeat_num": 3})


def test_full_size_shapes_on_meta_device() -> None:
    """The real configs build and propagate shapes (no memory allocated): 1280 and 768 tokens of 4096."""
    with torch.device("meta"):
        monkey = MonkeyVisual.from_visual_config(REAL_MONKEY_VISUAL)
        assert monkey(torch.zeros(2, 3, 896, 896)).shape == (2, 1280, 4096)
        text_visual = {
            **REAL_MONKEY_VISUAL,
            "image_size": [896, 896],
            "lora_repeat_num": 0,
            "add_window": True,
            "use_global": True,
            "resampler": True,
            "r": 512,
            "n_queries": 768,
        }
        textmonkey = TextMonkeyVisual.from_visual_config(text_visual)
        assert textmonkey(torch.zeros(1, 3, 896, 896)).shape == (1, 768, 4096)
    assert not any(name.startswith("transformer.visual") for name in monkey.state_dict())
    assert "transformer.resblocks.47.attn.in_proj_lora.3.lora_b.weight" in monkey.state_dict()
    assert (
        "transformer.window_attention.3.shift_attn.attn.relative_position_bias_table"
        in textmonkey.state_dict()
    )


# ---------------------------------------------------------------- LoRA routing


def _randomise(module: torch.nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1 + parameter)


def _changed_token_blocks(before: torch.Tensor, after: torch.Tensor, block: int) -> list[bool]:
    diff = (before - after).abs().amax(dim=(0, 2))
    return [bool(diff[i : i + block].max() > 1e-6) for i in range(0, diff.shape[0], block)]


def test_monkey_lora_adapter_k_only_touches_window_k() -> None:
    torch.manual_seed(0)
    visual = MonkeyVisual.from_visual_config({**TINY_VISUAL, "lora_repeat_num": 4}).eval()
    assert isinstance(visual, MonkeyVisual)
    _randomise(visual, 1)
    pixels = torch.randn(2, 3, 896, 896)
    with torch.no_grad():
        before = visual(pixels)
        visual.get_parameter("transformer.resblocks.0.mlp_lora.2.lora_scale").mul_(3.0)
        after = visual(pixels)
    assert before.shape == (2, 1280, 128)
    assert _changed_token_blocks(before, after, 256) == [False, False, True, False, False]


def test_textmonkey_single_lora_adapter_applies_to_every_window_only() -> None:
    torch.manual_seed(0)
    config = {**TINY_VISUAL, "lora_repeat_num": 1, "use_global": True}
    visual = TextMonkeyVisual.from_visual_config(config).eval()
    assert isinstance(visual, TextMonkeyVisual)
    _randomise(visual, 2)
    pixels = torch.randn(1, 3, 896, 896)
    with torch.no_grad():
        before = visual(pixels)
        visual.get_parameter("transformer.resblocks.0.attn.out_proj_lora.0.lora_scale").mul_(3.0)
        after = visual(pixels)
    assert before.shape == (1, 1280, 128)  # no token resampler: 4 x 256 local + 256 global
    assert _changed_token_blocks(before, after, 256) == [True, True, True, True, False]


def test_windows_and_images_keep_their_order_in_the_batch() -> None:
    """A batch equals its images run one by one (views of different images never mix)."""
    torch.manual_seed(0)
    visual = MonkeyVisual.from_visual_config({**TINY_VISUAL, "lora_repeat_num": 4}).eval()
    _randomise(visual, 3)
    pixels = torch.randn(2, 3, 896, 896)
    with torch.no_grad():
        batched = visual(pixels)
        alone = torch.cat([visual(pixels[i : i + 1]) for i in range(2)])
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- window-attention geometry


def test_sincos_table_layout() -> None:
    table = sincos_position_table(8, 3)
    assert table.shape == (9, 8)
    omega = 1.0 / 10000 ** (torch.arange(2, dtype=torch.float32) / 2)
    row, col = 1, 2  # the first half encodes the column, the second the row (upstream's meshgrid order)
    expected = torch.cat([(col * omega).sin(), (col * omega).cos(), (row * omega).sin(), (row * omega).cos()])
    torch.testing.assert_close(table[row * 3 + col], expected)


def test_relative_position_index() -> None:
    size = 3
    index = relative_position_index(size)
    assert index.shape == (9, 9)
    centre = (size - 1) * (2 * size - 1) + (size - 1)
    assert torch.equal(index.diagonal(), torch.full((9,), centre))
    # index[i, j] encodes coords(i) - coords(j): (0,0)-(2,2) -> table row 0, (2,2)-(0,0) -> the last row
    assert index[0, 8] == 0 and index[8, 0] == (2 * size - 1) ** 2 - 1
    assert int(index.max()) == (2 * size - 1) ** 2 - 1


def test_shifted_window_mask_regions() -> None:
    mask = shifted_window_mask(padded=72, size=12, shift=6)
    assert mask.shape == (36, 144, 144)
    assert set(mask.unique().tolist()) == {-100.0, 0.0}
    assert torch.count_nonzero(mask[0]) == 0  # interior window: one region
    last = mask[-1]  # bottom-right window: rows/cols 60..65 and 66..71 are different regions
    assert last[0, 5] == 0 and last[0, 6] == -100 and last[0, 6 * 12] == -100 and last[0, 6 * 12 + 6] == -100
    assert torch.equal(last, last.T)


def test_select_least_redundant_keeps_tokens_unlike_any_later_one() -> None:
    tokens = torch.tensor(
        [
            [
                [1.0, 0.0, 0.0],  # 0: duplicated by token 3 -> most redundant
                [0.0, 1.0, 0.0],  # 1: close to token 2
                [0.0, 0.9, 0.1],  # 2
                [2.0, 0.0, 0.0],  # 3
                [0.0, 0.0, 1.0],  # 4: last token, scored -1 (nothing after it)
            ]
        ]
    )
    kept = select_least_redundant(tokens, 3)
    assert kept.tolist() == [[2, 3, 4]]
    assert select_least_redundant(tokens, 4).tolist() == [[1, 2, 3, 4]]


def test_textmonkey_records_kept_indices() -> None:
    torch.manual_seed(0)
    overrides = {
        "window_pos": [0],
        "window_dim": [16],
        "window_head": [2],
        "window_attn_dim": 16,
        "token_resampler": {"in_dim": 32, "out_dim": 128, "depth": 2, "dim_head": 8, "heads": 2},
    }
    config = {**TINY_VISUAL, "add_window": True, "use_global": True, "resampler": True, "r": 100}
    visual = TextMonkeyVisual.from_visual_config({**config, "hardcoded_overrides": overrides}).eval()
    assert isinstance(visual, TextMonkeyVisual)
    _randomise(visual, 4)
    with torch.no_grad():
        encoded = visual.encode(torch.randn(2, 3, 896, 896))
    out, kept = encoded.embeds, encoded.kept_indices
    assert out.shape == (2, 100 + 256, 128) and bool(torch.isfinite(out).all())
    assert kept is not None and kept.shape == (2, 100)
    assert bool((kept.diff(dim=1) > 0).all()) and int(kept.max()) < 1024
    assert math.isclose(visual.n_image_tokens, 356)
