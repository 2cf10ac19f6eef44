"""jsonl -> Sample edge cases: answers, ids, bad lines, duplicates, image-root escapes, checksums."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from monkeyeval.tasks.config import DatasetSpec, FieldMap, TaskConfig
from monkeyeval.tasks.dataset import DatasetError, jsonl_sha256, load_samples, resolve_image


def make_task(tmp_path: Path, lines: list[str] | str, *, sha256: str | None = None, **kwargs) -> TaskConfig:
    jsonl = tmp_path / "data.jsonl"
    jsonl.write_text(
        lines if isinstance(lines, str) else "".join(line + "\n" for line in lines), encoding="utf-8"
    )
    (tmp_path / "images").mkdir(exist_ok=True)
    spec = DatasetSpec(
        jsonl=jsonl,
        image_root=tmp_path / "images",
        sha256=sha256,
        root_note=f"data root {tmp_path} (from test)",
        annotations=kwargs.pop("annotations", None),
        data_root=tmp_path,
    )
    return TaskConfig(
        name="t",
        source=tmp_path / "t.yaml",
        dataset=spec,
        metrics=("anls_docvqa",),
        max_new_tokens=5,
        **kwargs,
    )


def row(qid, answer="a", image="x.png", question="q?", **extra) -> str:
    return json.dumps({"image": image, "question": question, "answer": answer, "question_id": qid, **extra})


def test_string_and_list_answers_ids_and_extra(tmp_path):
    task = make_task(tmp_path, [row(7, "cat"), row("b", ["x", "y"], type="Digit"), row(9, 42)])
    loaded = load_samples(task)
    first, second, third = loaded.samples
    assert (first.index, first.id, first.answers) == (0, "7", ["cat"])
    assert (second.index, second.id, second.answers) == (1, "b", ["x", "y"])
    assert third.answers == ["42"]
    assert second.extra == {"type": "Digit"}
    assert first.image == "x.png" and first.image_path == (tmp_path / "images" / "x.png").resolve()
    assert first.error is None and loaded.problems == []


def test_custom_field_names(tmp_path):
    line = json.dumps(
        {"image_path": "a.png", "question": "q", "answers": ["1"], "id": 3, "dataset_name": "d"}
    )
    task = make_task(tmp_path, [line], fields=FieldMap(answer="answers", id="id", image="image_path"))
    sample = load_samples(task).samples[0]
    assert (sample.id, sample.answers, sample.image, sample.extra) == (
        "3",
        ["1"],
        "a.png",
        {"dataset_name": "d"},
    )


def test_malformed_and_incomplete_lines_are_recorded(tmp_path):
    lines = [
        row(1),
        "{not json",
        "",
        json.dumps({"question": "q", "answer": "a"}),
        "[1, 2]",
        row(2, answer=None),
        row(3),
    ]
    loaded = load_samples(make_task(tmp_path, lines))
    assert [s.id for s in loaded.samples] == ["1", "3"]
    assert [s.index for s in loaded.samples] == [0, 1]
    problems = {p.line_no: p.message for p in loaded.problems}
    assert set(problems) == {2, 4, 5, 6}
    assert "malformed JSON" in problems[2]
    assert "'image'" in problems[4] and "fields.image" in problems[4]
    assert "JSON object" in problems[5]
    assert "answer" in problems[6]


def test_missing_id_field_uses_position(tmp_path):
    lines = [json.dumps({"image": "a.png", "question": "q", "answer": "a"})] * 2
    assert [s.id for s in load_samples(make_task(tmp_path, lines)).samples] == ["0", "1"]


def test_duplicate_ids_name_both_lines(tmp_path):
    task = make_task(tmp_path, [row(1), row(2), row("1")])
    with pytest.raises(DatasetError) as info:
        load_samples(task)
    message = str(info.value)
    assert "'1'" in message and "lines 1 and 3" in message and str(task.dataset.jsonl) in message


def test_empty_dataset_is_an_error(tmp_path):
    with pytest.raises(DatasetError, match="no valid samples"):
        load_samples(make_task(tmp_path, ""))
    with pytest.raises(DatasetError, match="line 1: malformed JSON"):
        load_samples(make_task(tmp_path, ["{oops"]))


def test_missing_file_mentions_the_data_root(tmp_path):
    task = make_task(tmp_path, [row(1)])
    task.dataset.jsonl.unlink()
    with pytest.raises(DatasetError) as info:
        load_samples(task)
    message = str(info.value)
    assert (
        str(task.dataset.jsonl) in message and f"data root {tmp_path}" in message and "--data-root" in message
    )


def test_missing_image_root_names_the_folder_to_point_at(tmp_path):
    task = make_task(tmp_path, [row(1)])
    (tmp_path / "images").rmdir()
    with pytest.raises(DatasetError) as info:
        load_samples(task)
    message = str(info.value)
    assert f"image root {tmp_path / 'images'}" in message and "does not exist" in message
    assert "set --data-root or MONKEYEVAL_DATA to the folder that holds images/" in message
    assert len(load_samples(task, check_image_root=False).samples) == 1  # e.g. `monkeyeval score`


def test_limit(tmp_path):
    task = make_task(tmp_path, [row(i) for i in range(3)] + ["{bad", row(0)])
    loaded = load_samples(task, limit=3)
    assert [s.id for s in loaded.samples] == ["0", "1", "2"]
    assert loaded.problems == []  # lines after the limit are not read (the duplicate id 0 included)


@pytest.mark.parametrize("image", ["../secret.png", "sub/../../secret.png", "/etc/passwd"])
def test_escaping_image_paths_get_an_error(tmp_path, image):
    sample = load_samples(make_task(tmp_path, [row(1, image=image)])).samples[0]
    assert sample.image_path is None
    assert sample.error is not None and sample.error.startswith("image path escapes the image root")


def test_inner_dotdot_is_fine(tmp_path):
    sample = load_samples(make_task(tmp_path, [row(1, image="sub/../ok.png")])).samples[0]
    assert sample.error is None and sample.image_path == (tmp_path / "images" / "ok.png").resolve()


def test_symlink_escape_is_rejected(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(b"x")
    task = make_task(tmp_path, [row(1, image="link/secret.png"), row(2, image="inner.png")])
    os.symlink(outside, tmp_path / "images" / "link")
    (tmp_path / "images" / "real.png").write_bytes(b"x")
    os.symlink(tmp_path / "images" / "real.png", tmp_path / "images" / "inner.png")
    escaped, inner = load_samples(task).samples
    assert escaped.image_path is None and "escapes the image root" in (escaped.error or "")
    assert inner.error is None and inner.image_path == (tmp_path / "images" / "real.png").resolve()


def test_image_existence_not_checked(tmp_path):
    path, error = resolve_image("does/not/exist.png", tmp_path)
    assert error is None and path == tmp_path.resolve() / "does" / "not" / "exist.png"


def test_sha256_verified(tmp_path):
    content = row(1) + "\n"
    good = hashlib.sha256(content.encode()).hexdigest()
    task = make_task(tmp_path, content, sha256=good)
    assert jsonl_sha256(task.dataset.jsonl) == good
    assert len(load_samples(task).samples) == 1
    bad = make_task(tmp_path, content, sha256="0" * 64)
    with pytest.raises(DatasetError) as info:
        load_samples(bad)
    message = str(info.value)
    assert str(bad.dataset.jsonl) in message and "0" * 64 in message and good in message


def test_json_array_file(tmp_path):
    path = tmp_path / "bench.json"
    items = [{"image_path": "a.png", "question": "q", "answers": "x", "id": 0}, "junk"]
    path.write_text(json.dumps(items), encoding="utf-8")
    spec = DatasetSpec(jsonl=path, image_root=tmp_path)
    task = TaskConfig(
        "b",
        tmp_path / "b.yaml",
        spec,
        ("ocrbench",),
        5,
        fields=FieldMap("question", "answers", "id", "image_path"),
    )
    loaded = load_samples(task)
    assert [s.answers for s in loaded.samples] == [["x"]]
    assert loaded.problems[0].line_no == 2


def test_vqa_annotations_replace_answers(tmp_path):
    annotations = tmp_path / "ann.json"
    answers = [{"answer": "two", "answer_id": i} for i in range(10)]
    annotations.write_text(
        json.dumps({"annotations": [{"question_id": 5, "answers": answers}]}), encoding="utf-8"
    )
    lines = [row(5, "2"), json.dumps({"image": "b.png", "question": "q", "question_id": 6})]
    loaded = load_samples(make_task(tmp_path, lines, annotations=annotations))
    assert loaded.samples[0].answers == ["two"] * 10
    assert [p.line_no for p in loaded.problems] == [2]  # no answer anywhere for id 6
    annotations.write_text("{}", encoding="utf-8")
    with pytest.raises(DatasetError, match="VQA-API annotation"):
        load_samples(make_task(tmp_path, lines, annotations=annotations))


def test_a_byte_order_mark_keeps_the_first_sample(tmp_path):
    task = make_task(tmp_path, [row(1, "x"), row(2, "y")])
    task.dataset.jsonl.write_bytes(b"\xef\xbb\xbf" + task.dataset.jsonl.read_bytes())
    loaded = load_samples(task)
    assert [s.id for s in loaded.samples] == ["1", "2"] and loaded.problems == []
    path = tmp_path / "bench.json"
    path.write_bytes(
        b"\xef\xbb\xbf" + json.dumps([{"image": "a.png", "question": "q", "answer": "x"}]).encode()
    )
    array_task = TaskConfig(
        "b", tmp_path / "b.yaml", DatasetSpec(jsonl=path, image_root=tmp_path), ("anls_docvqa",), 5
    )
    assert [s.answers for s in load_samples(array_task).samples] == [["x"]]


def test_a_lone_surrogate_in_a_question_is_kept(tmp_path):  # written as the JSON escape \\ud800
    task = make_task(tmp_path, [row(1, question="what is \ud800 here?")])
    [sample] = load_samples(task).samples
    assert sample.question == "what is \ud800 here?"


def test_predict_only_loading_keeps_samples_without_answers(tmp_path):
    no_key = json.dumps({"image": "x.png", "question": "q?", "question_id": "absent"})
    lines = [row("a", "cat"), no_key, row("empty", ""), row("blank", ["", " "]), row("none", [])]
    lines.append(row("bad", {"not": "an answer"}))
    task = make_task(tmp_path, lines, annotations=tmp_path / "not-downloaded.json")
    with pytest.raises(DatasetError, match="annotation file"):
        load_samples(task)  # scoring needs the annotations
    loaded = load_samples(task, require_answers=False)  # a test split: its answers are not public
    assert [(s.id, s.answers) for s in loaded.samples] == [
        ("a", ["cat"]),
        ("absent", []),
        ("empty", []),
        ("blank", []),
        ("none", []),
    ]
    assert [p.line_no for p in loaded.problems] == [6]  # a malformed answer is still a bad line
    assert "must be a string or a list" in loaded.problems[0].message


def test_a_dataset_without_answers_suggests_predict_only(tmp_path):
    task = make_task(tmp_path, [row("a", ""), row("b", "")])
    with pytest.raises(DatasetError, match="--predict-only"):
        load_samples(task)


def test_composite_ids_keep_their_parts_and_report_a_missing_part(tmp_path):
    lines = [row(211, "a", dataset_name="IIIT5K"), row(211, "b", dataset_name="svt"), row(5, "c")]
    task = make_task(tmp_path, lines, fields=FieldMap(id="{dataset_name}/{question_id}"))
    loaded = load_samples(task)
    assert [s.id for s in loaded.samples] == ["IIIT5K/211", "svt/211"]  # 211 twice, distinct samples
    assert loaded.samples[0].extra == {"dataset_name": "IIIT5K", "question_id": 211}
    assert [p.line_no for p in loaded.problems] == [3]
    assert "id rule '{dataset_name}/{question_id}'" in loaded.problems[0].message
    duplicate = make_task(tmp_path, [row(1, "a", dataset_name="d"), row(1, "b", dataset_name="d")])
    with pytest.raises(DatasetError, match="duplicate id"):
        load_samples(replace(duplicate, fields=FieldMap(id="{dataset_name}/{question_id}")))
