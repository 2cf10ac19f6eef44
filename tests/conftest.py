"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def parity_root() -> Path:
    """The parity fixtures: $MONKEYEVAL_PARITY_FIXTURES, else ../shared/fixtures/parity beside the repo."""
    env = os.environ.get("MONKEYEVAL_PARITY_FIXTURES")
    root = Path(env) if env else REPO_ROOT.parent / "shared" / "fixtures" / "parity"
    if not root.is_dir():
        raise FileNotFoundError(
            f"parity fixtures not found at {root}: set MONKEYEVAL_PARITY_FIXTURES to the folder that holds "
            "monkey/, textmonkey/, minimonkey/ and tokenizer/"
        )
    return root


@pytest.fixture(scope="session")
def parity_dir() -> Path:
    """Path of the parity fixture folder (fails loudly, never skips, when it is absent)."""
    return parity_root()
