"""`monkeyeval run --task minimonkey_* --ckpt <tiny Mini-Monkey fixture>` end to end on the CPU.

The built-in Mini-Monkey tasks read `LMUData/<DATASET>.jsonl` under the data root; the test writes that jsonl
from fixture cases (question, image, gold = the upstream answer) and copies the fixture images beside it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow


def fixture_cases(parity_dir: Path) -> list[dict[str, Any]]:
    lines = (parity_dir / "minimonkey" / "generation" / "cases.jsonl").read_text(encoding="utf-8").split("\n")
    return [json.loads(line) for line in lines if line.strip()]


def max_new_tokens_of(parity_dir: Path) -> int:
    """The max_new_tokens of the recorded generation cases (VLMEvalKit's generation config)."""
    limits = {case["generation_config"]["max_new_tokens"] for case in fixture_cases(parity_dir)}
    assert len(limits) == 1, limits
    return int(limits.pop())


def build_data_root(parity_dir: Path, root: Path, dataset: str, cases: list[dict[str, Any]]) -> None:
    images = root / "LMUData" / "images" / dataset
    images.mkdir(parents=True)
    with open(root / "LMUData" / f"{dataset}.jsonl", "w", encoding="utf-8") as handle:
        for index, case in enumerate(cases):
            name = Path(case["image"]).name
            shutil.copy(parity_dir / "minimonkey" / case["image"], images / name)
            record = {
                "image": name,
                "question": case["question"],
                "question_id": index,
                "answer": [case["answer"]],
            }
            handle.write(json.dumps(record) + "\n")


def run_cli(parity_dir: Path, root: Path, task: str, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "monkeyeval", "run",
        "--task", task,
        "--ckpt", str(parity_dir / "minimonkey" / "checkpoint"),
        "--model-name", "tiny-minimonkey",
        "--data-root", str(root),
        "--results", str(root / "results"),
        "--device", "cpu",
        "--max-new-tokens", str(max_new_tokens_of(parity_dir)),
        *extra,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=600, env=env)


def read_run(root: Path, task: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    run_dir = root / "results" / "tiny-minimonkey" / task
    lines = (run_dir / "predictions.jsonl").read_text(encoding="utf-8").split("\n")
    return [json.loads(line) for line in lines if line.strip()], json.loads(
        (run_dir / "scores.json").read_text()
    )


def test_chartqa_task_reproduces_upstream_answers(parity_dir: Path, tmp_path: Path) -> None:
    """The task's tile budget (ChartQA) and prompt profile; a left-padded batch of two tile counts."""
    chartqa = [c for c in fixture_cases(parity_dir) if c["profile"] == "ChartQA" and not c["use_scm"]]
    assert chartqa, "no plain ChartQA generation case in the fixture"
    by_tiles = sorted(chartqa, key=lambda c: c["pixel_shape"][0])
    cases = list({c["id"]: c for c in (by_tiles[0], by_tiles[-1])}.values())  # fewest and most tiles
    build_data_root(parity_dir, tmp_path, "ChartQA_TEST", cases)
    done = run_cli(parity_dir, tmp_path, "minimonkey_chartqa_test", "--batch-size", "2", "--num-workers", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    records, scores = read_run(tmp_path, "minimonkey_chartqa_test")
    assert [r["prediction"] for r in records] == [c["answer"] for c in cases]
    assert [r["n_new_tokens"] for r in records] == [c["n_generated"] for c in cases]
    assert [r["error"] for r in records] == [None] * len(cases)
    assert all(
        "<|im_start|>user\n" + c["final_question_text"] in r["prompt"]
        for r, c in zip(records, cases, strict=True)
    )
    model = scores["fingerprint"]["model"]
    assert (model["family"], model["tiles"], model["use_scm"], model["dtype"]) == (
        "minimonkey", "ChartQA", False, "float32",
    )  # fmt: skip
    assert scores["n"] == len(records) == len(cases) > 0 and scores["n_errors"] == 0


def test_command_line_options_reach_the_model(parity_dir: Path, tmp_path: Path) -> None:
    """`--model-option use_scm=true tiles=<profile>` on the DocVQA task reproduces the fixture's SCM case."""
    case = min((c for c in fixture_cases(parity_dir) if c["use_scm"]), key=lambda c: c["seq_len"])
    build_data_root(parity_dir, tmp_path, "DocVQA_VAL", [case])
    options = ["--model-option", "use_scm=true", "--model-option", f"tiles={case['profile']}"]
    done = run_cli(parity_dir, tmp_path, "minimonkey_docvqa_val", "--num-workers", "0", *options)
    assert done.returncode == 0, done.stderr[-3000:]
    records, scores = read_run(tmp_path, "minimonkey_docvqa_val")
    assert [r["prediction"] for r in records] == [case["answer"]]
    assert scores["fingerprint"]["model"]["use_scm"] is True
    assert scores["fingerprint"]["model"]["tiles"] == case["profile"]
