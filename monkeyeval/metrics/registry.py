"""Discovery of metric plugins: the built-in package and the `monkeyeval.metrics` entry points.

Each public module of the package `monkeyeval.metrics.builtin` (the top-level `metrics/*.py`, see
`monkeyeval.metrics.builtin`) defines `METRICS: list[Metric]`; modules whose name starts with "_" are
helpers the plugins import. An entry point of group `monkeyeval.metrics` loads to a `Metric` or a list of
them. A name or alias registered twice is an error that names both sources.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import pkgutil
import types
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from monkeyeval.core.errors import UserError
from monkeyeval.metrics.base import Metric

ENTRY_POINT_GROUP = "monkeyeval.metrics"
BUILTIN_PACKAGE = "monkeyeval.metrics.builtin"


class UnknownMetricError(UserError, KeyError):
    """A metric name (or alias) that no plugin registers."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        known_sorted = sorted(known)
        close = difflib.get_close_matches(name, known_sorted, n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        self.message = f"unknown metric {name!r}.{hint} Known metrics and aliases: {', '.join(known_sorted)}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class MetricRegistryError(UserError, RuntimeError):
    """A plugin is malformed or two plugins register the same name."""


@dataclass
class MetricRegistry:
    """Metrics by canonical name, plus alias -> canonical name, with where each came from."""

    _metrics: dict[str, Metric] = field(default_factory=dict)
    _aliases: dict[str, str] = field(default_factory=dict)
    _sources: dict[str, str] = field(default_factory=dict)

    def add(self, metric: Metric, source: str) -> None:
        """Register one metric; a name or alias clash raises MetricRegistryError naming both sources."""
        if not isinstance(metric, Metric):
            raise MetricRegistryError(f"{source}: expected a Metric, got {type(metric).__name__}")
        for key in (metric.name, *metric.aliases):
            if key in self._sources:
                raise MetricRegistryError(
                    f"metric name {key!r} is registered twice: by {self._sources[key]} and by {source}"
                )
        if metric.aggregation == "corpus" and metric.corpus is None:
            raise MetricRegistryError(f"{source}: corpus metric {metric.name!r} has no corpus function")
        if metric.aggregation != "corpus" and metric.per_sample is None:
            raise MetricRegistryError(f"{source}: metric {metric.name!r} has no per_sample function")
        self._metrics[metric.name] = metric
        self._sources[metric.name] = source
        for alias in metric.aliases:
            self._aliases[alias] = metric.name
            self._sources[alias] = source

    def get(self, name: str) -> Metric:
        """The metric registered under `name` or an alias of it; UnknownMetricError otherwise."""
        canonical = self._aliases.get(name, name)
        try:
            return self._metrics[canonical]
        except KeyError:
            raise UnknownMetricError(name, [*self._metrics, *self._aliases]) from None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._metrics or name in self._aliases)

    def names(self) -> list[str]:
        """Canonical metric names, sorted."""
        return sorted(self._metrics)

    def aliases(self) -> dict[str, str]:
        """Alias -> canonical name."""
        return dict(sorted(self._aliases.items()))

    def all(self) -> list[Metric]:
        """Every metric, sorted by name."""
        return [self._metrics[name] for name in self.names()]

    def source(self, name: str) -> str:
        """Where the metric (or alias) was registered from: a plugin file path or an entry point."""
        self.get(name)
        return self._sources[name]


def plugin_modules(package: str = BUILTIN_PACKAGE) -> list[types.ModuleType]:
    """Import every public module of a plugin package (files starting with "_" are helpers), by name."""
    folders = importlib.import_module(package).__path__
    names = sorted(info.name for info in pkgutil.iter_modules(folders) if not info.name.startswith("_"))
    return [importlib.import_module(f"{package}.{name}") for name in names]


def plugin_metrics(module: types.ModuleType) -> list[Metric]:
    """The `METRICS` list a plugin module defines."""
    metrics = getattr(module, "METRICS", None)
    if not isinstance(metrics, list):
        raise MetricRegistryError(f"{module.__file__}: a metric plugin must define METRICS: list[Metric]")
    return metrics


def _entry_point_metrics(loaded: Any, label: str) -> list[Metric]:
    if isinstance(loaded, Metric):
        return [loaded]
    if isinstance(loaded, (list, tuple)) and all(isinstance(m, Metric) for m in loaded):
        return list(loaded)
    raise MetricRegistryError(f"{label}: an entry point must load to a Metric or a list of Metric")


def load_metric_registry(extra_plugins: bool = True, package: str = BUILTIN_PACKAGE) -> MetricRegistry:
    """Every metric of the plugin package (default: the built-in plugins) and, when `extra_plugins`, every
    entry point of group `monkeyeval.metrics`."""
    registry = MetricRegistry()
    for module in plugin_modules(package):
        for metric in plugin_metrics(module):
            registry.add(metric, str(module.__file__))
    if extra_plugins:
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            label = f"entry point {entry_point.name!r} ({entry_point.value})"
            for metric in _entry_point_metrics(entry_point.load(), label):
                registry.add(metric, label)
    return registry
