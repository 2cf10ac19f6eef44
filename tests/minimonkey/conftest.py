"""Shared fixtures of the Mini-Monkey tests (the public parity fixture folder and the loaded tiny model)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from monkeyeval.models.minimonkey.model import MiniMonkeyForCausalLM


@pytest.fixture(scope="module")
def fixture_dir(parity_dir: Path) -> Path:
    """The Mini-Monkey parity fixture folder."""
    return parity_dir / "minimonkey"


@pytest.fixture(scope="module")
def model(fixture_dir: Path) -> MiniMonkeyForCausalLM:
    """The tiny fixture checkpoint, loaded natively (one instance per test module)."""
    torch.set_num_threads(2)
    return MiniMonkeyForCausalLM.from_pretrained(fixture_dir / "checkpoint")
