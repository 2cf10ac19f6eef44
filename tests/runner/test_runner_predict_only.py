"""`monkeyeval run --predict-only`: generate for every sample (answers or not), score nothing.

Covers the dataset side (answer-less samples kept only then), the files (predictions.jsonl +
predict_only.json, never a scores.json), resume and re-finalising in both directions, `merge` of a
predict-only shard run, and how report, gate and the Python API show such a run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from monkeyeval.api import evaluate, load_results
from runner.fake_adapter import SPEC
from runner.support import TinyTask
from runner.test_runner_run import invoke, predictions, run_fake

WITHOUT_ANSWERS = (1, 4)  # samples whose line has no "answer" key
EMPTY_ANSWERS = (2,)  # samples whose "answer" is ""


def strip_answers(task: TinyTask, absent: tuple[int, ...], empty: tuple[int, ...]) -> None:
    """Rewrite the task's jsonl: `absent` lines lose their answer key, `empty` lines get "" as answer."""
    rows = [json.loads(line) for line in task.jsonl.read_text(encoding="utf-8").splitlines()]
    for index, row in enumerate(rows):
        if index in absent:
            del row["answer"]
        elif index in empty:
            row["answer"] = ""
    task.jsonl.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def run_folder(results: Path, task: str = "tiny") -> Path:
    return results / "fake" / task


def test_a_normal_run_skips_answerless_lines_and_predict_only_keeps_them(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
) -> None:
    task = tiny_task(n=6)
    strip_answers(task, WITHOUT_ANSWERS, EMPTY_ANSWERS)
    scored, predicted = tmp_path / "scored", tmp_path / "predicted"

    code, out = run_fake(task, fake_ckpt, scored)
    assert code == 0, out
    assert len(predictions(scored)) == 6 - len(WITHOUT_ANSWERS) - len(EMPTY_ANSWERS)
    assert json.loads((run_folder(scored) / "scores.json").read_text())["n_skipped_lines"] == 3

    code, out = run_fake(task, fake_ckpt, predicted, "--predict-only")
    assert code == 0, out
    folder = run_folder(predicted)
    assert not (folder / "scores.json").exists()
    rows = predictions(predicted)
    assert [row["index"] for row in rows] == list(range(6))
    assert [row["answers"] for row in rows if not row["answers"]] == [[], [], []]
    assert {row["id"] for row in rows if not row["answers"]} == {"q1", "q2", "q4"}
    assert all(row["score"] is None and row["scores"] == {} for row in rows)
    assert all(row["prediction"] for row in rows)  # every sample was generated
    summary = json.loads((folder / "predict_only.json").read_text())
    assert summary["predict_only"] is True
    assert (summary["n"], summary["n_without_answers"], summary["n_errors"]) == (6, 3, 0)
    assert summary["metric"] == "exact_match_qwen"
    assert summary["predictions"]["count"] == 6
    assert "not scored" in out and "predict-only: predictions in" in out


def test_a_split_without_any_answer_names_predict_only(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
) -> None:
    task = tiny_task(n=3)
    strip_answers(task, (0, 1, 2), ())
    code, out = run_fake(task, fake_ckpt, tmp_path / "results")
    assert code == 2, out
    assert "no valid samples" in out and "--predict-only" in out
    code, out = run_fake(task, fake_ckpt, tmp_path / "results", "--predict-only")
    assert code == 0, out


def test_scored_and_predict_only_merges_replace_each_other(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
) -> None:
    task = tiny_task(n=4)  # every sample has an answer, so both kinds of run share their samples
    results = tmp_path / "results"
    folder = run_folder(results)
    assert run_fake(task, fake_ckpt, results, "--predict-only")[0] == 0
    assert (folder / "predict_only.json").is_file() and not (folder / "scores.json").exists()

    code, out = run_fake(task, fake_ckpt, results)  # resumes: nothing to generate, scores what is there
    assert code == 0, out
    assert "0 to run" in out
    assert (folder / "scores.json").is_file() and not (folder / "predict_only.json").exists()
    assert json.loads((folder / "scores.json").read_text())["score"] == 0.5  # even indices are right

    assert run_fake(task, fake_ckpt, results, "--predict-only")[0] == 0
    assert (folder / "predict_only.json").is_file() and not (folder / "scores.json").exists()
    assert all(row["score"] is None for row in predictions(results))


def test_merge_of_a_predict_only_shard_run_writes_no_scores(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
) -> None:
    task = tiny_task(n=4)
    strip_answers(task, (3,), ())
    results = tmp_path / "results"
    code, out = run_fake(task, fake_ckpt, results, "--predict-only", "--shard", "0/2")
    assert code == 0, out
    assert "wait for other shards" in out
    code, out = invoke("merge", str(run_folder(results)), "--allow-missing")
    assert code == 0, out
    summary = json.loads((run_folder(results) / "predict_only.json").read_text())
    assert (summary["n"], summary["n_missing"], summary["n_without_answers"]) == (4, 2, 1)
    assert not (run_folder(results) / "scores.json").exists()


def test_report_gate_and_api_show_a_predict_only_run(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
) -> None:
    task = tiny_task(n=4)
    scored_root, new_root = tmp_path / "base", tmp_path / "new"
    assert run_fake(task, fake_ckpt, scored_root)[0] == 0
    assert run_fake(task, fake_ckpt, new_root, "--predict-only")[0] == 0

    code, out = invoke("report", str(new_root), "--format", "md")
    assert code == 0, out
    assert "## Predict-only runs (not scored)" in out
    assert "| fake | tiny | exact_match_qwen | 4 | 0 |" in out
    out = invoke("report", str(new_root), "--format", "json")[1]
    assert "no valid scores.json" in out and "1 predict-only runs" in out  # the warning, on stderr
    board = json.loads(out[out.index("{") :])
    assert board["tasks"] == [] and [row["task"] for row in board["predict_only"]] == ["tiny"]

    baseline = tmp_path / "baseline.json"
    assert invoke("gate", str(scored_root), "--write-baseline", str(baseline))[0] == 0
    code, out = invoke("gate", str(new_root), "--baseline", str(baseline))
    assert code == 1, out
    assert "only a --predict-only run" in out

    loaded = load_results(new_root)
    assert len(loaded) == 0
    assert [(run.model, run.task, run.n) for run in loaded.predict_only] == [("fake", "tiny", 4)]


def test_a_predict_only_summary_that_disagrees_with_its_predictions_is_skipped(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
) -> None:
    task = tiny_task(n=3)
    results = tmp_path / "results"
    assert run_fake(task, fake_ckpt, results, "--predict-only")[0] == 0
    with open(run_folder(results) / "predictions.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"index": 9, "id": "extra"}\n')
    loaded = load_results(results)
    assert loaded.predict_only == ()
    assert any("predict_only.json recorded 3 records" in problem.reason for problem in loaded.problems)


def test_evaluate_predict_only_returns_an_unscored_task(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
) -> None:
    task = tiny_task(n=3)
    strip_answers(task, (0,), ())
    ev = evaluate(
        "tiny",
        fake_ckpt,
        family=SPEC,
        tasks_dirs=[task.tasks_dir],
        results=tmp_path / "results",
        model_name="fake",
        num_workers=0,
        predict_only=True,
    )
    assert len(ev) == 0
    unscored = ev.unscored["tiny"]
    assert unscored.predict_only and not unscored.dry_run
    assert "not scored" in unscored.note
