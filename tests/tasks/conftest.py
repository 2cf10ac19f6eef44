"""Fixtures for the task YAML, registry and dataset tests."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from monkeyeval.metrics.registry import MetricRegistry, load_metric_registry

WriteFn = Callable[[str, str], Path]


@pytest.fixture(scope="session")
def metrics() -> MetricRegistry:
    """The real metric registry (built-in plugins)."""
    return load_metric_registry(extra_plugins=False)


@pytest.fixture
def write(tmp_path: Path) -> WriteFn:
    """write(relative_name, yaml_text) -> path; text is dedented."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests must not depend on the developer's MONKEYEVAL_TASKS_PATH / MONKEYEVAL_DATA."""
    monkeypatch.delenv("MONKEYEVAL_TASKS_PATH", raising=False)
    monkeypatch.delenv("MONKEYEVAL_DATA", raising=False)
