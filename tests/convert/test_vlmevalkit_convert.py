"""VLMEvalKit TSV -> jsonl + images: round trip through the task loader, lossless images, clear errors."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from monkeyeval.cli.app import build_app
from monkeyeval.convert.vlmevalkit import ConvertError, convert_tsv, parse_answer, sniff_image_extension
from monkeyeval.tasks.dataset import load_samples
from monkeyeval.tasks.loader import DataRoot, load_task_file


def image_bytes(fmt: str, color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (12, 7), color).save(buffer, format=fmt)
    return buffer.getvalue()


PNG = image_bytes("PNG", (200, 10, 10))
JPEG = image_bytes("JPEG", (10, 200, 10))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def write_tsv(path: Path, rows: list[dict[str, object]]) -> Path:
    """Written the way VLMEvalKit's TSVs are produced: pandas, tab separator, minimal quoting."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    return path


def demo_rows() -> list[dict[str, object]]:
    return [
        {
            "index": 0,
            "image": b64(PNG),
            "question": "What is written?",
            "answer": "hello",
            "category": "sign",
        },
        {
            "index": 1,
            "image": b64(JPEG),
            "question": 'Line one\nline\ttwo "quoted"',
            "answer": "['a', 'b', \"c's\"]",
            "category": "photo",
        },
        {
            "index": 2,
            "image": "0",
            "question": "Same picture?",
            "answer": "[not a literal",
            "category": "sign",
        },
        {
            "index": 3,
            "image": b64(PNG),
            "question": "Which colour?",
            "answer": "B",
            "hint": "look closely",
            "A": "green",
            "B": "red",
            "C": "None",
            "category": "mcq",
        },
        {"index": 4, "image": "", "question": "no image", "answer": "x", "category": "sign"},
    ]


TASK_YAML = """\
task: converted_demo
dataset:
  jsonl: LMUData/DEMO.jsonl
  image_root: LMUData/images/DEMO
metric: anls_docvqa
max_new_tokens: 8
"""


def test_converted_jsonl_loads_through_a_task_and_images_are_byte_identical(tmp_path: Path, metrics) -> None:
    tsv = write_tsv(tmp_path / "src" / "DEMO.tsv", demo_rows())
    result = convert_tsv(tsv, tmp_path / "data" / "LMUData")
    assert (result.n_rows, result.n_images, result.n_references, result.n_skipped_no_image) == (4, 3, 1, 1)
    assert result.sha256 == hashlib.sha256(result.jsonl.read_bytes()).hexdigest()

    tasks_dir = tmp_path / "tasks"
    tasks_dir.mkdir()
    (tasks_dir / "converted_demo.yaml").write_text(TASK_YAML, encoding="utf-8")
    task = load_task_file(tasks_dir / "converted_demo.yaml", DataRoot(tmp_path / "data", "test"), metrics)
    loaded = load_samples(task)
    assert loaded.problems == []
    by_id = {sample.id: sample for sample in loaded.samples}
    assert list(by_id) == ["0", "1", "2", "3"]

    assert by_id["0"].answers == ["hello"]
    assert by_id["1"].answers == ["a", "b", "c's"]
    assert by_id["1"].question == 'Line one\nline\ttwo "quoted"'
    assert by_id["2"].answers == ["[not a literal"]  # not a list literal: kept as one answer
    assert by_id["3"].extra["options"] == {"A": "green", "B": "red"}  # "None" is NaN to pandas/VLMEvalKit
    assert by_id["3"].extra["hint"] == "look closely"
    assert by_id["3"].extra["category"] == "mcq"
    assert "options" not in by_id["0"].extra and "hint" not in by_id["0"].extra

    paths = {key: sample.image_path for key, sample in by_id.items()}
    assert all(path is not None and path.is_file() for path in paths.values())
    assert paths["0"].suffix == ".png" and paths["1"].suffix == ".jpg"  # type: ignore[union-attr]
    assert paths["0"].read_bytes() == PNG  # type: ignore[union-attr]
    assert paths["1"].read_bytes() == JPEG  # type: ignore[union-attr]
    assert paths["2"] == paths["0"]  # the reference row shares row 0's file
    assert paths["3"].read_bytes() == PNG  # type: ignore[union-attr]


def test_second_run_rewrites_nothing_and_gives_the_same_sha(tmp_path: Path) -> None:
    tsv = write_tsv(tmp_path / "DEMO.tsv", demo_rows())
    first = convert_tsv(tsv, tmp_path / "out")
    second = convert_tsv(tsv, tmp_path / "out")
    assert (second.n_images, second.n_images_unchanged) == (0, 3)
    assert second.sha256 == first.sha256


def test_cli_prints_the_jsonl_sha256(tmp_path: Path) -> None:
    tsv = write_tsv(tmp_path / "DEMO.tsv", demo_rows())
    out = tmp_path / "LMUData"
    result = CliRunner().invoke(build_app(), ["convert", "vlmevalkit", str(tsv), str(out), "--dataset", "X"])
    assert result.exit_code == 0, result.output
    digest = hashlib.sha256((out / "X.jsonl").read_bytes()).hexdigest()
    assert f"sha256 {digest}" in result.output
    assert (out / "images" / "X" / "0.png").read_bytes() == PNG


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda rows: rows[1].update(image=b64(b"not an image at all" * 5)), r":3: row index '1'.*not a PNG"),
        (lambda rows: rows[2].update(image="77"), r":5: row index '2'.*refers to row index '77'"),
        (lambda rows: rows[3].update(index=0), r":6: row index '0': duplicate index \(first on line 2\)"),
        (lambda rows: rows[0].update(image="@" * 80), r":2: row index '0'.*not a PNG"),
    ],
)
def test_malformed_rows_name_the_line_and_index(tmp_path: Path, mutate, expected: str) -> None:
    # row 1's question holds a newline, so rows 2 and 3 start on physical lines 5 and 6
    rows = demo_rows()
    mutate(rows)
    tsv = write_tsv(tmp_path / "BAD.tsv", rows)
    with pytest.raises(ConvertError, match=expected):
        convert_tsv(tsv, tmp_path / "out")
    assert not (tmp_path / "out" / "BAD.jsonl").exists()  # nothing half-written


def test_wrong_column_count_and_missing_columns_are_errors(tmp_path: Path) -> None:
    tsv = tmp_path / "T.tsv"
    tsv.write_text(f"index\timage\tquestion\tanswer\n0\t{b64(PNG)}\tq\ta\textra\n", encoding="utf-8")
    with pytest.raises(ConvertError, match=r"T\.tsv:2: row has 5 columns but the header has 4"):
        convert_tsv(tsv, tmp_path / "out")
    tsv.write_text("index\tquestion\n0\tq\n", encoding="utf-8")
    with pytest.raises(ConvertError, match="no 'image' column"):
        convert_tsv(tsv, tmp_path / "out")


def test_parse_answer_and_sniffing() -> None:
    assert parse_answer("['x', 2]") == ["x", "2"]
    assert parse_answer("[__import__('os')]") == ["[__import__('os')]"]  # never evaluated
    assert parse_answer("plain") == ["plain"]
    assert sniff_image_extension(PNG) == ".png" and sniff_image_extension(JPEG) == ".jpg"
    assert sniff_image_extension(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == ".webp"
    assert sniff_image_extension(b"hello") is None


def test_a_vlmevalkit_prediction_table_scores_as_the_same_predictions_in_jsonl(tmp_path: Path) -> None:
    """VLMEvalKit's <model>_<dataset> prediction table (its TSV rows plus `prediction`) against the
    converted task: the same per-sample scores as monkeyeval jsonl with the same strings."""
    tsv = write_tsv(tmp_path / "src" / "DEMO.tsv", demo_rows())
    convert_tsv(tsv, tmp_path / "data" / "LMUData")
    tasks_dir = tmp_path / "tasks"
    tasks_dir.mkdir()
    (tasks_dir / "converted_demo.yaml").write_text(TASK_YAML, encoding="utf-8")
    predictions = {0: "hello", 1: " b ", 2: "[not a lit", 3: "A"}
    table = [
        {**{k: v for k, v in row.items() if k != "image"}, "prediction": predictions[row["index"]]}  # type: ignore[index]
        for row in demo_rows()
        if row["index"] in predictions
    ]
    vlmeval = write_tsv(tmp_path / "MyModel_DEMO.tsv", table)
    native = tmp_path / "native.jsonl"
    native.write_text("".join(f'{{"id": "{i}", "prediction": "{p}"}}\n' for i, p in predictions.items()))
    common = [
        "--task",
        "converted_demo",
        "--tasks-dir",
        str(tasks_dir),
        "--data-root",
        str(tmp_path / "data"),
    ]
    common += ["--results", str(tmp_path / "results")]
    runner = CliRunner()
    for path in (vlmeval, native):
        result = runner.invoke(build_app(), ["score", str(path), *common], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    scores = {}
    for name in ("MyModel_DEMO", "native"):
        lines = (
            (tmp_path / "results" / name / "converted_demo" / "predictions.jsonl").read_text().splitlines()
        )
        scores[name] = [json.loads(line)["score"] for line in lines]
    assert scores["MyModel_DEMO"] == scores["native"]
    assert scores["native"][0] == 1.0 and scores["native"][3] == 0.0
