"""scores.json's `throughput`: beside the scores, never in predictions.jsonl; optional for readers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monkeyeval.cli.app import build_app
from monkeyeval.core.types import PredictionRecord
from monkeyeval.metrics.registry import load_metric_registry
from monkeyeval.results.finalize import UNTIMED_NOTE, finalize_run
from monkeyeval.results.pair import folder_pair_problem
from monkeyeval.results.reader import read_scores_file
from monkeyeval.results.schema import ResultsError, RunThroughput
from monkeyeval.tasks.config import DatasetSpec, TaskConfig

REPO = Path(__file__).resolve().parents[2]
HANDMADE = REPO / "results" / "baselines" / "demo_handmade_predictions.jsonl"
THROUGHPUT = RunThroughput(
    samples=3,
    wall_s=1.5,
    samples_per_s=2.0,
    generated_tokens=9,
    generated_tokens_per_s=6.0,
    prefill_tokens=None,
    peak_device_memory_bytes=None,
    peak_host_rss_bytes=123_456_789,
    device=("NVIDIA A100", "NVIDIA H100"),
    device_count=2,
    attempts=2,
    unmetered_attempts=1,
)


@pytest.fixture
def task(tmp_path: Path) -> TaskConfig:
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"x": 1}\n', encoding="utf-8")
    spec = DatasetSpec(jsonl=jsonl, image_root=tmp_path)
    return TaskConfig("mytask", tmp_path / "t.yaml", spec, ("exact_match_qwen",), 10, yaml_sha256="ab" * 32)


def records() -> list[PredictionRecord]:
    return [
        PredictionRecord(0, "a", "P0", "yes", ["yes"], n_new_tokens=1),
        PredictionRecord(1, "b", "P1", "no", ["yes"], n_new_tokens=1),
        PredictionRecord(2, "c", "P2", "yes", ["yes"], n_new_tokens=1),
    ]


def finalize(
    folder: Path,
    task: TaskConfig,
    throughput: RunThroughput | None = None,
    throughput_note: str | None = None,
) -> None:
    metrics = load_metric_registry(extra_plugins=False)
    finalize_run(
        folder,
        task,
        records(),
        {"family": "fake"},
        "m",
        metrics=metrics,
        throughput=throughput,
        throughput_note=throughput_note,
    )


def test_throughput_round_trips_and_leaves_predictions_alone(tmp_path: Path, task: TaskConfig) -> None:
    timed, untimed = tmp_path / "timed", tmp_path / "untimed"
    finalize(timed, task, throughput=THROUGHPUT, throughput_note="attempt 1 recorded no throughput")
    finalize(untimed, task)
    assert (timed / "predictions.jsonl").read_bytes() == (untimed / "predictions.jsonl").read_bytes()
    run = read_scores_file(timed / "scores.json")
    assert run.throughput == THROUGHPUT and run.throughput_note == "attempt 1 recorded no throughput"
    assert json.loads((timed / "scores.json").read_text())["throughput"]["device"] == [
        "NVIDIA A100",
        "NVIDIA H100",
    ]
    assert folder_pair_problem(timed) is None  # the pair check ties scores.json to the unchanged predictions
    plain = read_scores_file(untimed / "scores.json")
    assert plain.throughput is None and plain.throughput_note == UNTIMED_NOTE


def test_an_older_scores_json_without_throughput_still_reads(tmp_path: Path, task: TaskConfig) -> None:
    finalize(tmp_path, task, throughput=THROUGHPUT)
    path = tmp_path / "scores.json"
    payload = json.loads(path.read_text())
    del payload["throughput"], payload["throughput_note"]
    path.write_text(json.dumps(payload))
    run = read_scores_file(path)
    assert run.throughput is None and run.throughput_note == "" and run.n == 3
    assert folder_pair_problem(tmp_path) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"wall_s": -1.0}, "throughput.wall_s"),
        ({"samples": "3"}, "throughput.samples"),
        ({"device": ""}, "throughput.device"),
        ({"peak_host_rss_bytes": 1.5}, "throughput.peak_host_rss_bytes"),
    ],
)
def test_a_damaged_throughput_names_the_file_and_key(
    tmp_path: Path, task: TaskConfig, change: dict[str, object], message: str
) -> None:
    finalize(tmp_path, task, throughput=THROUGHPUT)
    path = tmp_path / "scores.json"
    payload = json.loads(path.read_text())
    payload["throughput"] |= change
    path.write_text(json.dumps(payload))
    with pytest.raises(ResultsError, match=message) as caught:
        read_scores_file(path)
    assert str(path) in str(caught.value)


def test_score_rescoring_a_timed_run_writes_no_timing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MONKEYEVAL_TASKS_PATH", raising=False)
    monkeypatch.delenv("MONKEYEVAL_DATA", raising=False)
    results = tmp_path / "results"
    folder = results / "handmade" / "demo"
    folder.mkdir(parents=True)
    stale = {"schema": 1, "throughput": THROUGHPUT.to_json()}  # an earlier run's file in the same folder
    (folder / "scores.json").write_text(json.dumps(stale))
    args = ["score", "--task", "demo", str(HANDMADE), "--model-name", "handmade", "--results", str(results)]
    result = CliRunner().invoke(build_app(), args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run = read_scores_file(folder / "scores.json")
    assert run.throughput is None and run.throughput_note == UNTIMED_NOTE  # not carried over
    assert folder_pair_problem(folder) is None
