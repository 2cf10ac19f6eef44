"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
from parity_fixtures import parity_root


@pytest.fixture(scope="session")
def parity_dir() -> Path:
    """Path of the parity fixture folder (fails loudly, never skips, when it is absent)."""
    return parity_root()
