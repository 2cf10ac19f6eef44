"""The real ChartQA test_human.json (tests/fixtures/chartqa, as vis-nlp/ChartQA publishes it) through the
built-in task `chartqa_test_human`: row-number ids, and `score` with exact and perturbed predictions against
the 5% relaxed-accuracy window."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from monkeyeval.cli.app import build_app
from monkeyeval.tasks.dataset import load_samples
from monkeyeval.tasks.registry import TaskRegistry

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "chartqa" / "test_human.json"
TASK = "chartqa_test_human"
METRICS = ("relaxed_accuracy_pix2struct", "relaxed_accuracy_qwen")  # primary first, as the task lists them


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), list(args), catch_exceptions=False)
    return result.exit_code, result.output


def number(label: str) -> float | None:
    """The label as a number when it is one (ChartQA's numeric labels are plain decimals), else None."""
    try:
        return float(label)
    except ValueError:
        return None


@pytest.fixture(scope="module")
def items() -> list[dict]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


@pytest.fixture
def data_root(tmp_path: Path, items: list[dict]) -> Path:
    """The ChartQA repo layout: `ChartQA Dataset/test/test_human.json` (the real file) beside `png/`, with a
    tiny PNG for every chart the file names."""
    root = tmp_path / "data"
    test_dir = root / "ChartQA Dataset" / "test"
    (test_dir / "png").mkdir(parents=True)
    shutil.copyfile(FIXTURE, test_dir / "test_human.json")
    for name in sorted({item["imgname"] for item in items}):
        Image.new("RGB", (2, 2)).save(test_dir / "png" / name, format="PNG")
    return root


def test_the_fixture_is_the_published_file(items: list[dict]) -> None:
    digest = hashlib.sha256(FIXTURE.read_bytes()).hexdigest()
    readme = (FIXTURE.parent / "README.md").read_text(encoding="utf-8")
    assert digest in readme and str(FIXTURE.stat().st_size) in readme  # the README names these bytes
    assert f"{len(items)} objects" in readme
    assert all(set(item) == {"imgname", "query", "label"} for item in items)
    assert all(isinstance(value, str) for item in items for value in item.values())


def test_the_builtin_task_reads_the_real_file_with_row_ids(data_root: Path, items: list[dict]) -> None:
    task = TaskRegistry.discover((), data_root).get(TASK)
    loaded = load_samples(task)
    assert loaded.problems == []
    samples = loaded.samples
    assert [s.id for s in samples] == [str(row) for row in range(len(items))]
    assert [s.question for s in samples] == [item["query"] for item in items]
    assert [s.answers for s in samples] == [[item["label"]] for item in items]
    assert [s.image for s in samples] == [item["imgname"] for item in items]
    assert all(s.error is None and s.image_path is not None and s.image_path.is_file() for s in samples)


def score(data_root: Path, tmp_path: Path, name: str, predictions: list[str]) -> tuple[dict, list[dict]]:
    """`monkeyeval score` on a monkeyeval jsonl with one prediction per row id; (scores.json, its rows)."""
    path = tmp_path / f"{name}.jsonl"
    path.write_text(
        "".join(json.dumps({"id": str(row), "prediction": p}) + "\n" for row, p in enumerate(predictions)),
        encoding="utf-8",
    )
    results = tmp_path / "results"
    code, out = invoke(
        "score", "--task", TASK, str(path), "--data-root", str(data_root), "--results", str(results),
        "--format", "monkeyeval",
    )  # fmt: skip
    assert code == 0, out
    run_dir = results / name / TASK
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").open(encoding="utf-8")]
    return json.loads((run_dir / "scores.json").read_text(encoding="utf-8")), rows


def test_exact_labels_score_one_on_every_row(data_root: Path, items: list[dict], tmp_path: Path) -> None:
    scores, rows = score(data_root, tmp_path, "exact", [item["label"] for item in items])
    assert scores["metric"] == METRICS[0]
    assert scores["score"] == 1.0
    assert scores["n"] == scores["n_scored"] == len(items)
    assert {name: scores["metrics"][name]["score"] for name in METRICS} == dict.fromkeys(METRICS, 1.0)
    assert [r["id"] for r in rows] == [str(row) for row in range(len(items))]


@pytest.mark.parametrize(("factor", "inside"), [(1.04, True), (1.06, False)])
def test_numeric_labels_perturbed_inside_and_outside_the_window(
    data_root: Path, items: list[dict], tmp_path: Path, factor: float, inside: bool
) -> None:
    """Every non-zero numeric label times `factor`, every other label as is. +4% stays inside the 5% window
    both ways round (0.04 of the gold for pix2struct, 0.04/1.04 of the prediction for Qwen's swap); +6% falls
    outside both ways (0.06, 0.06/1.06). A zero label has no relative window, so it stays exact."""
    perturbed = {
        row for row, item in enumerate(items) if (value := number(item["label"])) is not None and value != 0
    }
    assert 0 < len(perturbed) < len(items)  # the file has both kinds, so both counts below mean something
    predictions = [
        repr(float(item["label"]) * factor) if row in perturbed else item["label"]
        for row, item in enumerate(items)
    ]
    scores, rows = score(data_root, tmp_path, f"times_{factor}", predictions)

    right = len(items) if inside else len(items) - len(perturbed)
    assert scores["n"] == scores["n_scored"] == len(items)
    assert scores["score"] == pytest.approx(right / len(items))
    for name in METRICS:
        assert scores["metrics"][name]["score"] == pytest.approx(right / len(items)), name
        wrong = {int(r["id"]) for r in rows if r["scores"][name] == 0.0}
        assert wrong == (set() if inside else perturbed), name
