"""Metric registry: built-in plugins, aliases, did-you-mean, duplicates, entry points, README table."""

from __future__ import annotations

import importlib.metadata
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from monkeyeval.core.errors import UserError
from monkeyeval.core.paths import builtin_dir
from monkeyeval.metrics.base import Metric
from monkeyeval.metrics.builtin import anls as anls_plugin
from monkeyeval.metrics.builtin import vqa_accuracy as vqa_plugin
from monkeyeval.metrics.registry import (
    BUILTIN_PACKAGE,
    MetricRegistryError,
    UnknownMetricError,
    load_metric_registry,
)

REQUIRED = {
    "anls_docvqa", "anls_pypi", "anls_monkey", "anls_mmf", "vqa_accuracy_official", "vqa_accuracy_lavis",
    "textvqa_accuracy_mmf", "relaxed_accuracy_pix2struct", "relaxed_accuracy_vlmevalkit",
    "relaxed_accuracy_qwen", "exact_match_qwen", "contains_match_monkey", "contains_match_textmonkey",
    "gqa_exact_match_qwen", "scienceqa_mc_internvl", "ocrbench", "ocrbench_hme100k", "cider_coco",
    "cider_pretokenized", "gqa_contains_monkey",
}  # fmt: skip
ALIASES = {
    "anls": "anls_docvqa",
    "vqa_score": "vqa_accuracy_official",
    "relaxed_accuracy": "relaxed_accuracy_pix2struct",
    "accuracy": "exact_match_qwen",
}


@pytest.fixture(scope="module")
def registry():
    return load_metric_registry(extra_plugins=False)


def test_every_required_metric_is_registered(registry) -> None:
    assert set(registry.names()) == REQUIRED
    assert registry.aliases() == ALIASES
    for alias, name in ALIASES.items():
        assert registry.get(alias) is registry.get(name)
        assert alias in registry


def test_metric_metadata(registry) -> None:
    for metric in registry.all():
        assert metric.version == "1"
        assert metric.source and metric.description
        expected = {
            "ocrbench": "sum",
            "ocrbench_hme100k": "sum",
            "cider_coco": "corpus",
            "cider_pretokenized": "corpus",
        }
        assert metric.aggregation == expected.get(metric.name, "mean")
        if metric.name.startswith("anls_"):
            assert metric.batch is not None
    assert registry.get("scienceqa_mc_internvl").extra_fields == ("options",)


def test_plugins_are_imported_as_the_builtin_package(registry) -> None:
    assert BUILTIN_PACKAGE == "monkeyeval.metrics.builtin"
    assert sys.modules["monkeyeval.metrics.builtin.anls"] is anls_plugin
    assert anls_plugin.__file__ == str(builtin_dir("metrics") / "anls.py")
    assert registry.source("anls_docvqa").endswith("anls.py")
    assert registry.get("anls_docvqa").per_sample is anls_plugin.anls_docvqa
    assert vqa_plugin.CONTRACTIONS is sys.modules["monkeyeval.metrics.builtin._vqa_tables"].CONTRACTIONS
    assert not any(name.startswith("monkeyeval_builtin") for name in sys.modules)


def test_unknown_metric_did_you_mean(registry) -> None:
    with pytest.raises(UnknownMetricError) as caught:
        registry.get("anls_docqva")
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, UserError)
    message = str(caught.value)
    assert "Did you mean 'anls_docvqa'" in message
    assert "cider_pretokenized" in message and "vqa_score" in message
    with pytest.raises(UnknownMetricError, match=r"unknown metric 'zzz'\. Known"):
        registry.get("zzz")


def test_score_samples_through_the_registry(registry) -> None:
    anls = registry.get("anls")
    score, per = anls.score_samples(["pizzeria", "pizza"], [["pizzeria"], ["pizzeria"]])
    assert per == [1.0, 0.625] and score == 0.8125
    sqa = registry.get("scienceqa_mc_internvl")
    score, per = sqa.score_samples(
        ["B", "green"], [["B"], ["A"]], [{"options": ["x", "y"]}, {"options": {"A": "green"}}]
    )
    assert per == [1.0, 1.0]
    ocr = registry.get("ocrbench")
    total, per = ocr.score_samples(
        ["x ^ 2", "X ^ 2"], [["x^2"], ["x^2"]], [{"dataset_name": "HME100k"}, {"dataset_name": "IIIT5K"}]
    )
    assert per == [1.0, 0.0] and total == 1.0


def _write_plugin(folder: Path, stem: str, names: list[str]) -> None:
    body = "\n".join(
        f"    Metric(name={n!r}, version='1', description='d', source='s', per_sample=lambda p, a: 0.0),"
        for n in names
    )
    (folder / f"{stem}.py").write_text(
        f"from monkeyeval.metrics.base import Metric\nMETRICS = [\n{body}\n]\n", encoding="utf-8"
    )


@pytest.fixture
def plugin_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """An empty plugin package (folder, importable name) on a temporary sys.path entry; its modules are
    dropped from sys.modules afterwards."""
    name = "metric_plugins_" + re.sub(r"\W", "_", tmp_path.name)
    folder = tmp_path / name
    folder.mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))
    yield folder, name
    for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        del sys.modules[module]


def test_duplicate_names_across_plugins_name_both_sources(plugin_package: tuple[Path, str]) -> None:
    folder, package = plugin_package
    _write_plugin(folder, "one", ["dup"])
    _write_plugin(folder, "two", ["dup"])
    with pytest.raises(
        MetricRegistryError, match=r"'dup' is registered twice: by .*one\.py and by .*two\.py"
    ) as caught:
        load_metric_registry(extra_plugins=False, package=package)
    assert isinstance(caught.value, UserError) and isinstance(caught.value, RuntimeError)


def test_plugin_without_metrics_list(plugin_package: tuple[Path, str]) -> None:
    folder, package = plugin_package
    (folder / "broken.py").write_text("X = 1\n", encoding="utf-8")
    with pytest.raises(MetricRegistryError, match=r"broken\.py: a metric plugin must define METRICS"):
        load_metric_registry(extra_plugins=False, package=package)


def test_private_files_are_skipped(plugin_package: tuple[Path, str]) -> None:
    folder, package = plugin_package
    _write_plugin(folder, "_helpers", ["hidden"])
    _write_plugin(folder, "visible", ["shown"])
    assert load_metric_registry(extra_plugins=False, package=package).names() == ["shown"]


def test_plugins_import_their_siblings(plugin_package: tuple[Path, str]) -> None:
    folder, package = plugin_package
    (folder / "_shared.py").write_text("def zero(p, a):\n    return 0.0\n", encoding="utf-8")
    (folder / "uses_sibling.py").write_text(
        "from monkeyeval.metrics.base import Metric\n"
        "from ._shared import zero\n"
        "METRICS = [Metric(name='sib', version='1', description='d', source='s', per_sample=zero)]\n",
        encoding="utf-8",
    )
    metric = load_metric_registry(extra_plugins=False, package=package).get("sib")
    assert metric.per_sample is sys.modules[f"{package}._shared"].zero


@pytest.fixture
def entry_point_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    module = tmp_path / "fake_metric_plugin_mod.py"
    module.write_text(
        textwrap.dedent(
            """
            from monkeyeval.metrics.base import Metric
            def make(name):
                return Metric(name=name, version="1", description="d", source="s", per_sample=len)
            SINGLE = make("ep_single")
            MANY = [make("ep_a")]
            CLASH = make("anls")
            BAD = 42
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "fake_metric_plugin_mod"


def _fake_entry_points(monkeypatch: pytest.MonkeyPatch, module: str, attrs: list[str]) -> None:
    points = [
        importlib.metadata.EntryPoint(name=a.lower(), value=f"{module}:{a}", group="monkeyeval.metrics")
        for a in attrs
    ]

    def entry_points(group: str):
        assert group == "monkeyeval.metrics"
        return points

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def test_entry_points_load_metrics_and_lists(
    monkeypatch: pytest.MonkeyPatch, entry_point_module: str
) -> None:
    _fake_entry_points(monkeypatch, entry_point_module, ["SINGLE", "MANY"])
    registry = load_metric_registry()
    assert {"ep_single", "ep_a"} <= set(registry.names())
    assert "entry point 'single'" in registry.source("ep_single")
    assert "ep_single" not in load_metric_registry(extra_plugins=False).names()


def test_entry_point_clashing_with_a_builtin_alias(
    monkeypatch: pytest.MonkeyPatch, entry_point_module: str
) -> None:
    _fake_entry_points(monkeypatch, entry_point_module, ["CLASH"])
    with pytest.raises(
        MetricRegistryError, match=r"'anls' is registered twice: by .*anls\.py and by entry point"
    ):
        load_metric_registry()


def test_entry_point_with_a_wrong_type(monkeypatch: pytest.MonkeyPatch, entry_point_module: str) -> None:
    _fake_entry_points(monkeypatch, entry_point_module, ["BAD"])
    with pytest.raises(MetricRegistryError, match="must load to a Metric or a list of Metric"):
        load_metric_registry()


def test_metric_without_function_is_rejected(plugin_package: tuple[Path, str]) -> None:
    folder, package = plugin_package
    (folder / "nofn.py").write_text(
        "from monkeyeval.metrics.base import Metric\n"
        "METRICS = [Metric(name='nofn', version='1', description='d', source='s')]\n",
        encoding="utf-8",
    )
    with pytest.raises(MetricRegistryError, match="has no per_sample function"):
        load_metric_registry(extra_plugins=False, package=package)


def test_readme_documents_every_metric_and_alias(registry) -> None:
    readme = (builtin_dir("metrics") / "README.md").read_text(encoding="utf-8")
    metrics_section = readme.split("## Metrics", 1)[1].split("## Aliases", 1)[0]
    rows = re.findall(r"^\| `([a-z0-9_]+)` \|", metrics_section, flags=re.MULTILINE)
    assert set(rows) == set(registry.names())
    for alias, name in ALIASES.items():
        assert re.search(rf"^\| `{alias}` \| `{name}` \|", readme, flags=re.MULTILINE), alias
    assert isinstance(registry.get("anls"), Metric)
