"""`monkeyeval run` in-process with the fake adapter: layout, health, resume rules, shards, replay."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from monkeyeval.cli.app import build_app
from runner.fake_adapter import SPEC
from runner.support import TinyTask

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(build_app(), list(args), catch_exceptions=False)
    return result.exit_code, result.output


def run_fake(task: TinyTask, ckpt: Path, results: Path, *extra: str) -> tuple[int, str]:
    return invoke(
        "run",
        *task.args(),
        "--ckpt",
        str(ckpt),
        "--model",
        SPEC,
        "--results",
        str(results),
        "--model-name",
        "fake",
        "--num-workers",
        "0",
        *extra,
    )


def predictions(results: Path, task: str = "tiny") -> list[dict]:
    path = results / "fake" / task / "predictions.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def scores(results: Path, task: str = "tiny") -> dict:
    return json.loads((results / "fake" / task / "scores.json").read_text(encoding="utf-8"))


def test_run_writes_ordered_scored_predictions(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
):
    task = tiny_task(n=10)
    code, out = run_fake(task, fake_ckpt, tmp_path / "results", "--batch-size", "3", "--num-workers", "2")
    assert code == 0, out
    rows = predictions(tmp_path / "results")
    assert [r["index"] for r in rows] == list(range(10))
    assert [r["id"] for r in rows] == [f"q{i}" for i in range(10)]
    assert rows[0]["prompt"] == "<fake>Q: word 0?"  # adapter's model input text, stored per sample
    assert rows[0]["prediction"] == "apple" and rows[0]["score"] == 1.0
    assert rows[1]["prediction"].startswith("wrong ") and rows[1]["score"] == 0.0
    # the adapter saw each sample's own image exactly as decoded from the file (pixel digest, no re-encoding)
    for row in rows[1::2]:
        with Image.open(task.image_root / f"img{row['index']:03d}.png") as image:
            assert row["prediction"] == "wrong " + hashlib.sha256(image.tobytes()).hexdigest()[:8]
    assert len({r["prediction"] for r in rows[1::2]}) == 5
    data = scores(tmp_path / "results")
    assert data["score"] == pytest.approx(0.5)
    assert (data["n"], data["n_errors"], data["n_missing"]) == (10, 0, 0)
    model_fp = data["fingerprint"]["model"]
    assert model_fp["family"] == "fake" and model_fp["batch_size"] == 3 and model_fp["world_size"] == 1
    assert model_fp["max_new_tokens"] == 16
    assert "exact_match_qwen" in out and "tiny" in out


def test_bad_inputs_are_per_sample_errors(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
):
    task = tiny_task(n=8, corrupt=(1,), missing=(2,), escaping=(3,), malformed_after=(4,))
    code, out = run_fake(task, fake_ckpt, tmp_path / "results", "--batch-size", "4")
    assert code == 0, out
    assert "skipped 1 bad line" in out and "line 6" in out  # the malformed line, by number
    rows = predictions(tmp_path / "results")
    assert len(rows) == 8
    errors = {r["index"]: r["error"] for r in rows if r["error"]}
    assert set(errors) == {1, 2, 3}
    assert "cannot decode image 'img001.png'" in errors[1]
    assert "missing image 'img002.png'" in errors[2] and "does not exist" in errors[2]
    assert "escapes the image root" in errors[3]
    data = scores(tmp_path / "results")
    assert (data["n"], data["n_errors"], data["n_scored"]) == (8, 3, 5)
    assert all(rows[i]["score"] == 0.0 for i in errors)


def test_empty_dataset_is_a_clear_error(tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path):
    task = tiny_task(empty=True)
    code, out = run_fake(task, fake_ckpt, tmp_path / "results")
    assert code == 2
    assert "no valid samples" in out and str(task.jsonl) in out


def test_health_counts_truncated_and_empty(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
):
    task = tiny_task(n=6)
    code, out = run_fake(task, fake_ckpt, tmp_path / "results", "--max-new-tokens", "5")
    assert code == 0, out
    rows = predictions(tmp_path / "results")
    # "wrong <8 hex>" is cut at 5 tokens; "apple"/"stone"/"maple" are exactly 5 long (hit max too)
    assert all(r["truncated"] for r in rows)
    assert scores(tmp_path / "results")["n_truncated"] == 6


def test_resume_skips_done_samples_and_refuses_changed_decoding(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
):
    task = tiny_task(n=9)
    results = tmp_path / "results"
    assert run_fake(task, fake_ckpt, results, "--limit", "4")[0] == 0
    code, out = run_fake(task, fake_ckpt, results)
    assert code == 0, out
    assert "4 already done, 5 to run" in out
    full = (results / "fake" / "tiny" / "predictions.jsonl").read_bytes()

    code, out = run_fake(task, fake_ckpt, results, "--max-new-tokens", "3")
    assert code == 2
    assert "max_new_tokens: 16 -> 3" in out and "--fresh" in out
    code, out = run_fake(task, fake_ckpt, results, "--prompt-profile", "monkey_vqa")
    assert code == 2 and "prompt.profile" in out

    code, out = run_fake(task, fake_ckpt, results, "--fresh")
    assert code == 0, out
    assert "moved the earlier run" in out
    old = [p for p in (results / "fake").iterdir() if p.name.startswith("tiny.old-")]
    assert len(old) == 1 and (old[0] / "predictions.jsonl").read_bytes() == full
    assert (results / "fake" / "tiny" / "predictions.jsonl").read_bytes() == full


def test_rerun_of_finished_run_changes_nothing(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
):
    task = tiny_task(n=5)
    results = tmp_path / "results"
    assert run_fake(task, fake_ckpt, results)[0] == 0
    first = (results / "fake" / "tiny" / "predictions.jsonl").read_bytes()
    parts_before = sorted(p.name for p in (results / "fake" / "tiny" / "parts").iterdir())
    code, out = run_fake(task, fake_ckpt, results, "--batch-size", "2")
    assert code == 0 and "5 already done, 0 to run" in out
    assert (results / "fake" / "tiny" / "predictions.jsonl").read_bytes() == first
    assert sorted(p.name for p in (results / "fake" / "tiny" / "parts").iterdir()) == parts_before


def test_changed_checkpoint_is_refused(tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path):
    from runner.fake_adapter import write_fake_checkpoint

    task = tiny_task(n=3)
    results = tmp_path / "results"
    assert run_fake(task, fake_ckpt, results)[0] == 0
    write_fake_checkpoint(fake_ckpt, seed=1)  # same folder, different weights
    code, out = run_fake(task, fake_ckpt, results)
    assert code == 2 and "model.checkpoint_sha256" in out


@pytest.mark.parametrize("order", [(2, 0, 1), (1, 2, 0)])
def test_shard_jobs_in_any_order_merge_to_the_plain_run(
    order: tuple[int, ...], tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
):
    task = tiny_task(n=10, corrupt=(4,))
    assert run_fake(task, fake_ckpt, tmp_path / "plain")[0] == 0
    expected = (tmp_path / "plain" / "fake" / "tiny" / "predictions.jsonl").read_bytes()
    sharded = tmp_path / "sharded"
    for position, shard in enumerate(order):
        code, out = run_fake(task, fake_ckpt, sharded, "--shard", f"{shard}/3", "--batch-size", "2")
        assert code == 0, out
        merged = (sharded / "fake" / "tiny" / "predictions.jsonl").exists()
        assert merged == (position == len(order) - 1), out
    assert (sharded / "fake" / "tiny" / "predictions.jsonl").read_bytes() == expected
    assert scores(sharded)["fingerprint"]["model"]["world_size"] == 3


def test_merge_command_incomplete_and_allow_missing(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
):
    task = tiny_task(n=6)
    results = tmp_path / "results"
    code, out = run_fake(task, fake_ckpt, results, "--shard", "0/2")
    assert code == 0 and "wait for other shards" in out
    run_dir = results / "fake" / "tiny"
    code, out = invoke("merge", str(run_dir))
    assert code == 1 and "3 of 6 samples have no prediction" in out and "--allow-missing" in out
    code, out = invoke("merge", str(run_dir), "--allow-missing")
    assert code == 0, out
    data = scores(results)
    assert (data["n"], data["n_missing"], data["n_errors"]) == (6, 3, 0)
    code, out = run_fake(task, fake_ckpt, results, "--shard", "1/2")
    assert code == 0
    assert scores(results)["n_missing"] == 0


def test_replay_adapter_rescores_a_predictions_file(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
):
    task = tiny_task(n=6, missing=(5,))
    assert run_fake(task, fake_ckpt, tmp_path / "a")[0] == 0
    source = tmp_path / "a" / "fake" / "tiny" / "predictions.jsonl"
    lines = source.read_text(encoding="utf-8").splitlines()
    replay_file = tmp_path / "replay.jsonl"
    replay_file.write_text("\n".join(lines[:4] + lines[5:]) + "\n", encoding="utf-8")  # drop id q4
    code, out = invoke(
        "run",
        *task.args(),
        "--ckpt",
        str(replay_file),
        "--results",
        str(tmp_path / "b"),
        "--model-name",
        "fake",
        "--num-workers",
        "0",
    )
    assert code == 0, out
    rows = predictions(tmp_path / "b")
    original = [json.loads(line) for line in lines]
    for i in (0, 1, 2, 3):
        assert rows[i]["prediction"] == original[i]["prediction"]
        assert rows[i]["score"] == original[i]["score"]
    assert "q4" in rows[4]["error"] and "not in" in rows[4]["error"]
    assert "missing image" in rows[5]["error"]  # the recorded error is replayed
    assert scores(tmp_path / "b")["n_errors"] == 2


def test_dry_run_checks_everything_and_writes_nothing(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
):
    task = tiny_task(n=5, corrupt=(0,), missing=(3,))
    code, out = run_fake(task, fake_ckpt, tmp_path / "results", "--dry-run")
    assert code == 0, out
    assert "5 samples, 2 with image problems" in out
    assert "'Q: word 0?'" in out and "cannot decode image" in out and "missing image" in out
    assert not (tmp_path / "results").exists()


def test_model_option_and_prompt_profile_reach_the_adapter(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
):
    task = tiny_task(n=4)
    code, out = run_fake(
        task,
        fake_ckpt,
        tmp_path / "r",
        "--prompt-profile",
        "monkey_vqa",
        "--model-option",
        "batch_sensitive=true",
        "--batch-size",
        "4",
    )
    assert code == 0, out
    rows = predictions(tmp_path / "r")
    assert rows[1]["prompt"] == "<fake><img>img001.png</img>word 1? Answer:"
    assert rows[0]["prediction"] == "apple batched"[:16]
    assert scores(tmp_path / "r")["fingerprint"]["model"]["family_options"] == {"batch_sensitive": True}


def test_bad_usage_messages(tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path):
    task = tiny_task(n=2)
    code, out = run_fake(task, fake_ckpt, tmp_path / "r", "--shard", "3/2")
    assert code == 2 and "0 <= i < N" in out
    code, out = run_fake(task, fake_ckpt, tmp_path / "r", "--model-option", "novalue")
    assert code == 2 and "key=value" in out
    code, out = invoke("run", *task.args(), "--ckpt", str(fake_ckpt), "--results", str(tmp_path / "r"))
    assert code == 2 and "cannot tell the model family" in out and "hf" in out and "monkey" in out


def test_failed_batch_is_retried_per_sample(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
):
    task = tiny_task(n=8)
    code, out = run_fake(task, fake_ckpt, tmp_path / "r", "--batch-size", "4", "--model-option", "fail_on=5")
    assert code == 0, out
    rows = predictions(tmp_path / "r")
    assert rows[5]["error"] == "generation failed: RuntimeError: simulated out-of-memory on sample 5"
    assert all(r["error"] is None for r in rows if r["index"] != 5)  # its batch-mates were retried alone
    assert rows[4]["prediction"] == "maple"
    assert scores(tmp_path / "r")["n_errors"] == 1


@pytest.mark.parametrize("keep_errors", [False, True])
def test_a_failed_generation_is_retried_on_resume_unless_kept(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path, keep_errors: bool
):
    task = tiny_task(n=6)
    marker = tmp_path / "healed"
    options = ["--batch-size", "2", "--model-option", "fail_on=3", "--model-option", f"fail_unless={marker}"]
    code, out = run_fake(task, fake_ckpt, tmp_path / "r", *options)
    assert code == 0, out
    assert predictions(tmp_path / "r")[3]["error"].startswith("generation failed: RuntimeError")
    marker.touch()  # the out-of-memory was transient
    code, out = run_fake(
        task, fake_ckpt, tmp_path / "r", *options, *(["--keep-errors"] if keep_errors else [])
    )
    assert code == 0, out
    rows = predictions(tmp_path / "r")
    if keep_errors:
        assert "0 to run" in out and rows[3]["error"] is not None and scores(tmp_path / "r")["n_errors"] == 1
    else:
        assert "1 failed earlier and are retried" in out and "1 to run" in out
        assert rows[3]["error"] is None and rows[3]["prediction"].startswith("wrong ")
        assert scores(tmp_path / "r")["n_errors"] == 0 and [r["index"] for r in rows] == list(range(6))


def test_several_tasks_with_family_specific_settings(tmp_path: Path, fake_ckpt: Path):
    from runner.support import make_tiny_task

    first = make_tiny_task(tmp_path, n=4, name="tiny")
    make_tiny_task(
        tmp_path,
        n=6,
        name="tiny2",
        extra_yaml=(
            "profiles: {fake: monkey_vqa}\n"
            "family_options: {fake: {batch_sensitive: true}}\n"
            "family_max_new_tokens: {fake: 9}\n"
        ),
    )
    code, out = invoke(
        "run",
        "--task",
        "tiny",
        "--task",
        "tiny2",
        "--tasks-dir",
        str(first.tasks_dir),
        "--ckpt",
        str(fake_ckpt),
        "--model",
        SPEC,
        "--results",
        str(tmp_path / "r"),
        "--model-name",
        "fake",
        "--num-workers",
        "0",
        "--batch-size",
        "3",
    )
    assert code == 0, out
    plain, special = predictions(tmp_path / "r", "tiny"), predictions(tmp_path / "r", "tiny2")
    assert [r["prompt"] for r in plain][:1] == ["<fake>Q: word 0?"] and plain[0]["prediction"] == "apple"
    assert special[0]["prompt"] == "<fake><img>img000.png</img>word 0? Answer:"
    assert special[0]["prediction"] == "apple bat"  # batch-sensitive option from the YAML, cut at 9 tokens
    assert scores(tmp_path / "r", "tiny2")["fingerprint"]["model"]["max_new_tokens"] == 9
    assert "tiny2" in out and "tiny:" in out


def test_lone_surrogates_in_the_data_survive_run_report_and_gate(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
):
    task = tiny_task(n=4)
    rows = [json.loads(line) for line in task.jsonl.read_text(encoding="utf-8").splitlines()]
    rows[1]["question"] = "bad \ud800 question"
    rows[2]["question_id"] = "id-\udc80"
    task.jsonl.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    code, out = run_fake(task, fake_ckpt, tmp_path / "r")
    assert code == 0, out
    written = predictions(tmp_path / "r")
    assert "\ud800" in written[1]["prompt"] and written[2]["id"] == "id-\udc80"
    (tmp_path / "r" / "fake" / "tiny" / "predictions.jsonl").read_bytes().decode("utf-8")  # valid UTF-8
    code, out = invoke("report", str(tmp_path / "r"), "--format", "html", "-o", str(tmp_path / "board.html"))
    assert code == 0, out
    baseline = str(tmp_path / "baseline.json")
    assert invoke("gate", str(tmp_path / "r"), "--write-baseline", baseline)[0] == 0
    code, out = invoke("gate", str(tmp_path / "r"), "--baseline", baseline, "--mode", "paired")
    assert code == 0, out
