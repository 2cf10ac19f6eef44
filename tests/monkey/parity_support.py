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


@dataclass
class LMFixture:
    """One model fixture: its folder, config, cases (by row), arrays, tokenizer and LM-only model."""

    name: str
    folder: Path
    config: dict[str, Any]
    cases: list[dict[str, Any]]
    arrays: dict[str, np.ndarray]
    tokenizer: QwenTokenizer
    model: MonkeyForCausalLM

    @property
    def checkpoint(self) -> Path:
        return self.folder / "checkpoint"

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
    cases = sorted(
        (
            json.loads(line)
            for line in (folder / "cases.jsonl").read_text(encoding="utf-8").split("\n")
            if line.strip()
        ),
        key=lambda case: case["row"],
    )
    with np.load(folder / "arrays.npz") as npz:
        arrays = {key: npz[key] for key in npz.files}
    adapter = ADAPTERS[name]
    tokenizer = adapter.build_tokenizer(folder / "checkpoint", config)
    model = MonkeyForCausalLM(config)
    model.load_checkpoint_weights(folder / "checkpoint")
    return LMFixture(name, folder, config, cases, arrays, tokenizer, model.eval())
