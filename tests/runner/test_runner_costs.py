"""Adapter cost estimates (`ModelAdapter.cost`): exact for Mini-Monkey from the image header, parity-aware
for Monkey, absent for hf."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from PIL import Image

from monkeyeval.core.types import Sample
from monkeyeval.models.base import LoadOptions
from monkeyeval.models.hf import HFAdapter
from monkeyeval.models.minimonkey.adapter import MiniMonkeyAdapter
from monkeyeval.models.monkey.adapter import MonkeyAdapter

pytestmark = pytest.mark.slow  # loads fixture checkpoints

SIZES = [(16, 12), (448, 448), (900, 900), (1700, 2200), (2200, 1700), (400, 1600), (3000, 700), (120, 60)]


def sample_at(path: Path, index: int = 0) -> Sample:
    return Sample(index=index, id=str(index), question="q", answers=[], image=path.name, image_path=path)


@pytest.fixture(scope="module")
def minimonkey(parity_dir: Path) -> MiniMonkeyAdapter:
    torch.set_num_threads(2)
    return MiniMonkeyAdapter.load(LoadOptions(checkpoint=str(parity_dir / "minimonkey" / "checkpoint")))


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"tiles": "DocVQA"},
        {"tiles": "MMMU"},
        {"tiles": "VLMEvalKit_upstream", "order": "secondary_first"},
    ],
)
def test_minimonkey_cost_is_the_prompt_length_its_worker_builds(
    minimonkey: MiniMonkeyAdapter, tmp_path: Path, options: dict[str, str]
) -> None:
    minimonkey.configure_task(options)
    preprocess = minimonkey.preprocessor()
    for k, (width, height) in enumerate(SIZES):
        path = tmp_path / f"page{k}.png"
        Image.new("RGB", (width, height), (k * 30, 90, 200)).save(path)
        for prompt in ("<image>\nWhat is the date?", "Answer briefly: who signed it?"):
            expected = minimonkey.input_tokens(preprocess(sample_at(path), prompt))
            assert minimonkey.cost(sample_at(path), prompt) == expected, (width, height)


def test_minimonkey_cost_never_decodes_and_survives_bad_images(
    minimonkey: MiniMonkeyAdapter, tmp_path: Path
) -> None:
    minimonkey.configure_task({"tiles": "DocVQA"})
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)  # opening it would block forever: the cost must refuse it first
    text_only = minimonkey.cost(sample_at(tmp_path / "absent.png"), "q?")
    assert text_only is not None and text_only > 0
    assert minimonkey.cost(sample_at(broken), "q?") == text_only
    assert minimonkey.cost(sample_at(fifo), "q?") == text_only
    big = tmp_path / "big.png"
    Image.new("RGB", (1700, 2200)).save(big)
    per_tile = minimonkey.model.config.tokens_per_tile
    assert (minimonkey.cost(sample_at(big), "q?") or 0) - text_only == per_tile * 19  # 3x4 + thumb + 2x3


def test_monkey_sorts_only_with_padding_aware_positions(parity_dir: Path, tmp_path: Path) -> None:
    adapter = MonkeyAdapter.load(LoadOptions(checkpoint=str(parity_dir / "monkey" / "checkpoint")))
    path = tmp_path / "page.png"
    Image.new("RGB", (64, 48)).save(path)
    prompt = f"<img>{path.name}</img> What is written here? Answer:"
    assert adapter.cost(sample_at(path), prompt) is None  # parity mode: upstream's dataset-order batches
    adapter.configure_task({"padding_aware_positions": True})
    payload = adapter.preprocessor()(sample_at(path), prompt)
    assert adapter.cost(sample_at(path), prompt) == adapter.input_tokens(payload)
    assert adapter.cost(sample_at(path), "<img>" + "x" * 5000 + "</img>") == 0  # refused by its worker


def test_hf_keeps_dataset_order() -> None:
    adapter = object.__new__(HFAdapter)  # no checkpoint needed: the answer does not depend on one
    assert adapter.cost(sample_at(Path("x.png")), "q") is None
