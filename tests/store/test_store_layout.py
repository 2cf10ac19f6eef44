"""Results layout, finalize_run, scores.json validation, crash safety and environment info."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

import monkeyeval.core.atomic as atomic
from monkeyeval.core.environment import git_commit, software_versions
from monkeyeval.core.types import PredictionRecord
from monkeyeval.metrics.registry import load_metric_registry
from monkeyeval.results.finalize import finalize_run
from monkeyeval.results.layout import run_dir, safe_model_name, task_fingerprint
from monkeyeval.results.reader import read_scores_file
from monkeyeval.results.schema import ResultsError
from monkeyeval.tasks.config import DatasetSpec, TaskConfig

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def metrics():
    return load_metric_registry(extra_plugins=False)


@pytest.fixture
def task(tmp_path) -> TaskConfig:
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"x": 1}\n', encoding="utf-8")
    spec = DatasetSpec(jsonl=jsonl, image_root=tmp_path)
    return TaskConfig(
        "mytask", tmp_path / "t.yaml", spec, ("exact_match_qwen",), 10, groups=("g",), yaml_sha256="ab" * 32
    )


def records() -> list[PredictionRecord]:
    # deliberately out of order: finalize_run writes dataset order
    return [
        PredictionRecord(2, "c", "P2", "no", ["yes"]),
        PredictionRecord(0, "a", "P0", "yes", ["yes"]),
        PredictionRecord(1, "b", "P1", "", ["yes"], error="image missing"),
    ]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("echo840/Monkey", "echo840__Monkey"),
        ("mx262/MiniMonkey", "mx262__MiniMonkey"),
        ("my model!", "my_model"),
    ],
)
def test_safe_model_name(given, expected):
    assert safe_model_name(given) == expected


def test_safe_model_name_local_folder(tmp_path, monkeypatch):
    folder = tmp_path / "checkpoints" / "monkey-7b"
    folder.mkdir(parents=True)
    assert safe_model_name(str(folder)) == "monkey-7b"
    assert safe_model_name(str(folder) + "/") == "monkey-7b"
    monkeypatch.chdir(tmp_path)
    assert safe_model_name("./checkpoints/monkey-7b") == "monkey-7b"
    generic = tmp_path / "monkey-ft" / "checkpoint-500"
    generic.mkdir(parents=True)
    assert safe_model_name(str(generic)) == "monkey-ft__checkpoint-500"
    assert safe_model_name(str(tmp_path / "monkey-ft")) == "monkey-ft"
    with pytest.raises(ValueError, match="--model-name"):
        safe_model_name("///")


def test_run_dir(tmp_path):
    assert run_dir(tmp_path, "echo840/Monkey", "docvqa_test") == tmp_path / "echo840__Monkey" / "docvqa_test"


def test_finalize_run_writes_both_files(tmp_path, task, metrics):
    target = run_dir(tmp_path / "results", "m", task.name)
    model_fp = {"family": "monkey", "checkpoint": "x", "batch_size": 4}
    result = finalize_run(target, task, records(), model_fp, "m", metrics=metrics)
    lines = (target / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["index"] for r in rows] == [0, 1, 2]
    assert list(rows[0]) == ["index", "id", "prompt", "prediction", "answers", "score", "scores", "error",
                             "n_new_tokens", "truncated"]  # fmt: skip
    assert [r["score"] for r in rows] == [1.0, 0.0, 0.0]
    scores = json.loads((target / "scores.json").read_text(encoding="utf-8"))
    assert scores == json.loads(json.dumps(result.to_json()))
    run = read_scores_file(target / "scores.json")
    assert run.model == "m" and run.task == "mytask" and run.groups == ("g",)
    assert run.score == pytest.approx(1 / 3) and run.n_errors == 1 and run.n_empty == 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", run.created)
    fp = run.fingerprint
    assert fp["model"] == model_fp
    assert fp["prompt_sha256"] == hashlib.sha256(b"P0\nP1\nP2").hexdigest()
    assert fp["jsonl_sha256"] == hashlib.sha256(b'{"x": 1}\n').hexdigest()
    assert fp["task_yaml_sha256"] == "ab" * 32
    assert (fp["metric"], fp["metric_version"]) == (
        "exact_match_qwen",
        metrics.get("exact_match_qwen").version,
    )
    for key in ("monkeyeval_version", "git_commit", "python", "torch", "transformers"):
        assert key in fp


def test_finalize_run_refuses_repeated_indexes(tmp_path, task, metrics):
    with pytest.raises(ValueError, match=r"share a dataset index \(first: \[0\]\)"):
        finalize_run(
            tmp_path,
            task,
            [*records(), PredictionRecord(0, "a", "P0", "x", ["yes"])],
            {},
            "m",
            metrics=metrics,
        )
    assert not (tmp_path / "scores.json").exists()


def test_task_fingerprint_prompt_hash_depends_on_order(task, metrics):
    one = task_fingerprint(task, ["a", "b"], metrics=metrics)
    two = task_fingerprint(task, ["b", "a"], metrics=metrics)
    assert one["prompt_sha256"] != two["prompt_sha256"]
    assert one["jsonl_sha256"] == two["jsonl_sha256"]


def test_crash_mid_write_keeps_previous_scores(tmp_path, task, metrics, monkeypatch):
    target = tmp_path / "run"
    finalize_run(target, task, records(), {}, "m", metrics=metrics)
    before = {name: (target / name).read_bytes() for name in ("predictions.jsonl", "scores.json")}

    def crash(fd: int) -> None:
        raise OSError("disk died")

    monkeypatch.setattr(atomic.os, "fsync", crash)
    changed = [PredictionRecord(0, "a", "P0", "no", ["yes"])]
    with pytest.raises(OSError, match="disk died"):
        finalize_run(target, task, changed, {}, "m", metrics=metrics)
    monkeypatch.undo()
    assert {name: (target / name).read_bytes() for name in before} == before
    assert sorted(p.name for p in target.iterdir()) == ["predictions.jsonl", "scores.json"]  # no temp files
    read_scores_file(target / "scores.json")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "invalid JSON"),
        ("[1]", "top level must be a JSON object"),
        ('{"schema": 2}', "unsupported schema 2"),
        ('{"schema": 1}', "missing key 'model'"),
    ],
)
def test_damaged_scores_file_names_file_and_reason(tmp_path, content, reason):
    path = tmp_path / "scores.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ResultsError) as info:
        read_scores_file(path)
    assert str(path) in str(info.value) and reason in str(info.value)
    assert info.value.path == path


def test_scores_reader_checks_types_and_primary(tmp_path, task, metrics):
    finalize_run(tmp_path, task, records(), {}, "m", metrics=metrics)
    good = json.loads((tmp_path / "scores.json").read_text())
    for mutate, reason in [
        (lambda d: d.update(n="3"), "'n' must be a non-negative integer"),
        (lambda d: d.update(metric="other"), "missing from 'metrics'"),
        (lambda d: d.update(ci95=[1]), "ci95"),
    ]:
        data = json.loads(json.dumps(good))
        mutate(data)
        (tmp_path / "bad.json").write_text(json.dumps(data))
        with pytest.raises(ResultsError, match=reason):
            read_scores_file(tmp_path / "bad.json")
    with pytest.raises(ResultsError, match="does not exist"):
        read_scores_file(tmp_path / "absent.json")


def test_environment_versions(tmp_path):
    versions = software_versions()
    assert set(versions) == {"monkeyeval_version", "git_commit", "python", "torch", "transformers"}
    assert versions["python"] and versions["python"][0] == "3"
    assert git_commit(tmp_path) is None
    if (REPO / ".git").exists():
        commit = git_commit(REPO)
        assert commit is not None and re.fullmatch(r"[0-9a-f]{40}", commit)
