"""Vision side of Monkey / TextMonkey against the upstream parity fixtures (tiny random-weight checkpoints).

For every case: the preprocessed 896 tensor and the 448 global view (sums and strided samples recorded by
the fixture), the visual embeddings (batch of 4 and each sample alone) within 1e-4, TextMonkey's kept-token
indices exactly; every `transformer.visual.*` checkpoint tensor is consumed and every parameter filled.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from monkeyeval.models.monkey.image import MonkeyImagePreprocessor
from monkeyeval.models.monkey.textmonkey_vision import TextMonkeyVisual
from monkeyeval.models.monkey.vision import MonkeyVisual
from monkeyeval.models.monkey.vision_vit import QwenViT
from monkeyeval.models.weights import load_strict, read_state_dict

from .parity_support import FAMILIES, image_size_of, image_span_of, read_cases

pytestmark = pytest.mark.slow

VISUAL_PREFIX = "transformer.visual."
EMBED_ATOL = 1e-4


@dataclass
class VisionFixture:
    name: str
    folder: Path
    config: dict[str, Any]
    cases: list[dict[str, Any]]
    arrays: dict[str, np.ndarray]
    visual: QwenViT
    n_visual_tensors: int
    image_size: int  # the vision tower's input size (896 upstream)
    pixels: torch.Tensor  # (n_cases, 3, image_size, image_size), rows in case order


def _load(parity_dir: Path, name: str) -> VisionFixture:
    folder = parity_dir / name
    config = json.loads((folder / "checkpoint" / "config.json").read_text())
    cases = read_cases(folder)
    with np.load(folder / "arrays.npz") as npz:
        arrays = {key: npz[key] for key in npz.files}
    torch.manual_seed(0)
    visual = (
        (TextMonkeyVisual if name == "textmonkey" else MonkeyVisual)
        .from_visual_config(config["visual"])
        .eval()
    )
    state = read_state_dict(folder / "checkpoint")

    def rename(key: str) -> str | None:
        return key[len(VISUAL_PREFIX) :] if key.startswith(VISUAL_PREFIX) else None

    load_strict(visual, state, rename=rename, source=f"{name} fixture")
    n_visual = sum(1 for key in state if key.startswith(VISUAL_PREFIX))
    image_size = image_size_of(config)
    preprocess = MonkeyImagePreprocessor(image_size)
    pixels = torch.stack([preprocess(folder / case["image"]) for case in cases])
    return VisionFixture(name, folder, config, cases, arrays, visual, n_visual, image_size, pixels)


@pytest.fixture(scope="module", params=FAMILIES)
def fixture(request: pytest.FixtureRequest, parity_dir: Path) -> VisionFixture:
    return _load(parity_dir, request.param)


def encode(visual: torch.nn.Module, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Embeddings and, for TextMonkey, the token resampler's kept indices."""
    if isinstance(visual, TextMonkeyVisual):
        encoded = visual.encode(pixels)
        return encoded.embeds, encoded.kept_indices
    return visual(pixels), None


def test_every_visual_tensor_is_a_parameter(fixture: VisionFixture) -> None:
    # load_strict already ran (it raises on any unconsumed or unfilled tensor); check the two sets are equal
    assert fixture.n_visual_tensors == len(fixture.visual.state_dict()) > 0
    expected = MonkeyVisual if fixture.name == "monkey" else TextMonkeyVisual
    assert isinstance(fixture.visual, expected)


def test_preprocessed_pixels_match(fixture: VisionFixture) -> None:
    arrays = fixture.arrays
    size = fixture.image_size
    assert arrays["pix896_sub"].shape[0] == arrays["pix896_sum"].shape[0] == len(fixture.cases) > 0
    compared = 0
    for row, case in enumerate(fixture.cases):
        pixels = fixture.pixels[row]
        assert pixels.dtype == torch.float32 and pixels.shape == (3, size, size)
        np.testing.assert_array_equal(
            pixels[:, ::32, ::32].numpy(), arrays["pix896_sub"][row], err_msg=case["id"]
        )
        np.testing.assert_allclose(
            pixels.double().sum(dim=(1, 2)).numpy(), arrays["pix896_sum"][row], rtol=0, atol=1e-6
        )
        compared += 1
    assert compared == len(fixture.cases)


def test_global_view_matches(fixture: VisionFixture) -> None:
    view = fixture.visual.global_view(fixture.pixels)
    half = fixture.image_size // 2
    assert view.shape == (len(fixture.cases), 3, half, half) and len(fixture.cases) > 0
    np.testing.assert_array_equal(view[:, :, ::16, ::16].numpy(), fixture.arrays["pix448_sub"])
    np.testing.assert_allclose(
        view.double().sum(dim=(2, 3)).numpy(), fixture.arrays["pix448_sum"], rtol=0, atol=1e-6
    )


def test_batched_visual_embeds_match(fixture: VisionFixture) -> None:
    expected = torch.from_numpy(fixture.arrays["visual_embeds"])
    with torch.inference_mode():
        embeds, kept = encode(fixture.visual, fixture.pixels)
    span = image_span_of(fixture.folder)  # the image tokens between <img> and </img> in every case
    width = fixture.config["hidden_size"]  # the LLM embedding width the visual tokens replace
    assert fixture.config["visual"]["output_dim"] == width
    assert embeds.shape == expected.shape == (len(fixture.cases), fixture.visual.n_image_tokens, width)
    assert fixture.visual.n_image_tokens == span and len(fixture.cases) > 0
    torch.testing.assert_close(embeds, expected, atol=EMBED_ATOL, rtol=0)
    if isinstance(fixture.visual, TextMonkeyVisual):
        assert kept is not None
        np.testing.assert_array_equal(kept.numpy(), fixture.arrays["token_keep_idx_b4"])


def test_single_sample_visual_embeds_match(fixture: VisionFixture) -> None:
    """Every sample alone (batch of one), against its recorded batch-1 embeddings."""
    compared = 0
    for row, case in enumerate(fixture.cases):
        expected = torch.from_numpy(fixture.arrays["visual_embeds"][row])
        with torch.inference_mode():
            embeds, kept = encode(fixture.visual, fixture.pixels[row : row + 1])
        torch.testing.assert_close(
            embeds[0], expected, atol=EMBED_ATOL, rtol=0, msg=lambda m, label=case["id"]: f"{label}: {m}"
        )
        if isinstance(fixture.visual, TextMonkeyVisual):
            assert kept is not None and kept.shape == (1, fixture.config["visual"]["r"])
            np.testing.assert_array_equal(kept[0].numpy(), fixture.arrays["token_keep_idx"][row])
        compared += 1
    assert compared == fixture.arrays["visual_embeds"].shape[0] == len(fixture.cases) > 0


def test_bfloat16_tower_tracks_float32(fixture: VisionFixture) -> None:
    """bf16 weights (the GPU default): pixels stay float32 until the cast, output close to the reference.

    TextMonkey's token selection is not stable under bf16 noise (its margins are ~1e-4), so there the global
    tokens are compared and the kept sets must largely agree.
    """
    visual = copy.deepcopy(fixture.visual).to(torch.bfloat16)
    n_rows = min(2, len(fixture.cases))
    with torch.inference_mode():
        embeds, kept = encode(visual, fixture.pixels[:n_rows])
    assert embeds.dtype == torch.bfloat16
    expected = torch.from_numpy(fixture.arrays["visual_embeds"][:n_rows])
    assert embeds.shape == expected.shape and n_rows > 0
    cosine = torch.nn.functional.cosine_similarity(embeds.float(), expected, dim=-1)
    if fixture.name == "monkey":
        assert cosine.min().item() > 0.98
        return
    n_kept = fixture.arrays["token_keep_idx"].shape[1]  # r local tokens, then the global view's tokens
    n_global = fixture.arrays["visual_embeds"].shape[1] - n_kept
    assert n_kept == fixture.config["visual"]["r"] and n_global > 0
    assert cosine[:, -n_global:].min().item() > 0.98
    assert isinstance(visual, TextMonkeyVisual)
    assert kept is not None and kept.dtype == torch.int64 and kept.shape == (n_rows, n_kept)
    for row in range(n_rows):
        reference = set(fixture.arrays["token_keep_idx"][row].tolist())
        assert len(reference & set(kept[row].tolist())) >= 0.9 * len(reference)
