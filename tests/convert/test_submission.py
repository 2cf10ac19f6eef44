"""`monkeyeval export`: official submission files, checked against what each server accepts.

The expectations are the servers' own rules, restated here (not imported from monkeyeval): the DocVQA /
InfographicVQA checker of rrc.cvc.uab.es wants a JSON array with exactly one `{"questionId": int, "answer":
str}` per ground-truth question, the sorted ids equal to the ground truth's; TextVQA on EvalAI takes
`{"question_id": int, "answer": str}`; VizWiz on EvalAI takes `{"image": <file name>, "answer": str}`.
The runs are real: `monkeyeval run` with the bundled demo checkpoint, `monkeyeval score`, or the finaliser.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monkeyeval.cli.app import build_app
from monkeyeval.convert.submission import (
    FORMATS,
    FinishedRun,
    build_submission,
    integer_id,
)
from monkeyeval.core.paths import builtin_dir
from monkeyeval.core.types import PredictionRecord, Sample
from monkeyeval.results.finalize import finalize_predict_only
from monkeyeval.results.schema import InputNotes
from monkeyeval.runner.lock import lock_dir
from monkeyeval.tasks.dataset import load_samples
from monkeyeval.tasks.registry import TaskRegistry

DEMO = builtin_dir("tasks") / "demo"
DOC_IDS = [49153, 49160, 57349, 7, 65536, 12]  # DocVQA-like integer question ids, not in index order
DOC_TASK = "docvqa_mini_test"
VIZWIZ_TASK = "vizwiz_mini_test"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(build_app(), list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def write_task(folder: Path, name: str, rows: list[dict], images: dict[str, Path]) -> Path:
    """A task folder: <name>.yaml, data/<name>.jsonl and data/images/... (copies of demo images)."""
    data = folder / "data"
    for relative, source in images.items():
        (data / "images" / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, data / "images" / relative)
    data.mkdir(parents=True, exist_ok=True)
    (data / f"{name}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    (folder / f"{name}.yaml").write_text(
        f"task: {name}\ndataset:\n  relative_to: yaml_dir\n  jsonl: data/{name}.jsonl\n"
        "  image_root: data/images\nmetric: anls_docvqa\nmax_new_tokens: 8\n",
        encoding="utf-8",
    )
    return folder


def jsonl_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def clean_env() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name in ("MONKEYEVAL_TASKS_PATH", "MONKEYEVAL_DATA", "RANK", "WORLD_SIZE", "LOCAL_RANK"):
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(scope="module")
def doc_tasks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 demo samples with DocVQA-like integer ids (and answers)."""
    demo = jsonl_rows(DEMO / "demo.jsonl")[:6]
    rows = [{**row, "question_id": qid} for row, qid in zip(demo, DOC_IDS, strict=True)]
    images = {row["image"]: DEMO / row["image"] for row in rows}
    return write_task(tmp_path_factory.mktemp("doc") / "tasks", DOC_TASK, rows, images)


@pytest.fixture(scope="module")
def doc_run(doc_tasks: Path, tmp_path_factory: pytest.TempPathFactory, clean_env: None) -> Path:
    """A real scored run of the demo checkpoint on the DocVQA-like task."""
    results = tmp_path_factory.mktemp("doc_results")
    code, out, err = invoke(
        "run", "--task", DOC_TASK, "--tasks-dir", str(doc_tasks), "--ckpt", "demo", "--results",
        str(results), "--model-name", "demo", "--num-workers", "0",
    )  # fmt: skip
    assert code == 0, out + err
    return results / "demo" / DOC_TASK


@pytest.fixture(scope="module")
def vizwiz_tasks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 test questions without answers, ids unlike their images (the image name must come from `image`)."""
    demo = jsonl_rows(DEMO / "demo.jsonl")[:4]
    rows = [
        {"question_id": f"v{i}", "image": f"test/VizWiz_test_{i:08d}.jpg", "question": row["question"]}
        for i, row in enumerate(demo)
    ]
    images = {row["image"]: DEMO / demo[i]["image"] for i, row in enumerate(rows)}  # PNG bytes, by content
    return write_task(tmp_path_factory.mktemp("vizwiz") / "tasks", VIZWIZ_TASK, rows, images)


@pytest.fixture(scope="module")
def vizwiz_run(vizwiz_tasks: Path, tmp_path_factory: pytest.TempPathFactory, clean_env: None) -> Path:
    """A real `run --predict-only` of the demo checkpoint on the answerless VizWiz-like test split."""
    results = tmp_path_factory.mktemp("vizwiz_results")
    code, out, err = invoke(
        "run", "--task", VIZWIZ_TASK, "--tasks-dir", str(vizwiz_tasks), "--ckpt", "demo", "--results",
        str(results), "--model-name", "demo", "--num-workers", "0", "--predict-only",
    )  # fmt: skip
    assert code == 0, out + err
    return results / "demo" / VIZWIZ_TASK


def export(run_dir: Path, tasks: Path, fmt: str, *extra: str) -> tuple[int, str, str]:
    return invoke("export", str(run_dir), "--format", fmt, "--tasks-dir", str(tasks), *extra)


def predictions_by_id(run_dir: Path) -> dict[str, str]:
    return {row["id"]: row["prediction"] for row in jsonl_rows(run_dir / "predictions.jsonl")}


def assert_one_paragraph_error(err: str) -> None:
    assert err.startswith("error: ") and "Traceback" not in err
    assert err.strip().count("\n") == 0


# ---------------------------------------------------------------- the files each server accepts


def test_docvqa_file_of_a_real_run_passes_the_rrc_checks(doc_run: Path, doc_tasks: Path) -> None:
    code, out, err = export(doc_run, doc_tasks, "docvqa")
    assert code == 0, err
    target = doc_run / "submission_docvqa.json"
    assert out.strip() == f"wrote 6 answers to {target} (DocVQA Task 1 at rrc.cvc.uab.es)"
    submitted = json.loads(target.read_text(encoding="utf-8"))
    ground_truth = jsonl_rows(doc_tasks / "data" / f"{DOC_TASK}.jsonl")
    # the RRC checker: an array, one item per ground-truth question, the same integer ids
    assert isinstance(submitted, list) and len(submitted) == len(ground_truth)
    assert sorted(item["questionId"] for item in submitted) == sorted(
        row["question_id"] for row in ground_truth
    )
    predicted = predictions_by_id(doc_run)
    for item, row in zip(submitted, ground_truth, strict=True):  # in dataset order
        assert set(item) == {"questionId", "answer"}
        assert type(item["questionId"]) is int and item["questionId"] == row["question_id"]
        assert type(item["answer"]) is str and item["answer"] == predicted[str(row["question_id"])]
    assert "note: scored run (scores.json" in err and "does not look like" not in err


@pytest.mark.parametrize(("fmt", "key"), [("infovqa", "questionId"), ("textvqa-evalai", "question_id")])
def test_infovqa_and_textvqa_name_the_same_integer_ids_by_their_own_key(
    doc_run: Path, doc_tasks: Path, tmp_path: Path, fmt: str, key: str
) -> None:
    target = tmp_path / f"{fmt}.json"
    code, out, err = export(doc_run, doc_tasks, fmt, "-o", str(target))
    assert code == 0, err
    assert f"wrote 6 answers to {target}" in out
    submitted = json.loads(target.read_text(encoding="utf-8"))
    predicted = predictions_by_id(doc_run)
    assert [set(item) for item in submitted] == [{key, "answer"}] * 6
    assert [item[key] for item in submitted] == DOC_IDS
    assert [item["answer"] for item in submitted] == [predicted[str(qid)] for qid in DOC_IDS]
    assert f"task {DOC_TASK!r} does not look like a {fmt} task" in err  # a docvqa task, another format


def test_vizwiz_file_of_a_real_predict_only_run_names_the_image_files(
    vizwiz_run: Path, vizwiz_tasks: Path
) -> None:
    assert (vizwiz_run / "predict_only.json").is_file() and not (vizwiz_run / "scores.json").exists()
    code, out, err = export(vizwiz_run, vizwiz_tasks, "vizwiz-evalai")
    assert code == 0, err
    assert "wrote 4 answers to" in out and "VizWiz VQA on EvalAI" in out
    submitted = json.loads((vizwiz_run / "submission_vizwiz-evalai.json").read_text(encoding="utf-8"))
    predicted = predictions_by_id(vizwiz_run)
    assert [set(item) for item in submitted] == [{"image", "answer"}] * 4
    assert [item["image"] for item in submitted] == [f"VizWiz_test_{i:08d}.jpg" for i in range(4)]
    assert [item["answer"] for item in submitted] == [predicted[f"v{i}"] for i in range(4)]
    assert "note: predict-only run (predict_only.json)" in err
    assert "VizWiz_test_'" not in err and "does not look like" not in err


def test_answers_are_written_exactly_as_predicted() -> None:
    samples = [Sample(0, "5", "q?", [], "a.png", None), Sample(1, "6", "q?", [], "b.png", None)]
    texts = ["  Two  words \n", "ÅÄÖ “quoted” \\ \t"]
    records = [PredictionRecord(s.index, s.id, "", t, []) for s, t in zip(samples, texts, strict=True)]
    run = FinishedRun(Path("r"), Path("r/predict_only.json"), "docvqa_test", True, records)
    submission = build_submission(FORMATS["docvqa"], run, samples, dataset=Path("d.jsonl"))
    assert submission.entries == [
        {"questionId": 5, "answer": texts[0]},
        {"questionId": 6, "answer": texts[1]},
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [("49153", 49153), ("0", 0), ("-3", -3), ("q1", None), ("1.0", None), ("007", None), (" 7", None),
     ("1_000", None), ("٣", None), ("", None), ("-0", None)],
)  # fmt: skip
def test_only_plain_decimal_ids_are_integer_question_ids(text: str, value: int | None) -> None:
    assert integer_id(text) == value


# ---------------------------------------------------------------- refusals


def test_ids_that_are_not_integers_are_refused_for_docvqa(vizwiz_run: Path, vizwiz_tasks: Path) -> None:
    code, out, err = export(vizwiz_run, vizwiz_tasks, "docvqa")
    assert code == 2 and out == ""
    assert_one_paragraph_error(err)
    assert "4 of 4 samples" in err and "'v0', 'v1'" in err and "integer question ids" in err
    assert not (vizwiz_run / "submission_docvqa.json").exists()


def test_missing_predictions_are_refused_with_their_count_and_ids(doc_tasks: Path, tmp_path: Path) -> None:
    partial = tmp_path / "partial.jsonl"
    kept = [qid for qid in DOC_IDS if qid not in (57349, 12)]
    partial.write_text("".join(json.dumps({"id": str(q), "prediction": "x"}) + "\n" for q in kept), "utf-8")
    code, _, err = invoke(
        "score", "--task", DOC_TASK, "--tasks-dir", str(doc_tasks), str(partial), "--model-name", "partial",
        "--results", str(tmp_path / "results"), "--missing", "wrong",
    )  # fmt: skip
    assert code == 0, err
    run_dir = tmp_path / "results" / "partial" / DOC_TASK
    code, out, err = export(run_dir, doc_tasks, "docvqa")
    assert code == 1 and out == ""
    assert_one_paragraph_error(err)
    assert "2 of 6 dataset samples have no prediction" in err and "'57349', '12'" in err
    assert "monkeyeval score" in err
    assert not (run_dir / "submission_docvqa.json").exists()


def test_samples_a_scored_run_skipped_for_lack_of_answers_are_missing(tmp_path: Path) -> None:
    rows = [
        {"question_id": 10, "image": "a.png", "question": "q?", "answer": "x"},
        {"question_id": 11, "image": "b.png", "question": "q?"},  # a test question: no answer
        {"question_id": 12, "image": "c.png", "question": "q?", "answer": "y"},
    ]
    tasks = write_task(tmp_path / "tasks", "textvqa_mixed", rows, {})
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"id": "10", "prediction": "x"}\n{"id": "12", "prediction": "y"}\n', encoding="utf-8")
    code, _, err = invoke(
        "score", "--task", "textvqa_mixed", "--tasks-dir", str(tasks), str(preds), "--model-name", "m",
        "--results", str(tmp_path / "results"), "--missing", "fail",
    )  # fmt: skip
    assert code == 0, err
    code, _, err = export(tmp_path / "results" / "m" / "textvqa_mixed", tasks, "textvqa-evalai")
    assert code == 1
    assert "1 of 3 dataset samples have no prediction (first ids: '11')" in err and "--predict-only" in err


def predict_only_run(
    tasks: Path, name: str, run_dir: Path, errors: dict[int, str], limit: int | None
) -> None:
    """Write a predict-only run with the real finaliser: 'answer <i>' per sample, `errors` by index."""
    task = TaskRegistry.discover([tasks]).get(name)
    samples = load_samples(task, limit=limit, require_answers=False, resolve_images=False).samples
    records = [
        PredictionRecord(s.index, s.id, "p", "" if s.index in errors else f"answer {s.index}", [],
                         error=errors.get(s.index))
        for s in samples
    ]  # fmt: skip
    finalize_predict_only(run_dir, task, records, {"family": "test"}, "m", inputs=InputNotes(limit=limit))


def test_errored_predictions_are_refused_unless_allowed(doc_tasks: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "m" / DOC_TASK
    predict_only_run(doc_tasks, DOC_TASK, run_dir, {2: "input too long: 9000 tokens"}, None)
    code, _, err = export(run_dir, doc_tasks, "docvqa")
    assert code == 1
    assert_one_paragraph_error(err)
    assert "1 of 6 predictions are errors" in err and "'57349': input too long" in err
    assert "--allow-errors" in err and not (run_dir / "submission_docvqa.json").exists()
    code, out, err = export(run_dir, doc_tasks, "docvqa", "--allow-errors")
    assert code == 0 and "wrote 6 answers" in out
    submitted = json.loads((run_dir / "submission_docvqa.json").read_text(encoding="utf-8"))
    assert submitted[2] == {"questionId": 57349, "answer": ""}
    assert submitted[3] == {"questionId": 7, "answer": "answer 3"}
    assert "1 errored samples are submitted" in err


def test_a_limit_run_is_incomplete(doc_tasks: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "m" / DOC_TASK
    predict_only_run(doc_tasks, DOC_TASK, run_dir, {}, 3)
    code, _, err = export(run_dir, doc_tasks, "docvqa")
    assert code == 1 and "the run used --limit 3" in err and "without --limit" in err


def test_a_folder_that_is_not_a_finished_run_is_refused(tmp_path: Path) -> None:
    code, _, err = invoke("export", str(tmp_path / "nope"), "--format", "docvqa")
    assert code == 2 and "no such folder" in err
    pending = tmp_path / "m" / "docvqa_test"
    (pending / "parts").mkdir(parents=True)
    (pending / "run.json").write_text("{}", encoding="utf-8")
    code, _, err = invoke("export", str(pending), "--format", "docvqa")
    assert code == 2
    assert_one_paragraph_error(err)
    assert "not a finished run" in err and f"monkeyeval merge {pending}" in err


def test_predictions_edited_after_the_run_are_refused(doc_run: Path, doc_tasks: Path, tmp_path: Path) -> None:
    copy = tmp_path / "demo" / DOC_TASK
    shutil.copytree(doc_run, copy)
    path = copy / "predictions.jsonl"
    path.write_text(
        path.read_text(encoding="utf-8").replace('"prediction":"', '"prediction":"edited '), "utf-8"
    )
    code, _, err = export(copy, doc_tasks, "docvqa")
    assert code == 2 and "the pair disagrees" in err and "monkeyeval merge" in err


def test_a_run_still_writing_the_folder_is_refused(doc_run: Path, doc_tasks: Path, tmp_path: Path) -> None:
    copy = tmp_path / "demo" / DOC_TASK
    shutil.copytree(doc_run, copy)
    lock_dir(copy).mkdir(parents=True)
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": "2024-01-01T00:00:00Z"}
    (lock_dir(copy) / "run.lock").write_text(json.dumps(holder), encoding="utf-8")
    code, _, err = export(copy, doc_tasks, "docvqa")
    assert code == 2 and "is being written by a run" in err and f"pid {os.getpid()}" in err


def test_a_dataset_changed_since_the_run_is_refused(doc_run: Path, doc_tasks: Path, tmp_path: Path) -> None:
    changed = tmp_path / "tasks"
    shutil.copytree(doc_tasks, changed)
    jsonl = changed / "data" / f"{DOC_TASK}.jsonl"
    jsonl.write_text(jsonl.read_text(encoding="utf-8").replace("written", "printed", 1), encoding="utf-8")
    code, _, err = export(doc_run, changed, "docvqa")
    assert code == 2 and "the dataset changed since the run" in err


def test_the_output_is_written_atomically_with_the_umask_and_spares_the_run_files(
    doc_run: Path, doc_tasks: Path, tmp_path: Path
) -> None:
    target = tmp_path / "new" / "folder" / "docvqa.json"
    previous = os.umask(0o027)
    try:
        code, _, err = export(doc_run, doc_tasks, "docvqa", "-o", str(target))
    finally:
        os.umask(previous)
    assert code == 0, err
    assert target.stat().st_mode & 0o777 == 0o640
    assert os.listdir(target.parent) == ["docvqa.json"]  # no temp file left behind
    assert len(json.loads(target.read_text(encoding="utf-8"))) == 6
    before = (doc_run / "predictions.jsonl").read_bytes()
    code, _, err = export(doc_run, doc_tasks, "docvqa", "-o", str(doc_run / "predictions.jsonl"))
    assert code == 2 and "one of the run's own files" in err
    assert (doc_run / "predictions.jsonl").read_bytes() == before


def test_an_unknown_format_lists_the_choices(doc_run: Path) -> None:
    code, _, err = invoke("export", str(doc_run), "--format", "docvqa-task1")
    assert code == 2 and "docvqa, infovqa, textvqa-evalai, vizwiz-evalai" in err


def test_help_teaches_the_formats_with_an_example() -> None:
    code, out, _ = invoke("export", "-h")
    assert code == 0
    assert all(name in out for name in FORMATS)
    assert '"questionId": int' in out and '"image": str' in out
    assert "monkeyeval export results/echo840__Monkey/docvqa_test --format docvqa" in out
