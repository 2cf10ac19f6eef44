"""The Python API (`monkeyeval.evaluate`, `monkeyeval.load_results`) against the CLI, on the bundled demo."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import monkeyeval
from monkeyeval import Evaluation, Results, TaskResult, evaluate, load_results
from monkeyeval.api import FRAME_COLUMNS, build_request, run_option_names
from monkeyeval.cli.app import build_app
from monkeyeval.core.errors import UserError
from monkeyeval.runner.request import RunRequest
from monkeyeval.runner.sharding import ShardSpec

DEMO_ARGS: dict[str, Any] = {"limit": 6, "num_workers": 0}
ENV_LEAKS = ("MONKEYEVAL_TASKS_PATH", "MONKEYEVAL_DATA", "RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class DemoRuns:
    """The demo run once through the CLI (`cli_root`) and once through `evaluate` (`api_root`)."""

    cli_root: Path
    api_root: Path
    evaluation: Evaluation


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRuns]:
    base = tmp_path_factory.mktemp("api")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MONKEYEVAL_CACHE_DIR", str(base / "hash-cache"))
        for name in ENV_LEAKS:
            patch.delenv(name, raising=False)
        cli_root, api_root = base / "cli", base / "api"
        args = ["run", "--task", "demo", "--ckpt", "demo", "--limit", "6", "--num-workers", "0"]
        result = CliRunner().invoke(build_app(), [*args, "--results", str(cli_root)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        evaluation = evaluate("demo", "demo", results=str(api_root), **DEMO_ARGS)
        yield DemoRuns(cli_root, api_root, evaluation)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_LEAKS:
        monkeypatch.delenv(name, raising=False)


def run_files(root: Path) -> tuple[dict, bytes]:
    """scores.json (less the timed `created` and `throughput`; root spelled <ROOT>), predictions bytes."""
    run_dir = root / "demo__checkpoint" / "demo"
    text = (run_dir / "scores.json").read_text(encoding="utf-8").replace(str(root), "<ROOT>")
    scores = json.loads(text)
    scores.pop("created")
    scores.pop("throughput")
    return scores, (run_dir / "predictions.jsonl").read_bytes()


def without_paths(result: TaskResult) -> TaskResult:
    blank = Path()
    return dataclasses.replace(result, created="", run_dir=blank, scores_path=blank, predictions_path=blank)


def test_api_and_cli_write_identical_files(demo: DemoRuns):
    cli_scores, cli_predictions = run_files(demo.cli_root)
    api_scores, api_predictions = run_files(demo.api_root)
    assert api_scores == cli_scores
    assert api_predictions == cli_predictions
    assert cli_scores["n"] == 6 and cli_scores["limit"] == 6


def test_evaluation_matches_load_results_of_the_cli_tree(demo: DemoRuns):
    evaluation = demo.evaluation
    assert evaluation.model_name == "demo__checkpoint"
    assert evaluation.results_dir == demo.api_root
    assert list(evaluation.tasks) == ["demo"] and not evaluation.unscored and not evaluation.dry_run
    result = evaluation["demo"]
    assert result.run_dir == demo.api_root / "demo__checkpoint" / "demo"
    assert result.scores_path == result.run_dir / "scores.json"
    assert result.predictions_path == result.run_dir / "predictions.jsonl"
    assert (result.task, result.model, result.metric, result.n, result.limit) == (
        "demo",
        "demo__checkpoint",
        "anls_docvqa",
        6,
        6,
    )
    assert set(result.metrics) == {"anls_docvqa", "exact_match_qwen"}
    assert result.score == result.metrics["anls_docvqa"].score
    assert result.groups == ("demo_suite",)

    loaded = load_results(demo.cli_root)
    assert isinstance(loaded, Results) and not loaded.problems
    cli_result = loaded.get("demo__checkpoint", "demo")
    assert cli_result is not None and cli_result.run_dir == demo.cli_root / "demo__checkpoint" / "demo"
    assert without_paths(cli_result) == without_paths(result)
    assert load_results(str(demo.api_root)).runs == (result,)  # the API reads back what load_results reads


def test_quiet_by_default_with_the_run_log_kept(demo: DemoRuns, capsys: pytest.CaptureFixture[str]):
    assert "6 samples, 6 to run" in demo.evaluation.log
    evaluate("demo", "demo", results=demo.api_root, dry_run=True, **DEMO_ARGS)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_resume_skips_finished_samples(demo: DemoRuns, tmp_path: Path):
    root = tmp_path / "resume"
    shutil.copytree(demo.api_root, root)
    predictions = root / "demo__checkpoint" / "demo" / "predictions.jsonl"
    before = predictions.read_bytes()
    again = evaluate("demo", "demo", results=root, **DEMO_ARGS)
    assert "6 already done, 0 to run" in again.log
    assert predictions.read_bytes() == before
    assert without_paths(again["demo"]) == without_paths(demo.evaluation["demo"])


def test_dry_run_writes_nothing_and_reports_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    root = tmp_path / "dry"
    evaluation = evaluate(["demo"], "demo", results=root, limit=3, dry_run=True, progress=True)
    assert "(dry run): 3 samples, 0 with image problems" in capsys.readouterr().err  # progress=True prints
    assert evaluation.dry_run and evaluation.tasks == {} and len(evaluation) == 0
    unscored = evaluation.unscored["demo"]
    assert (unscored.dry_run, unscored.n, unscored.n_errors) == (True, 3, 0)
    assert unscored.run_dir == root / "demo__checkpoint" / "demo"
    assert not root.exists()
    with pytest.raises(KeyError, match="dry run"):
        evaluation["demo"]
    assert list(evaluation.to_frame().columns) == list(FRAME_COLUMNS) and evaluation.to_frame().empty


def test_unknown_keyword_is_a_type_error_naming_the_valid_ones():
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'batchsize'.*batch_size"):
        evaluate("demo", "demo", batchsize=2)
    with pytest.raises(TypeError, match="torchrun"):
        evaluate("demo", "demo", nproc=2)


def test_unknown_task_raises_user_error(tmp_path: Path):
    with pytest.raises(UserError, match="unknown task or group 'no_such_task'"):
        evaluate("demo,no_such_task", "demo", results=tmp_path, num_workers=0)
    with pytest.raises(UserError, match="no task given"):
        evaluate([], "demo", results=tmp_path)


def test_every_run_request_field_is_an_option_and_values_are_normalized(tmp_path: Path):
    expected = [f.name for f in dataclasses.fields(RunRequest) if f.name not in ("tasks", "checkpoint")]
    assert list(run_option_names()) == expected
    request = build_request(
        "demo,demo_suite",
        tmp_path,
        {
            "results": "out",
            "data_root": "data",
            "tasks_dirs": "extra",
            "shard": "1/3",
            "model_options": {"tiles": 4},
            "limit": 2,
        },
    )
    assert request.tasks == ("demo,demo_suite",) and request.checkpoint == str(tmp_path)
    assert request.results == Path("out") and request.data_root == Path("data")
    assert request.tasks_dirs == (Path("extra"),) and request.shard == ShardSpec(1, 3)
    assert request.model_options == {"tiles": 4} and request.limit == 2
    listed = build_request(
        ("demo", "x"), "hub/id", {"tasks_dirs": ["a", Path("b")], "shard": ShardSpec(0, 2)}
    )
    assert listed.tasks == ("demo", "x") and listed.tasks_dirs == (Path("a"), Path("b"))
    assert listed.shard == ShardSpec(0, 2)
    assert build_request("demo", "demo", {}).checkpoint.endswith(os.path.join("demo", "checkpoint"))


def test_to_frame_rows_are_the_task_result_fields(demo: DemoRuns):
    result = demo.evaluation["demo"]
    for frame in (demo.evaluation.to_frame(), load_results(demo.api_root).to_frame()):
        assert list(frame.columns) == list(FRAME_COLUMNS) and len(frame) == 1
        row = frame.iloc[0]
        for f in dataclasses.fields(TaskResult):
            expected = getattr(result, f.name)
            if f.name == "metrics":
                expected = {name: metric.score for name, metric in result.metrics.items()}
            assert row[f.name] == expected, f.name
        assert (row["ci95_low"], row["ci95_high"]) == result.ci95


def test_load_results_keeps_damaged_files_as_problems_and_builds_groups(demo: DemoRuns, tmp_path: Path):
    root = tmp_path / "tree"
    shutil.copytree(demo.cli_root, root)
    broken = root / "other_model" / "demo" / "scores.json"
    broken.parent.mkdir(parents=True)
    broken.write_text('{"schema": 1, "model": ', encoding="utf-8")
    loaded = load_results(root)
    assert [(run.model, run.task) for run in loaded] == [("demo__checkpoint", "demo")]
    assert [problem.path for problem in loaded.problems] == [broken]
    assert "invalid JSON" in loaded.problems[0].reason
    board = loaded.leaderboard()
    assert board.problems == [str(loaded.problems[0])]
    groups = loaded.group_frame()
    assert list(groups["group"]) == ["demo_suite"]
    assert not groups.iloc[0]["complete"] and groups.iloc[0]["limited"] == ("demo",)  # a --limit run
    with pytest.raises(UserError):
        load_results(tmp_path / "missing")


def test_import_monkeyeval_stays_light():
    code = (
        "import sys, monkeyeval; from monkeyeval import evaluate, load_results; "
        "print(monkeyeval.__version__, 'torch' in sys.modules, 'pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == [monkeyeval.__version__, "False", "False"]
    assert set(monkeyeval.__all__) <= set(dir(monkeyeval))
    with pytest.raises(AttributeError):
        _ = monkeyeval.no_such_name
