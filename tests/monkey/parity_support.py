"""Shared loaders for the Monkey / TextMonkey parity fixtures (LM side): cases, arrays, tokenizer, model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from monkeyeval.models.monkey.adapter import MonkeyAdapter, TextMonkeyAdapter
from monkeyeval.models.monkey.model import MonkeyForCausalLM
from monkeyeval.models.monkey.tokenizer import QwenTokenizer

FAMILIES = ("monkey", "textmonkey")
ADAPTERS = {"monkey": MonkeyAdapter, "textmonkey": TextMonkeyAdapter}


def read_cases(folder: Path) -> list[dict[str, Any]]:
    """A fixture's cases.jsonl sorted by row; rows must be 0..n-1 (they index the batch and the arrays)."""
    lines = (folder / "cases.jsonl").read_text(encoding="utf-8").split("\n")
    cases = sorted((json.loads(line) for line in lines if line.strip()), key=lambda case: case["row"])
    assert cases, f"{folder / 'cases.jsonl'} holds no cases"
    assert [case["row"] for case in cases] == list(range(len(cases))), folder
    return cases


def read_meta(folder: Path) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    return meta


def max_new_tokens_of(folder: Path) -> int:
    """The max_new_tokens of the recorded upstream generate calls (meta.json -> generate_kwargs)."""
    return int(read_meta(folder)["generate_kwargs"]["max_new_tokens"])


def image_span_of(folder: Path) -> int:
    """IMG_TOKEN_SPAN of the fixture's tokenizer (meta.json), checked against every case's `img_span`."""
    span = int(read_meta(folder)["vocab"]["img_token_span"])
    for case in read_cases(folder):
        start, end = case["img_span"]
        assert end - start - 1 == span, case["id"]
    return span


def image_size_of(config: dict[str, Any]) -> int:
    """The square input size of the vision tower (config.visual.image_size: an int or [H, W])."""
    size = config["visual"]["image_size"]
    if isinstance(size, list):
        assert len(set(size)) == 1, size
        size = size[0]
    return int(size)


@dataclass
class LMFixture:
    """One model fixture: its folder, config, meta, cases (by row), arrays, tokenizer and LM-only model."""

    name: str
    folder: Path
    config: dict[str, Any]
    meta: dict[str, Any]
    cases: list[dict[str, Any]]
    arrays: dict[str, np.ndarray]
    tokenizer: QwenTokenizer
    model: MonkeyForCausalLM

    @property
    def checkpoint(self) -> Path:
        return self.folder / "checkpoint"

    @property
    def max_new_tokens(self) -> int:
        """max_new_tokens of the recorded generate calls."""
        return int(self.meta["generate_kwargs"]["max_new_tokens"])

    def tensor(self, name: str) -> torch.Tensor:
        return torch.from_numpy(self.arrays[name])

    @property
    def visual_embeds(self) -> torch.Tensor:
        """The recorded vision-encoder output per sample (batch-1 runs)."""
        return self.tensor("visual_embeds")


def load_lm_fixture(parity_dir: Path, name: str) -> LMFixture:
    """Read a fixture and build its language model (vision skipped: recorded embeds replace it)."""
    folder = parity_dir / name
    config = json.loads((folder / "checkpoint" / "config.json").read_text())
    cases = read_cases(folder)
    with np.load(folder / "arrays.npz") as npz:
        arrays = {key: npz[key] for key in npz.files}
    for key in ("visual_embeds", "b4_input_ids", "b4_generated_ids", "first_step_logits_b1"):
        assert arrays[key].shape[0] == len(cases), (name, key)  # one row per case
    adapter = ADAPTERS[name]
    tokenizer = adapter.build_tokenizer(folder / "checkpoint", config)
    model = MonkeyForCausalLM(config)
    model.load_checkpoint_weights(folder / "checkpoint")
    return LMFixture(name, folder, config, read_meta(folder), cases, arrays, tokenizer, model.eval())
