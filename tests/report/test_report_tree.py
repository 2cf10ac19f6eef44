"""Results discovery and tolerant loading: damaged scores.json files are reported and skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monkeyeval.results.schema import ResultsError
from monkeyeval.results.tree import load_results, load_sample_scores


def test_names_come_from_content_at_any_depth(results_root: Path, make_run) -> None:
    make_run("Monkey-Chat", "docvqa", 0.5, folder="deep/er/whatever")
    make_run("echo840/Monkey", "textvqa", 0.6, folder="echo840__Monkey/textvqa")
    tree = load_results(results_root)
    assert [(run.model, run.task) for run in tree.runs] == [
        ("Monkey-Chat", "docvqa"),
        ("echo840/Monkey", "textvqa"),
    ]
    assert tree.problems == []
    run = tree.get("Monkey-Chat", "docvqa")
    assert run is not None and run.run_dir == results_root / "deep/er/whatever"


def _mutate(path: Path, change) -> None:
    obj = json.loads(path.read_text())
    change(obj)
    path.write_text(json.dumps(obj))


DAMAGE = {
    "bad_json": (lambda p: p.write_text('{"schema": 1, "model": '), "invalid JSON at line 1"),
    "not_object": (lambda p: p.write_text("[1, 2]"), "top level must be a JSON object"),
    "schema": (lambda p: _mutate(p, lambda o: o.update(schema=2)), "unsupported schema 2"),
    "missing_key": (lambda p: _mutate(p, lambda o: o.pop("n")), "missing key 'n'"),
    "nan_score": (lambda p: _mutate(p, lambda o: o.update(score=float("nan"))), "'score' is nan"),
    "string_score": (lambda p: _mutate(p, lambda o: o.update(score="0.5")), "'score' must be a number"),
    "negative_count": (
        lambda p: _mutate(p, lambda o: o.update(n_errors=-1)),
        "'n_errors' must be a non-negative",
    ),
    "bad_ci": (lambda p: _mutate(p, lambda o: o.update(ci95=[0.1])), "'ci95' must be [low, high]"),
    "primary_missing": (
        lambda p: _mutate(p, lambda o: o.update(metrics={})),
        "'metrics' must be a non-empty",
    ),
    "bad_aggregation": (
        lambda p: _mutate(p, lambda o: o["metrics"]["anls_monkey"].update(aggregation="median")),
        "aggregation must be one of",
    ),
    "empty_file": (lambda p: p.write_text(""), "invalid JSON"),
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_damaged_scores_file_is_reported_and_skipped(results_root: Path, make_run, kind: str) -> None:
    make_run("A", "good", 0.5)
    bad_dir = make_run("A", "bad", 0.5)
    damage, reason = DAMAGE[kind]
    damage(bad_dir / "scores.json")
    tree = load_results(results_root)
    assert [run.task for run in tree.runs] == ["good"]
    assert len(tree.problems) == 1
    problem = tree.problems[0]
    assert problem.path == bad_dir / "scores.json"
    assert reason in problem.reason


def test_duplicate_model_task_keeps_newest_and_reports_older(results_root: Path, make_run) -> None:
    make_run("A", "docvqa", 0.1, folder="old", created="2026-01-01T00:00:00Z")
    make_run("A", "docvqa", 0.9, folder="new", created="2026-06-01T00:00:00Z")
    tree = load_results(results_root)
    assert len(tree.runs) == 1 and tree.runs[0].score == pytest.approx(0.9)
    assert tree.problems[0].path == results_root / "old" / "scores.json"
    assert "duplicate run" in tree.problems[0].reason


def test_missing_root_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="results folder not found"):
        load_results(tmp_path / "nope")


def test_hidden_folders_are_ignored(results_root: Path, make_run) -> None:
    make_run("A", "docvqa", 0.5, folder=".staging/A/docvqa")
    assert len(load_results(results_root)) == 0


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(lines), encoding="utf-8")


def test_sample_scores_by_id_errors_count_zero_and_torn_line_ignored(tmp_path: Path) -> None:
    path = tmp_path / "predictions.jsonl"
    _write_lines(
        path,
        [
            json.dumps({"id": 7, "prediction": "a", "score": 1.0}) + "\n",
            json.dumps({"id": "x", "prediction": "", "score": None, "error": "image missing"}) + "\n",
            json.dumps({"id": "y", "prediction": "b", "score": None}) + "\n",
            '{"id": "torn", "predic',
        ],
    )
    samples = load_sample_scores(path)
    assert samples.scores == {"7": 1.0, "x": 0.0}
    assert samples.predictions == {"7": "a", "x": "", "y": "b"}
    assert samples.unscored_ids == ("y",)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"id": 1, "score": 1}\n', "not json\n"], ":2: invalid JSON"),
        (['{"id": 1, "score": 1}\n', '{"id": 1, "score": 0}\n'], ":2: duplicate id '1'"),
        (['{"score": 1}\n'], ":1: each line must be an object with an 'id'"),
        (['{"id": 1, "score": "high"}\n'], ":1: 'score' must be a finite number"),
    ],
)
def test_bad_prediction_lines_name_file_and_line(tmp_path: Path, lines: list[str], message: str) -> None:
    path = tmp_path / "predictions.jsonl"
    _write_lines(path, lines)
    with pytest.raises(ResultsError, match=message):
        load_sample_scores(path)


def test_reads_what_the_scorer_writes(results_root: Path) -> None:
    """Schema agreement with `monkeyeval.results.schema.TaskScore.to_json` (the writer of scores.json)."""
    from monkeyeval.results.schema import MetricScore, TaskScore

    task_score = TaskScore(
        task="docvqa_val",
        groups=["monkey_paper"],
        metric="anls_monkey",
        metrics={
            "anls_monkey": MetricScore("anls_monkey", 0.61, (0.58, 0.64), "mean", "1"),
            "cider_coco": MetricScore("cider_coco", float("nan"), None, "corpus", "2"),  # written as null
        },
        n=10,
        n_scored=8,
        n_errors=1,
        n_empty=0,
        n_truncated=2,
        n_missing=1,
        model="Monkey",
        fingerprint={
            "jsonl_sha256": "x",
            "prompt_sha256": "y",
            "metric": "anls_monkey",
            "metric_version": "1",
        },
        created="2026-11-21T12:00:00Z",
    )
    run_dir = results_root / "Monkey" / "docvqa_val"
    run_dir.mkdir(parents=True)
    (run_dir / "scores.json").write_text(json.dumps(task_score.to_json()))
    tree = load_results(results_root)
    assert tree.problems == []
    run = tree.runs[0]
    assert (run.model, run.task, run.metric, run.aggregation) == (
        "Monkey",
        "docvqa_val",
        "anls_monkey",
        "mean",
    )
    assert run.score == pytest.approx(0.61) and run.ci95 == (0.58, 0.64)
    assert (run.n_errors, run.n_truncated, run.n_missing) == (1, 2, 1)
    assert run.metrics["cider_coco"].score is None
    assert run.score_relevant_fingerprint()["prompt_sha256"] == "y"
