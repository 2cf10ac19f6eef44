"""`monkeyeval run --task docvqa_test --ckpt <tiny Monkey fixture>` end to end, with 1 and 2 processes.

The task is the built-in Monkey paper task; its jsonl (under a temporary data root) holds the fixture's
samples whose prompt is the monkey_vqa one (the task's prompt for Monkey), with their images copied beside it.
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

from monkeyeval.tasks.prompts import get_profile

from .parity_support import max_new_tokens_of, read_cases

pytestmark = pytest.mark.slow


def build_data_root(parity_dir: Path, root: Path) -> list[dict[str, Any]]:
    profile = get_profile("monkey_vqa")
    cases = [
        case
        for case in read_cases(parity_dir / "monkey")
        if case["prompt"] == profile.render(question=case["question"], image=case["image"])
    ]
    assert cases, "no monkey fixture case uses the monkey_vqa prompt"
    (root / "data" / "docvqa").mkdir(parents=True)
    for case in cases:  # the image path as the prompt spells it, relative to the data root
        (root / case["image"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(parity_dir / "monkey" / case["image"], root / case["image"])
    with open(root / "data" / "docvqa" / "test_ans.jsonl", "w", encoding="utf-8") as handle:
        for index, case in enumerate(cases):
            record = {"image": case["image"], "question": case["question"], "question_id": index}
            handle.write(json.dumps({**record, "answer": [case["batch1"]["answer"]]}) + "\n")
    return cases


def run_cli(parity_dir: Path, root: Path, results: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "monkeyeval", "run",
        "--task", "docvqa_test",
        "--ckpt", str(parity_dir / "monkey" / "checkpoint"),
        "--model-name", "tiny-monkey",
        "--data-root", str(root),
        "--results", str(results),
        "--max-new-tokens", str(max_new_tokens_of(parity_dir / "monkey")),
        *extra,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=600, env=env)


def check_results(results: Path, cases: list[dict[str, Any]]) -> dict[str, Any]:
    run_dir = results / "tiny-monkey" / "docvqa_test"
    lines = (run_dir / "predictions.jsonl").read_text(encoding="utf-8").split("\n")
    records = [json.loads(line) for line in lines if line.strip()]
    assert [r["prompt"] for r in records] == [case["prompt"] for case in cases]
    assert [r["prediction"] for r in records] == [case["batch1"]["answer"] for case in cases]
    assert [r["n_new_tokens"] for r in records] == [case["batch1"]["n_steps"] for case in cases]
    assert [r["error"] for r in records] == [None] * len(cases)
    scores: dict[str, Any] = json.loads((run_dir / "scores.json").read_text())
    assert scores["score"] == 1.0 and scores["n"] == len(cases)
    assert scores["fingerprint"]["model"]["family"] == "monkey"
    return scores


def test_run_one_process_with_worker(parity_dir: Path, tmp_path: Path) -> None:
    cases = build_data_root(parity_dir, tmp_path)
    done = run_cli(parity_dir, tmp_path, tmp_path / "results", "--batch-size", "1", "--num-workers", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    scores = check_results(tmp_path / "results", cases)
    assert scores["fingerprint"]["model"]["padding_aware_positions"] is False


def test_run_two_processes_padding_aware(parity_dir: Path, tmp_path: Path) -> None:
    cases = build_data_root(parity_dir, tmp_path)
    done = run_cli(
        parity_dir, tmp_path, tmp_path / "results",
        "--batch-size", "2", "--num-workers", "0", "--nproc", "2",
        "--model-option", "padding_aware_positions=true",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    scores = check_results(tmp_path / "results", cases)
    assert scores["fingerprint"]["model"]["padding_aware_positions"] is True
    assert scores["fingerprint"]["model"]["world_size"] == 2
