"""The real OCRBench.json (tests/fixtures/ocrbench, as MultimodalOCR publishes it) through the built-in task:
composite ids, `run --dry-run`, `score` on a MultimodalOCR-shaped output and on monkeyeval jsonl."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from monkeyeval.cli.app import build_app
from monkeyeval.tasks.dataset import load_samples
from monkeyeval.tasks.registry import TaskRegistry

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "ocrbench" / "OCRBench.json"
RECOGNITION = (
    "Regular Text Recognition",
    "Irregular Text Recognition",
    "Artistic Text Recognition",
    "Handwriting Recognition",
    "Digit String Recognition",
    "Non-Semantic Text Recognition",
)
MISS = "\N{SNOWMAN}"  # contains none of OCRBench's answers


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def items() -> list[dict]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """The MultimodalOCR layout: OCRBench/OCRBench.json (the real file) beside OCRBench_Images/."""
    (tmp_path / "OCRBench").mkdir()
    shutil.copyfile(FIXTURE, tmp_path / "OCRBench" / "OCRBench.json")
    (tmp_path / "OCRBench_Images").mkdir()
    return tmp_path


def test_the_fixture_is_the_published_file(items: list[dict]) -> None:
    import hashlib

    digest = hashlib.sha256(FIXTURE.read_bytes()).hexdigest()
    readme = (FIXTURE.parent / "README.md").read_text(encoding="utf-8")
    assert digest in readme  # the README names the bytes it documents
    assert len(items) == 1000
    repeated = Counter(item["id"] for item in items)
    assert sum(count for count in repeated.values() if count > 1) == 256  # why the id rule is composite


def test_the_builtin_task_reads_the_real_file_with_composite_ids(data_root: Path, items: list[dict]) -> None:
    task = TaskRegistry.discover((), data_root).get("ocrbench")
    loaded = load_samples(task)
    assert loaded.problems == [] and len(loaded.samples) == 1000
    assert [s.id for s in loaded.samples[:2]] == [f"{i['dataset_name']}/{i['id']}" for i in items[:2]]
    assert len({s.id for s in loaded.samples}) == 1000
    first = loaded.samples[0]
    assert first.extra["dataset_name"] == items[0]["dataset_name"] and first.extra["id"] == items[0]["id"]
    assert [s.answers for s in loaded.samples if isinstance(items[s.index]["answers"], list)][:1] == [
        [str(a) for a in next(i["answers"] for i in items if isinstance(i["answers"], list))]
    ]


def test_dry_run_of_the_real_file(data_root: Path, items: list[dict], tmp_path: Path) -> None:
    for item in items:
        image = data_root / "OCRBench_Images" / item["image_path"]
        image.parent.mkdir(parents=True, exist_ok=True)
        if not image.exists():
            Image.new("RGB", (4, 4)).save(image, format="PNG")
    code, out = invoke(
        "run", "--task", "ocrbench", "--ckpt", "demo", "--dry-run", "--data-root", str(data_root),
        "--results", str(tmp_path / "results"),
    )  # fmt: skip
    assert code == 0, out
    assert "1000" in out and "duplicate id" not in out


def multimodalocr_output(items: list[dict], path: Path) -> dict[str, int]:
    """MultimodalOCR's output: the dataset array with a `predict` per item (right for 2 in 3 items, by
    construction); returns the expected hits per category as MultimodalOCR prints them."""
    expected: Counter[str] = Counter()
    out = []
    for position, item in enumerate(items):
        right = position % 3 != 0
        answers = item["answers"] if isinstance(item["answers"], list) else [item["answers"]]
        out.append({**item, "predict": f"{answers[0]}" if right else MISS})
        category = "Text Recognition" if item["type"] in RECOGNITION else item["type"]
        expected[category] += right
    path.write_text(json.dumps(out, ensure_ascii=False, indent=4), encoding="utf-8")
    return dict(expected)


def test_score_reads_multimodalocr_output_and_gives_the_official_sums(
    data_root: Path, items: list[dict], tmp_path: Path
) -> None:
    output = tmp_path / "Monkey_OCRBench.json"
    expected = multimodalocr_output(items, output)
    results = tmp_path / "results"
    code, out = invoke(
        "score", str(output), "--task", "ocrbench", "--data-root", str(data_root), "--results", str(results),
    )  # fmt: skip
    assert code == 0, out
    scores = json.loads((results / "Monkey_OCRBench" / "ocrbench" / "scores.json").read_text())
    assert scores["fingerprint"]["model"]["predictions_format"] == "multimodalocr"  # told from the file
    assert scores["score"] == sum(expected.values()) == 666  # 1000 less every third item
    assert {name: entry["score"] for name, entry in scores["breakdown"].items()} == expected
    assert scores["breakdown"]["Text Recognition"]["n"] == 300

    rows = [
        json.loads(line) for line in (results / "Monkey_OCRBench" / "ocrbench" / "predictions.jsonl").open()
    ]
    native = tmp_path / "native.jsonl"
    native.write_text(
        "".join(json.dumps({"id": r["id"], "prediction": r["prediction"]}) + "\n" for r in rows)
    )
    code, out = invoke(
        "score", str(native), "--task", "ocrbench", "--data-root", str(data_root), "--results", str(results),
        "--format", "monkeyeval",
    )  # fmt: skip
    assert code == 0, out
    again = [json.loads(line) for line in (results / "native" / "ocrbench" / "predictions.jsonl").open()]
    assert [r["score"] for r in again] == [r["score"] for r in rows]  # same per-sample scores


def test_plain_ids_are_refused_with_the_id_rule_and_examples(
    data_root: Path, items: list[dict], tmp_path: Path
):
    plain = tmp_path / "plain.jsonl"
    plain.write_text("".join(json.dumps({"id": i["id"], "prediction": "x"}) + "\n" for i in items[:3]))
    code, out = invoke("score", str(plain), "--task", "ocrbench", "--data-root", str(data_root))
    assert code == 2
    assert "id rule '{dataset_name}/{id}'" in out and f"'{items[0]['dataset_name']}/{items[0]['id']}'" in out
    assert "duplicate" not in out
