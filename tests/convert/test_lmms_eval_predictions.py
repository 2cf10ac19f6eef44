"""`score --format lmms-eval`: lmms-eval's --log_samples records in every layout it has written, matched to
the task's ids through `doc` (by the id rule) or, without one, by `doc_id` as the dataset row.

Layouts (lmms-eval `lmms_eval/loggers/evaluation_tracker.py` `save_results_samples`, records made in
`lmms_eval/evaluator.py`): 0.2.3-0.3.x keep `doc` (the row without its image keys) and `arguments`; 0.4-0.6
drop both and drop `resps` when it equals `filtered_resps`; 0.7 also flattens one-request docs
(`filtered_resps` is the text itself).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monkeyeval.cli.app import build_app
from monkeyeval.convert.predictions import PredictionsFormatError, detect_format, read_predictions
from monkeyeval.tasks.config import FieldMap

DOCVQA_FIELDS = FieldMap(answer="answers", id="questionId")
# lmms-lab/DocVQA validation rows (image column left out, as lmms-eval's saved `doc` leaves it out)
DOCS = [
    {"questionId": "49153", "question": "What is the date?", "answers": ["1/8/93"], "docId": 14465},
    {"questionId": "24580", "question": "Who signed it?", "answers": ["J. Smith", "John Smith"], "docId": 1},
    {"questionId": "57349", "question": "How much?", "answers": ["$ 23.00"], "docId": 5},
    {"questionId": "57350", "question": "Which year?", "answers": ["1993"], "docId": 5},
]
PREDICTIONS = ["1/8/93", "J Smith", "$ 22.00", "1993 "]


def lmms_eval_line(doc_id: int, layout: str) -> dict[str, object]:
    """One --log_samples record of a generate_until task as each lmms-eval version writes it."""
    doc, text = DOCS[doc_id], PREDICTIONS[doc_id]
    record: dict[str, object] = {"doc_id": doc_id}
    if layout == "0.3":
        record["doc"] = doc
    record["target"] = str(doc["answers"])
    if layout == "0.3":
        record["arguments"] = {"0": "max_new_tokens", "1": "temperature", "2": "do_sample"}
        record["resps"] = [[text]]
    record["filtered_resps"] = text if layout == "0.7" else [text]
    if layout == "0.7" and doc_id == 1:
        record["resps"] = [f"<think>a signature</think>{text}"]  # reasoning tags stripped before scoring
    record["doc_hash"] = hashlib.sha256(json.dumps(doc).encode()).hexdigest()
    record["anls"] = 1.0
    record["input"] = f"{doc['question']}\nAnswer the question using a single word or phrase."
    return record


def write_samples(path: Path, layout: str) -> Path:
    """Two ranks gathered to rank 0 (strided shards): doc ids 0, 2 then 1, 3."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(lmms_eval_line(i, layout), ensure_ascii=False) for i in (0, 2, 1, 3)]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize("layout", ["0.3", "0.6", "0.7"])
def test_every_layout_is_detected_and_read(tmp_path: Path, layout: str) -> None:
    path = write_samples(tmp_path / "model" / "20250101_120000_samples_docvqa_val.jsonl", layout)
    assert detect_format(path) == "lmms-eval"
    row_ids = {i: doc["questionId"] for i, doc in enumerate(DOCS)}
    parsed = read_predictions(path, "auto", DOCVQA_FIELDS, lambda: row_ids)
    assert parsed.format == "lmms-eval" and parsed.problems == []
    assert {k: r["prediction"] for k, r in parsed.rows.items()} == {
        doc["questionId"]: text for doc, text in zip(DOCS, PREDICTIONS, strict=True)
    }
    by_position = layout != "0.3"  # 0.4 and later leave `doc` out: matched by doc_id as the row
    assert bool(parsed.notes) == by_position
    if by_position:
        assert "doc_id as the 0-based row" in parsed.notes[0] and "'questionId'" in parsed.notes[0]


def test_a_doc_without_the_id_key_falls_back_to_the_row(tmp_path: Path) -> None:
    path = write_samples(tmp_path / "s.jsonl", "0.3")
    parsed = read_predictions(path, "lmms-eval", FieldMap(id="question_id"), lambda: {0: "a", 1: "b", 2: "c"})
    assert sorted(parsed.rows) == ["a", "b", "c"]
    assert parsed.problems == [f"{path}:4: doc_id 3 is no row of the task's dataset (3 valid rows); "
                               "the lmms-eval task read another split or file"]  # fmt: skip
    no_rows = read_predictions(path, "lmms-eval", FieldMap(id="question_id"))
    assert sorted(no_rows.rows) == ["0", "1", "2", "3"]  # without a dataset, the position is the id


def test_records_that_are_not_generations_are_named(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    lines = [
        {"doc_id": 0, "filtered_resps": [[-1.5, True]], "target": "A"},  # a loglikelihood task
        {"doc_id": "7", "filtered_resps": ["x"]},
        {"doc_id": 1, "filtered_resps": []},
        [1, 2],
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + "{broken\n", encoding="utf-8")
    parsed = read_predictions(path, "lmms-eval", DOCVQA_FIELDS)
    assert parsed.rows == {}
    assert [p.split(": ", 1)[0] for p in parsed.problems] == [f"{path}:{n}" for n in range(1, 6)]
    assert "'filtered_resps' must hold the generated text" in parsed.problems[0]
    assert "'doc_id' must be a row number" in parsed.problems[1]


def test_auto_says_when_a_line_looks_like_both_formats(tmp_path: Path) -> None:
    path = tmp_path / "both.jsonl"
    path.write_text('{"id": 1, "prediction": "a", "doc_id": 0, "filtered_resps": ["a"]}\n', encoding="utf-8")
    with pytest.raises(PredictionsFormatError, match="pass --format monkeyeval or --format lmms-eval"):
        detect_format(path)
    assert read_predictions(path, "lmms-eval", FieldMap()).rows == {"0": {"prediction": "a"}}
    path.write_text('{"doc_id": 0, "resps": [["a"]]}\n', encoding="utf-8")
    with pytest.raises(PredictionsFormatError, match="nor an lmms-eval --log_samples record"):
        detect_format(path)


TASK_YAML = """\
task: docvqa_mini
dataset:
  jsonl: docvqa/val.jsonl
fields:
  id: questionId
  answer: answers
metric: anls_docvqa
max_new_tokens: 32
"""


@pytest.mark.parametrize("layout", ["0.3", "0.7"])
def test_scores_are_the_same_as_the_native_files(tmp_path: Path, layout: str) -> None:
    data = tmp_path / "data" / "docvqa"
    data.mkdir(parents=True)
    (data / "val.jsonl").write_text("".join(json.dumps({**d, "image": "x.png"}) + "\n" for d in DOCS))
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "docvqa_mini.yaml").write_text(TASK_YAML, encoding="utf-8")
    samples = write_samples(tmp_path / "lmms" / "20250101_samples_docvqa_val.jsonl", layout)
    native = tmp_path / "native.jsonl"
    native.write_text(
        "".join(
            json.dumps({"id": d["questionId"], "prediction": p}) + "\n"
            for d, p in zip(DOCS, PREDICTIONS, strict=True)
        )
    )
    common = ["--task", "docvqa_mini", "--tasks-dir", str(tasks), "--data-root", str(tmp_path / "data")]
    common += ["--results", str(tmp_path / "results")]
    outputs = {}
    for path, name in ((samples, "lmms"), (native, "native")):
        result = CliRunner().invoke(
            build_app(), ["score", str(path), *common, "--model-name", name], catch_exceptions=False
        )
        assert result.exit_code == 0, result.output
        outputs[name] = result.output
    scores = {}
    for name in ("lmms", "native"):
        lines = (tmp_path / "results" / name / "docvqa_mini" / "predictions.jsonl").read_text().splitlines()
        scores[name] = [(json.loads(line)["id"], json.loads(line)["score"]) for line in lines]
    assert scores["lmms"] == scores["native"]
    assert [score for _, score in scores["native"]] == [1.0, pytest.approx(0.875), pytest.approx(6 / 7), 1.0]
    scores_json = json.loads((tmp_path / "results" / "lmms" / "docvqa_mini" / "scores.json").read_text())
    assert scores_json["fingerprint"]["model"]["predictions_format"] == "lmms-eval"
    assert ("doc_id as the" in outputs["lmms"]) == (layout == "0.7")  # matched by row: said so
