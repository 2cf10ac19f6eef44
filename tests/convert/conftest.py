"""Fixtures for the converter tests."""

from __future__ import annotations

import pytest

from monkeyeval.metrics.registry import MetricRegistry, load_metric_registry


@pytest.fixture(scope="session")
def metrics() -> MetricRegistry:
    """The real metric registry (built-in plugins)."""
    return load_metric_registry(extra_plugins=False)
