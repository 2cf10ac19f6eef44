"""`monkeyeval score` (and the listing commands) end to end on the built-in demo task."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monkeyeval.cli.app import build_app
from monkeyeval.core.paths import builtin_dir

DEMO_JSONL = builtin_dir("tasks") / "demo" / "demo.jsonl"


# ---------------------------------------------------------------- independent metric definitions
# (restated from docs/metric-definitions.md, not imported from monkeyeval)


def lev(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def squash(s: str) -> str:
    return " ".join(s.strip().lower().split())


def anls_docvqa(pred: str, golds: list[str]) -> float:
    best = 1.0
    for gold in golds:
        length = max(len(gold.upper()), len(pred.upper()))
        best = min(best, 0.0 if length == 0 else lev(squash(gold), squash(pred)) / length)
    value = 1 - best
    return 0.0 if value < 0.5 else value


def exact_match(pred: str, golds: list[str]) -> float:
    return float(any(pred.strip().lower() == g.strip().lower() for g in golds))


# ---------------------------------------------------------------- fixtures


def demo_rows() -> list[dict]:
    return [json.loads(line) for line in DEMO_JSONL.read_text(encoding="utf-8").splitlines()]


def golds(row: dict) -> list[str]:
    return [row["answer"]] if isinstance(row["answer"], str) else row["answer"]


def hand_made_predictions(path: Path) -> tuple[list[float], list[float], dict[str, int]]:
    """Write a predictions file covering every case; return the expected per-sample values and counts."""
    anls, em, lines = [], [], []
    counts = {"missing": 0, "errors": 0, "empty": 0}
    for row in demo_rows():
        answer, kind = golds(row)[-1], row["question_id"] % 7
        prediction = {
            0: answer,
            1: f"  {answer.upper()} ",
            2: f" {answer[:-1]}#",  # raw length (with the space) is the ANLS denominator
            3: "completely wrong",
            4: answer,
            5: "",
            6: "",
        }[kind]
        if kind == 5:
            counts["missing"] += 1
            anls.append(0.0)
            em.append(0.0)
            continue
        line = {"id": row["question_id"], "prediction": prediction}
        if kind == 4:
            line["error"] = "image failed to decode"
            counts["errors"] += 1
            anls.append(0.0)
            em.append(0.0)
        else:
            counts["empty"] += kind == 6
            anls.append(anls_docvqa(prediction, golds(row)))
            em.append(exact_match(prediction, golds(row)))
        lines.append(json.dumps(line))
    path.write_text("\n".join(reversed(lines)) + "\n", encoding="utf-8")  # order must not matter
    return anls, em, counts


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("MONKEYEVAL_TASKS_PATH", raising=False)
    monkeypatch.delenv("MONKEYEVAL_DATA", raising=False)


def invoke(runner: CliRunner, *args: str):
    return runner.invoke(build_app(), list(args), catch_exceptions=False)


def check_scores(results: Path, anls: list[float], em: list[float], counts: dict[str, int]) -> dict:
    scores = json.loads((results / "my-vlm" / "demo" / "scores.json").read_text(encoding="utf-8"))
    n = len(demo_rows())
    assert scores["metric"] == "anls_docvqa"
    assert scores["score"] == pytest.approx(sum(anls) / n)
    assert scores["metrics"]["exact_match_qwen"]["score"] == pytest.approx(sum(em) / n)
    assert scores["n"] == n
    assert scores["n_missing"] == counts["missing"] > 0
    assert scores["n_errors"] == counts["errors"] > 0
    assert scores["n_empty"] == counts["empty"] > 0
    assert scores["n_scored"] == n - counts["missing"] - counts["errors"]
    low, high = scores["ci95"]
    assert low <= scores["score"] <= high
    preds = [json.loads(line) for line in (results / "my-vlm" / "demo" / "predictions.jsonl").open()]
    assert [p["index"] for p in preds] == list(range(n))
    assert [p["score"] for p in preds] == pytest.approx(anls)
    return scores


# ---------------------------------------------------------------- tests


def test_score_demo_with_cli_runner(runner, tmp_path, monkeypatch):
    anls, em, counts = hand_made_predictions(tmp_path / "preds.jsonl")
    monkeypatch.chdir(tmp_path)  # cwd is irrelevant to the built-in demo
    preds = str(tmp_path / "preds.jsonl")
    result = invoke(
        runner, "score", "--task", "demo", preds, "--model-name", "my-vlm", "--results", str(tmp_path / "res")
    )
    assert result.exit_code == 0, result.output
    assert "anls_docvqa" in result.output and f"missing={counts['missing']}" in result.output
    assert f"{counts['missing']} dataset ids had no prediction and were scored 0 (first: '5'" in result.output
    scores = check_scores(tmp_path / "res", anls, em, counts)
    assert scores["fingerprint"]["model"]["family"] == "external"


def test_missing_fail_exits_1(runner, tmp_path):
    hand_made_predictions(tmp_path / "preds.jsonl")
    result = invoke(runner, "score", "--task", "demo", str(tmp_path / "preds.jsonl"), "--missing", "fail",
                    "--results", str(tmp_path / "res"))  # fmt: skip
    assert result.exit_code == 1
    assert "have no prediction" in result.output
    assert not (tmp_path / "res").exists()


@pytest.mark.parametrize(
    ("extra_lines", "expect"),
    [
        (
            ['{"id": 0, "prediction": "again"}', '{"id": "0", "prediction": "and again"}'],
            "1 duplicate ids (first: '0')",
        ),
        (
            ['{"id": 999, "prediction": "x"}', '{"id": "zz", "prediction": "y"}'],
            "2 ids not in the task's dataset",
        ),
        (["{broken"], "bad lines"),
        (['{"id": 1}'], "expected {"),
        (['{"id": 1, "prediction": "x", "n_new_tokens": "5"}'], "'n_new_tokens' must be an integer"),
    ],
)
def test_bad_predictions_exit_2(runner, tmp_path, extra_lines, expect):
    path = tmp_path / "preds.jsonl"
    path.write_text('{"id": 0, "prediction": "x"}\n' + "\n".join(extra_lines) + "\n", encoding="utf-8")
    result = invoke(runner, "score", "--task", "demo", str(path), "--results", str(tmp_path / "res"))
    assert result.exit_code == 2
    assert expect in result.output and str(path) in result.output


def test_usage_errors_exit_2(runner, tmp_path):
    result = invoke(runner, "score", "--task", "demo", str(tmp_path / "absent.jsonl"))
    assert result.exit_code == 2 and "does not exist" in result.output
    (tmp_path / "p.jsonl").write_text('{"id": 0, "prediction": "x"}\n')
    result = invoke(runner, "score", "--task", "dem", str(tmp_path / "p.jsonl"))
    assert result.exit_code == 2 and "did you mean: demo" in result.output


def test_dataset_problem_exits_2(runner, tmp_path):
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "mine.yaml").write_text(
        "task: mine\ndataset: {jsonl: nothere.jsonl}\nmetric: anls\nmax_new_tokens: 5\n"
    )
    (tmp_path / "p.jsonl").write_text('{"id": 0, "prediction": "x"}\n')
    result = invoke(runner, "score", "--task", "mine", str(tmp_path / "p.jsonl"), "--tasks-dir", str(folder),
                    "--data-root", str(tmp_path / "root"))  # fmt: skip
    assert result.exit_code == 2
    assert str(tmp_path / "root" / "nothere.jsonl") in result.output and "--data-root" in result.output


def test_help_has_an_example(runner):
    result = invoke(runner, "score", "--help")
    assert result.exit_code == 0 and "Example" in result.output and "--missing" in result.output


def test_tasks_and_metrics_listing(runner):
    result = runner.invoke(build_app(), ["tasks"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for expected in ("estvqa_test", "monkey_paper", "anls_monkey", "textmonkey_paper", "minimonkey: 1024"):
        assert expected in result.output
    grouped = runner.invoke(build_app(), ["tasks", "--group", "ocrbench"], env={"COLUMNS": "200"})
    assert grouped.exit_code == 0 and "1 tasks" in grouped.output and "estvqa_test" not in grouped.output
    unknown = runner.invoke(build_app(), ["tasks", "--group", "monky_paper"], env={"COLUMNS": "200"})
    assert unknown.exit_code == 2 and "monkey_paper" in unknown.output
    metrics = runner.invoke(build_app(), ["metrics"], env={"COLUMNS": "200"})
    assert metrics.exit_code == 0
    assert "contains_match_textmonkey" in metrics.output and "sum" in metrics.output


@pytest.mark.slow
def test_score_demo_in_a_subprocess(tmp_path):
    anls, em, counts = hand_made_predictions(tmp_path / "preds.jsonl")
    script = Path(sys.executable).parent / "monkeyeval"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "monkeyeval"]
    done = subprocess.run(
        [*command, "score", "--task", "demo", "preds.jsonl", "--model-name", "my-vlm", "--results", "res"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    check_scores(tmp_path / "res", anls, em, counts)
