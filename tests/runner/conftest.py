"""Fixtures for the runner tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runner.support import TinyTask, make_tiny_task


@pytest.fixture
def tiny_task(tmp_path: Path) -> Callable[..., TinyTask]:
    """Factory: tiny_task(n=12, corrupt=(...), ...) in this test's temp folder."""
    counter = iter(range(1000))

    def build(**kwargs: object) -> TinyTask:
        return make_tiny_task(tmp_path / f"task{next(counter)}", **kwargs)

    return build


@pytest.fixture
def fake_ckpt(tmp_path: Path) -> Path:
    """A checkpoint folder for the fake adapter."""
    from runner.fake_adapter import write_fake_checkpoint

    return write_fake_checkpoint(tmp_path / "fake_ckpt")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No dependence on the developer's task path / data root; no torchrun variables leaking in."""
    for name in ("MONKEYEVAL_TASKS_PATH", "MONKEYEVAL_DATA", "RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
