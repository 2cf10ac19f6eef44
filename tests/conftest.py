"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
from parity_fixtures import parity_root


@pytest.fixture(scope="session")
def parity_dir() -> Path:
    """Path of the parity fixture folder (fails loudly, never skips, when it is absent)."""
    return parity_root()


@pytest.fixture(autouse=True)
def _private_hash_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Checkpoint digests are cached per test session in a temp folder, never in the user's ~/.cache."""
    monkeypatch.setenv("MONKEYEVAL_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "hash-cache"))
