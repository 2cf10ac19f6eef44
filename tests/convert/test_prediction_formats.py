"""`score --format`: each harness's file shape read into the same rows, and `auto` telling them apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monkeyeval.convert.predictions import PredictionsFormatError, detect_format, read_predictions
from monkeyeval.tasks.config import FieldMap

OCRBENCH_FIELDS = FieldMap(answer="answers", id="{dataset_name}/{id}", image="image_path")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_the_three_formats_give_the_same_rows(tmp_path: Path) -> None:
    native = write(
        tmp_path / "native.jsonl",
        '{"id": "7", "prediction": "cat"}\n{"id": 8, "prediction": " dog "}\n',
    )
    monkey = write(  # Monkey's results file: indent=2 JSON array, questionId for DocVQA-style tasks
        tmp_path / "docvqa_test.json",
        json.dumps(
            [
                {"image_path": "a.png", "questionId": 7, "answer": "cat", "annotation": ["cat"]},
                {"image_path": "b.png", "questionId": "8", "answer": " dog ", "annotation": ["dog"]},
            ],
            indent=2,
        ),
    )
    vqav2 = write(
        tmp_path / "vqav2_val.json",
        json.dumps([{"question_id": 7, "answer": "cat"}, {"question_id": 8, "answer": " dog "}]),
    )
    expected = {"7": "cat", "8": " dog "}
    for path, fmt in ((native, "monkeyeval"), (monkey, "monkey"), (vqav2, "monkey")):
        assert detect_format(path) == fmt
        parsed = read_predictions(path, "auto", FieldMap())
        assert parsed.format == fmt and parsed.problems == []
        assert {key: row["prediction"] for key, row in parsed.rows.items()} == expected


def test_multimodalocr_ids_follow_the_tasks_id_rule(tmp_path: Path) -> None:
    items = [
        {"dataset_name": "IIIT5K", "id": 211, "answers": "CAT", "type": "t", "predict": "cat"},
        {"dataset_name": "svt", "id": 211, "answers": ["dog"], "type": "t", "predict": "dog"},
        {"dataset_name": "svt", "id": 9, "answers": "x", "type": "t"},  # no predict
        {"id": 3, "answers": "x", "type": "t", "predict": "x"},  # no dataset_name
    ]
    path = write(tmp_path / "out.json", json.dumps(items, indent=4))
    parsed = read_predictions(path, "auto", OCRBENCH_FIELDS)
    assert parsed.format == "multimodalocr"
    assert {key: row["prediction"] for key, row in parsed.rows.items()} == {
        "IIIT5K/211": "cat",
        "svt/211": "dog",
    }
    assert [problem.split(": ", 1)[0] for problem in parsed.problems] == [f"{path} item 3", f"{path} item 4"]
    assert "'predict' must be a string" in parsed.problems[0]
    assert "'dataset_name', 'id'" in parsed.problems[1]


def test_repeated_ids_are_listed(tmp_path: Path) -> None:
    path = write(tmp_path / "r.json", json.dumps([{"question_id": 1, "answer": "a"}] * 2))
    parsed = read_predictions(path, "monkey", FieldMap())
    assert list(parsed.rows) == ["1"] and parsed.duplicates == ["1"]


def test_a_monkey_file_without_question_ids_says_why(tmp_path: Path) -> None:
    path = write(
        tmp_path / "chartqa.json", json.dumps([{"image_path": "a.png", "answer": "3", "annotation": "3"}])
    )
    with pytest.raises(PredictionsFormatError, match="pass --format"):
        detect_format(path)
    parsed = read_predictions(path, "monkey", FieldMap())
    assert parsed.rows == {} and "carry none" in parsed.problems[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"question": "q", "answer": "a"}\n', 'is not a {"id": ..., "prediction": ...} object'),
        ('[{"image": "a.png", "text": "x"}]', "neither MultimodalOCR's 'predict'"),
        ("id,prediction\n1,a\n", "neither JSON lines nor a JSON array"),
        ("[1, 2", "not a valid JSON file"),
    ],
)
def test_auto_names_what_it_could_not_tell(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "p.txt", text)
    with pytest.raises(PredictionsFormatError, match=r"pass --format|--format auto") as info:
        read_predictions(path, "auto", FieldMap())
    assert message in str(info.value) and str(path) in str(info.value)


def test_an_explicit_format_that_does_not_fit_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "p.jsonl", '{"id": 1, "prediction": "a"}\n')
    with pytest.raises(PredictionsFormatError, match="--format multimodalocr"):
        read_predictions(path, "multimodalocr", FieldMap())
    with pytest.raises(PredictionsFormatError, match="unknown --format 'xlsx'"):
        read_predictions(write(tmp_path / "q.json", "[]"), "xlsx", FieldMap())


def test_vlmevalkit_tables_read_as_vlmevalkit_reads_them(tmp_path: Path) -> None:
    mixed = write(
        tmp_path / "MiniMonkey_ChartQA_TEST.tsv",
        "index\tquestion\tanswer\tprediction\tcategory\n"
        "0\tIs it?\tNo\t No \thuman\n"
        "1\tHow many?\t3\t\thuman\n"  # an empty cell: pandas NaN, str() -> "nan"
        "2\tValue?\t3.5\t3.50\taugmented\n",  # the column holds text, so "3.50" stays text
    )
    numeric = write(tmp_path / "m_DocVQA_VAL.csv", "index,prediction\n10,3.50\n11,7\n")
    assert detect_format(mixed) == detect_format(numeric) == "vlmevalkit"
    parsed = read_predictions(mixed, "auto", FieldMap())
    assert {k: r["prediction"] for k, r in parsed.rows.items()} == {"0": " No ", "1": "nan", "2": "3.50"}
    parsed = read_predictions(numeric, "auto", FieldMap())
    assert {k: r["prediction"] for k, r in parsed.rows.items()} == {
        "10": "3.5",
        "11": "7.0",
    }  # a float column


def test_vlmevalkit_tables_name_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd

    no_prediction = write(tmp_path / "t.tsv", "index\tanswer\n0\ta\n")
    with pytest.raises(PredictionsFormatError, match="no prediction column"):
        read_predictions(no_prediction, "auto", FieldMap())

    def no_openpyxl(*args: object, **kwargs: object) -> None:
        raise ImportError("Missing optional dependency 'openpyxl'")

    monkeypatch.setattr(pd, "read_excel", no_openpyxl)
    with pytest.raises(PredictionsFormatError, match="pip install openpyxl"):
        read_predictions(write(tmp_path / "t.xlsx", ""), "vlmevalkit", FieldMap())
