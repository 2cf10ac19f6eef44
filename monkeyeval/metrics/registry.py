"""Discovery of metric plugins: the built-in `metrics/*.py` files and `monkeyeval.metrics` entry points.

Each built-in plugin file exposes `METRICS: list[Metric]`; it is imported from its file path under the
private package name `monkeyeval_builtin_metrics.<stem>` (no sys.path changes). An entry point of group
`monkeyeval.metrics` loads to a `Metric` or to a list of them.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import importlib.util
import sys
import types
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monkeyeval.core.paths import builtin_dir
from monkeyeval.metrics.base import Metric

ENTRY_POINT_GROUP = "monkeyeval.metrics"
BUILTIN_NAMESPACE = "monkeyeval_builtin_metrics"


class UnknownMetricError(KeyError):
    """A metric name (or alias) that no plugin registers."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        known_sorted = sorted(known)
        close = difflib.get_close_matches(name, known_sorted, n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        self.message = f"unknown metric {name!r}.{hint} Known metrics and aliases: {', '.join(known_sorted)}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class MetricRegistryError(RuntimeError):
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


def _namespace_package() -> types.ModuleType:
    package = sys.modules.get(BUILTIN_NAMESPACE)
    if package is None:
        package = types.ModuleType(BUILTIN_NAMESPACE)
        package.__path__ = []
        sys.modules[BUILTIN_NAMESPACE] = package
    return package


def load_plugin_file(path: Path) -> list[Metric]:
    """Import one plugin file by path and return its `METRICS` list."""
    _namespace_package()
    module_name = f"{BUILTIN_NAMESPACE}.{path.stem}"
    module = sys.modules.get(module_name)
    if module is None or getattr(module, "__file__", None) != str(path):
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise MetricRegistryError(f"{path}: cannot be imported as a metric plugin")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception:
            del sys.modules[module_name]
            raise
    metrics = getattr(module, "METRICS", None)
    if not isinstance(metrics, list):
        raise MetricRegistryError(f"{path}: a metric plugin must define METRICS: list[Metric]")
    return metrics


def _entry_point_metrics(loaded: Any, label: str) -> list[Metric]:
    if isinstance(loaded, Metric):
        return [loaded]
    if isinstance(loaded, (list, tuple)) and all(isinstance(m, Metric) for m in loaded):
        return list(loaded)
    raise MetricRegistryError(f"{label}: an entry point must load to a Metric or a list of Metric")


def load_metric_registry(extra_plugins: bool = True, plugin_dir: Path | None = None) -> MetricRegistry:
    """Every built-in metric (files in `builtin_dir("metrics")` or `plugin_dir`) and, when `extra_plugins`,
    every entry point of group `monkeyeval.metrics`."""
    registry = MetricRegistry()
    folder = plugin_dir if plugin_dir is not None else builtin_dir("metrics")
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        for metric in load_plugin_file(path.resolve()):
            registry.add(metric, str(path))
    if extra_plugins:
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            label = f"entry point {entry_point.name!r} ({entry_point.value})"
            for metric in _entry_point_metrics(entry_point.load(), label):
                registry.add(metric, label)
    return registry
