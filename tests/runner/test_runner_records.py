"""What a run records beside its scores: skipped lines, --limit, group definitions, the pair digest."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.support import TinyTask
from runner.test_runner_run import invoke, predictions, run_fake, scores


def test_skipped_lines_limit_and_groups_are_recorded(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
):
    task = tiny_task(n=8, malformed_after=(1, 4), extra_yaml="group: [pair_group]\n")
    (task.tasks_dir / "other.yaml").write_text(
        (task.tasks_dir / "tiny.yaml").read_text(encoding="utf-8").replace("task: tiny", "task: other"),
        encoding="utf-8",
    )
    results = tmp_path / "results"
    code, out = run_fake(task, fake_ckpt, results)
    assert code == 0, out
    data = scores(results)
    # lines: q0, q1, bad (3), q2, q3, q4, bad (7), q5...
    assert (data["n"], data["n_skipped_lines"], data["skipped_lines"]) == (8, 2, [3, 7])
    assert data["limit"] is None
    assert data["group_members"] == {"pair_group": ["other", "tiny"]}
    predictions_bytes = (results / "fake" / "tiny" / "predictions.jsonl").read_bytes()
    assert data["predictions"] == {"sha256": hashlib.sha256(predictions_bytes).hexdigest(), "count": 8}

    code, out = run_fake(task, fake_ckpt, tmp_path / "limited", "--limit", "2")
    assert code == 0, out
    limited = scores(tmp_path / "limited")
    assert (limited["n"], limited["limit"], limited["skipped_lines"]) == (2, 2, [])

    code, out = invoke("report", str(results), "--format", "md")
    assert code == 0, out
    assert "1 of 2 tasks (missing: other)" in out  # the group's definition, not just the tasks present


def test_a_pair_torn_between_the_two_writes_is_detected_and_repaired(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("COLUMNS", "1000")  # messages hold long paths: keep them on one line
    task = tiny_task(n=6)
    results = tmp_path / "results"
    assert run_fake(task, fake_ckpt, results)[0] == 0
    baseline = tmp_path / "baseline.json"
    assert invoke("gate", str(results), "--write-baseline", str(baseline))[0] == 0
    run_dir = results / "fake" / "tiny"
    predictions_file = run_dir / "predictions.jsonl"
    good = predictions_file.read_bytes()
    predictions_file.write_bytes(good[: good.rindex(b"\n", 0, len(good) - 1) + 1])  # lost its last row

    code, out = invoke("report", str(results), "--format", "md")
    assert code == 0
    assert "holds 5 records" in out and "scored 6 records" in out and f"monkeyeval merge {run_dir}" in out
    for mode in ("abs", "paired"):
        code, out = invoke("gate", str(results), "--baseline", str(baseline), "--mode", mode)
        assert code == 2, out
        assert "the pair disagrees" in out and "monkeyeval merge" in out

    code, out = invoke("merge", str(run_dir))
    assert code == 0, out
    assert predictions_file.read_bytes() == good
    assert invoke("gate", str(results), "--baseline", str(baseline), "--mode", "paired")[0] == 0

    predictions_file.write_bytes(good.replace(b'"prediction":"apple"', b'"prediction":"APPLE"'))
    code, out = run_fake(task, fake_ckpt, results)  # resume notices and rewrites both files
    assert code == 0, out
    assert "does not match its predictions.jsonl and is rewritten" in out
    assert predictions_file.read_bytes() == good
    assert json.loads((run_dir / "scores.json").read_text(encoding="utf-8"))["n"] == 6


def test_gate_fails_when_skipped_lines_rise(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
):
    task = tiny_task(n=6)
    results = tmp_path / "results"
    assert run_fake(task, fake_ckpt, results)[0] == 0
    baseline = tmp_path / "baseline.json"
    assert invoke("gate", str(results), "--write-baseline", str(baseline))[0] == 0
    assert json.loads(baseline.read_text(encoding="utf-8"))["entries"][0]["n_skipped_lines"] == 0
    with task.jsonl.open("a", encoding="utf-8") as handle:
        handle.write("[1, 2]\n")
    code, out = run_fake(task, fake_ckpt, results, "--fresh")
    assert code == 0, out
    code, out = invoke("gate", str(results), "--baseline", str(baseline), "--allow-fingerprint-change")
    assert code == 1, out
    assert "n_skipped_lines rose 0 -> 1" in out
    code, out = invoke(
        "gate",
        str(results),
        "--baseline",
        str(baseline),
        "--allow-fingerprint-change",
        "--max-new-errors",
        "1",
    )
    assert code == 0, out


def test_an_overlong_prompt_is_a_per_sample_error_and_is_retried_under_a_new_limit(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
):
    task = tiny_task(n=6)
    rows = [json.loads(line) for line in task.jsonl.read_text(encoding="utf-8").splitlines()]
    rows[3]["question"] = "x" * 100_000
    task.jsonl.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    results = tmp_path / "results"
    code, out = run_fake(task, fake_ckpt, results, "--model-option", "context=1000", "--batch-size", "3")
    assert code == 0, out
    written = predictions(results)
    errors = {row["index"]: row["error"] for row in written if row["error"]}
    assert list(errors) == [3]
    assert errors[3].startswith("input too long: the prompt is 100003 tokens, over the limit of 984")
    assert "the model's context of 1000 tokens minus max_new_tokens 16" in errors[3]
    assert written[2]["prediction"] == "stone" and written[5]["prediction"].startswith("wrong ")

    code, out = run_fake(
        task, fake_ckpt, results, "--model-option", "context=1000", "--max-input-tokens", "8"
    )
    assert code == 0, out
    assert "1 failed earlier and are retried" in out
    assert scores(results)["n_errors"] == 1
    assert "over the limit of 8 (--max-input-tokens)" in predictions(results)[3]["error"]

    code, out = run_fake(
        task, fake_ckpt, results, "--model-option", "context=1000", "--max-input-tokens", "200000"
    )
    assert code == 0, out
    assert scores(results)["n_errors"] == 0


def test_a_worker_that_dies_errors_only_its_batch(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
):
    task = tiny_task(n=9)
    results = tmp_path / "results"
    code, out = run_fake(
        task,
        fake_ckpt,
        results,
        "--num-workers",
        "2",
        "--batch-size",
        "3",
        "--model-option",
        "kill_worker_on=4",
    )
    assert code == 0, out
    rows = predictions(results)
    errored = [row["index"] for row in rows if row["error"]]
    assert errored == [3, 4, 5]  # the batch holding sample 4, after a second try; the others are answered
    assert "a worker preparing this batch died or hung" in rows[4]["error"]
    assert all(row["prediction"] for row in rows if not row["error"])
    assert scores(results)["n_errors"] == 3


def test_a_worker_that_hangs_is_bounded_by_the_preprocess_timeout(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
):
    task = tiny_task(n=4)
    results = tmp_path / "results"
    args = (
        "--num-workers",
        "1",
        "--batch-size",
        "2",
        "--model-option",
        "hang_on=1",
        "--preprocess-timeout",
        "2",
    )
    code, out = run_fake(task, fake_ckpt, results, *args)
    assert code == 0, out
    rows = predictions(results)
    assert [row["index"] for row in rows if row["error"]] == [0, 1]
    assert "DataLoader timed out after 2.0 seconds" in rows[1]["error"]
    assert rows[2]["error"] is None and rows[3]["error"] is None


def test_changed_settings_are_refused_before_the_model_loads(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
):
    task = tiny_task(n=4)
    results = tmp_path / "results"
    assert run_fake(task, fake_ckpt, results)[0] == 0
    for extra, changed in (
        (("--max-new-tokens", "3"), "max_new_tokens: 16 -> 3"),
        (("--model-option", "delay=0"), "model.family_options.delay: None -> 0"),
        (("--prompt-profile", "monkey_vqa"), "prompt.profile: 'task:tiny' -> 'monkey_vqa'"),
    ):
        code, out = run_fake(task, fake_ckpt, results, *extra)
        assert code == 2, out
        assert changed in out and "--fresh" in out
        assert "loaded fake model" not in out  # decided from run.json alone
    task.jsonl.write_text(task.jsonl.read_text(encoding="utf-8").replace("word 0?", "word zero?"), "utf-8")
    code, out = run_fake(task, fake_ckpt, results)
    assert code == 2 and "jsonl_sha256" in out and "loaded fake model" not in out
    code, out = run_fake(task, fake_ckpt, results, "--fresh")
    assert code == 0, out
