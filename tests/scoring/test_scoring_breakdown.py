"""Per-category breakdown: OCRBench sums by `type` (recognition types folded into Text Recognition), means
for mean metrics, errors counted as 0, YAML validation, scores.json round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monkeyeval.core.paths import builtin_dir
from monkeyeval.core.types import PredictionRecord, Sample
from monkeyeval.metrics.registry import MetricRegistry, load_metric_registry
from monkeyeval.results.finalize import finalize_run
from monkeyeval.results.reader import read_scores_file
from monkeyeval.results.scoring import score_records
from monkeyeval.tasks.config import BreakdownSpec, DatasetSpec, TaskConfig
from monkeyeval.tasks.loader import DataRoot, load_task_file
from monkeyeval.tasks.yaml_source import TaskConfigError


@pytest.fixture(scope="module")
def metrics() -> MetricRegistry:
    return load_metric_registry(extra_plugins=False)


@pytest.fixture(scope="module")
def ocrbench(metrics: MetricRegistry) -> TaskConfig:
    return load_task_file(builtin_dir("tasks") / "ocrbench.yaml", DataRoot(Path("/data"), "test"), metrics)


# (type, prediction, answers, error): hand-checked OCRBench containment hits in the comment
OCR_ITEMS = [
    ("Regular Text Recognition", "the word is HELLO", ["hello"], None),  # hit
    ("Regular Text Recognition", "world", ["hello"], None),  # miss
    ("Irregular Text Recognition", "Stop", ["stop"], None),  # hit
    ("Scene Text-centric VQA", "pizza hut", ["Pizza"], None),  # hit
    ("Scene Text-centric VQA", "pizza", ["pizza"], "image missing"),  # error: 0
    ("Key Information Extraction", "TOTAL 12.50", ["12.50"], None),  # hit
    ("Handwritten Mathematical Expression Recognition", "X^2", ["x^2"], None),  # HME100k keeps case: miss
    ("Digit String Recognition", "0 1 2", ["012"], None),  # miss (spaces kept outside HMER)
]


def ocr_inputs() -> tuple[list[PredictionRecord], list[Sample]]:
    records, samples = [], []
    for i, (kind, prediction, answers, error) in enumerate(OCR_ITEMS):
        records.append(PredictionRecord(i, str(i), "p", prediction, answers, error=error))
        source = "HME100k" if kind.startswith("Handwritten Mathematical") else "IIIT5K"
        samples.append(
            Sample(i, str(i), "q", answers, "x.png", None, extra={"type": kind, "dataset_name": source})
        )
    return records, samples


def test_ocrbench_breakdown_sums_by_super_category(ocrbench: TaskConfig, metrics: MetricRegistry) -> None:
    records, samples = ocr_inputs()
    result = score_records(ocrbench, records, samples=samples, metrics=metrics)
    assert result.score == 4
    assert result.breakdown == {
        "Text Recognition": {
            "score": 2.0,
            "n": 4,
            "members": {
                "Regular Text Recognition": {"score": 1.0, "n": 2},
                "Irregular Text Recognition": {"score": 1.0, "n": 1},
                "Digit String Recognition": {"score": 0.0, "n": 1},
            },
        },
        "Scene Text-centric VQA": {"score": 1.0, "n": 2},
        "Key Information Extraction": {"score": 1.0, "n": 1},
        "Handwritten Mathematical Expression Recognition": {"score": 0.0, "n": 1},
    }
    assert result.breakdown is not None
    assert list(result.breakdown) == [  # first-seen order, as upstream prints
        "Text Recognition",
        "Scene Text-centric VQA",
        "Key Information Extraction",
        "Handwritten Mathematical Expression Recognition",
    ]
    assert sum(entry["score"] for entry in result.breakdown.values()) == result.score


def test_breakdown_written_to_scores_json_and_read_back(
    tmp_path: Path, ocrbench: TaskConfig, metrics: MetricRegistry
) -> None:
    records, samples = ocr_inputs()
    finalize_run(
        tmp_path / "m" / "ocrbench", ocrbench, records, {"family": "x"}, "m", samples=samples, metrics=metrics
    )
    data = json.loads((tmp_path / "m" / "ocrbench" / "scores.json").read_text(encoding="utf-8"))
    assert data["breakdown"]["Text Recognition"]["members"]["Regular Text Recognition"] == {
        "score": 1.0,
        "n": 2,
    }
    run = read_scores_file(tmp_path / "m" / "ocrbench" / "scores.json")
    top = {category.name: category for category in run.breakdown}
    assert top["Text Recognition"].score == 2 and top["Text Recognition"].n == 4
    assert [m.name for m in top["Text Recognition"].members] == [
        "Regular Text Recognition",
        "Irregular Text Recognition",
        "Digit String Recognition",
    ]


def test_mean_metric_breakdown_and_missing_category(metrics: MetricRegistry) -> None:
    spec = DatasetSpec(jsonl=Path("/x.jsonl"), image_root=Path("/x"))
    task = TaskConfig("t", Path("/t.yaml"), spec, ("exact_match_qwen",), 10, breakdown=BreakdownSpec("kind"))
    rows = [("a", "cat", "cat"), ("a", "dog", "cat"), ("b", "cat", "cat"), (None, "x", "x")]
    records = [PredictionRecord(i, str(i), "p", pred, [gold]) for i, (_, pred, gold) in enumerate(rows)]
    samples = [
        Sample(i, str(i), "q", [gold], "i.png", None, extra={} if kind is None else {"kind": kind})
        for i, (kind, _, gold) in enumerate(rows)
    ]
    result = score_records(task, records, samples=samples, metrics=metrics)
    assert result.breakdown == {
        "a": {"score": 0.5, "n": 2},
        "b": {"score": 1.0, "n": 1},
        "(no category)": {"score": 1.0, "n": 1},
    }


def test_task_without_breakdown_writes_no_key(metrics: MetricRegistry) -> None:
    spec = DatasetSpec(jsonl=Path("/x.jsonl"), image_root=Path("/x"))
    task = TaskConfig("t", Path("/t.yaml"), spec, ("exact_match_qwen",), 10)
    records = [PredictionRecord(0, "0", "p", "a", ["a"])]
    samples = [Sample(0, "0", "q", ["a"], "i.png", None, extra={"type": "z"})]
    assert "breakdown" not in score_records(task, records, samples=samples, metrics=metrics).to_json()


BASE_YAML = "task: t\ndataset: {jsonl: d.jsonl}\nmetric: ocrbench\nmax_new_tokens: 5\n"


@pytest.mark.parametrize(
    ("breakdown", "message"),
    [
        ("breakdown: {groups: {}}", "missing required key 'breakdown.field'"),
        ("breakdown: {field: type, grups: {}}", r"unknown key \(did you mean: groups\?\)"),
        ("breakdown: {field: type, groups: {A: [x], B: [y, x]}}", "'x' is listed in both 'A' and 'B'"),
        ("breakdown: {field: type, groups: {A: []}}", "non-empty list"),
        ("breakdown: {field: 3}", "expected a jsonl key name"),
    ],
)
def test_breakdown_yaml_errors(tmp_path: Path, metrics: MetricRegistry, breakdown: str, message: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(BASE_YAML + breakdown + "\n", encoding="utf-8")
    with pytest.raises(TaskConfigError, match=message):
        load_task_file(path, DataRoot(tmp_path, "test"), metrics)
