"""`--batch-size auto`: halving on out-of-memory, the batch that fits kept, the size remembered."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from monkeyeval.runner.autobatch import BatchSizeMemo
from monkeyeval.runner.engine import is_out_of_memory
from monkeyeval.runner.request import RunError, parse_batch_size
from runner.support import TinyTask
from runner.test_runner_run import invoke, predictions, run_fake, scores


def logged_sizes(log: Path) -> list[int]:
    return [int(line) for line in log.read_text(encoding="utf-8").split()]


def test_auto_halves_until_the_batch_fits_and_remembers_it(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
) -> None:
    task = tiny_task(n=20)
    results, log = tmp_path / "results", tmp_path / "batches.log"
    options = ("--model-option", "fits=5", "--model-option", f"batch_log={log}")
    code, out = run_fake(task, fake_ckpt, results, "--batch-size", "auto", *options)
    assert code == 0, out
    assert logged_sizes(log) == [20, 10, 5, 5, 5, 5]  # the share (20 < 64) halved twice, then batches of 5
    assert "--batch-size auto uses 5" in out and "halved after out-of-memory at 20, 10" in out
    rows = predictions(results)
    assert [row["index"] for row in rows] == list(range(20)) and not any(row["error"] for row in rows)
    assert scores(results)["fingerprint"]["model"]["batch_size"] == 5  # the size used, not "auto"
    memo = json.loads((results / "fake" / ".batch-size.json").read_text(encoding="utf-8"))
    assert memo == {"schema": 1, "sizes": {"tiny": {"cpu": 5}}}

    log.unlink()
    code, out = run_fake(task, fake_ckpt, results, "--batch-size", "auto", "--fresh", *options)
    assert code == 0, out
    assert logged_sizes(log) == [5, 5, 5, 5]  # starts at the remembered size: no search
    assert "the remembered size" in out

    fixed = tmp_path / "fixed"
    assert run_fake(task, fake_ckpt, fixed, "--batch-size", "5", *options)[0] == 0
    assert [r["prediction"] for r in predictions(fixed)] == [r["prediction"] for r in rows]


def test_auto_takes_the_whole_share_when_it_fits(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
) -> None:
    task = tiny_task(n=7)
    results, log = tmp_path / "results", tmp_path / "batches.log"
    code, out = run_fake(
        task, fake_ckpt, results, "--batch-size", "auto", "--model-option", f"batch_log={log}"
    )
    assert code == 0, out
    assert logged_sizes(log) == [7]
    assert "capped by the 7 samples to run; nothing new to remember" in out
    assert not (results / "fake" / ".batch-size.json").exists()  # 7 of 7 fitting says nothing about 64


def test_a_failure_that_is_not_out_of_memory_is_not_a_reason_to_halve(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
) -> None:
    task = tiny_task(n=6)
    results, log = tmp_path / "results", tmp_path / "batches.log"
    extra = ("--model-option", "fail_on=2", "--model-option", f"batch_log={log}")
    code, out = run_fake(task, fake_ckpt, results, "--batch-size", "auto", *extra)
    assert code == 0, out
    assert logged_sizes(log) == [6, 1, 1, 1, 1, 1, 1]  # the batch failed: retried one by one, as always
    errors = {row["index"]: row["error"] for row in predictions(results) if row["error"]}
    assert list(errors) == [2] and errors[2].startswith("generation failed")


def test_the_memo_is_per_task_and_device_and_tolerates_damage(tmp_path: Path) -> None:
    memo = BatchSizeMemo(tmp_path / ".batch-size.json")
    assert memo.recall("docvqa", "cpu") is None
    memo.remember("docvqa", "cuda:0 (NVIDIA H100)", 16)
    memo.remember("ocrbench", "cuda:0 (NVIDIA H100)", 4)
    memo.remember("docvqa", "cpu", 64)
    assert memo.recall("docvqa", "cuda:0 (NVIDIA H100)") == 16
    assert memo.recall("docvqa", "cuda:0 (NVIDIA A10)") is None  # another GPU searches again
    assert memo.recall("ocrbench", "cuda:0 (NVIDIA H100)") == 4
    assert memo.recall("docvqa", "cpu") == 64
    memo.path.write_text("{torn", encoding="utf-8")
    assert memo.recall("docvqa", "cpu") is None
    memo.remember("docvqa", "cpu", 8)  # a damaged memo is replaced, never a crash
    assert memo.recall("docvqa", "cpu") == 8


def test_out_of_memory_detection() -> None:
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))  # only the errors torch raises for it


@pytest.mark.parametrize(("text", "expected"), [("auto", "auto"), (" AUTO ", "auto"), ("8", 8)])
def test_batch_size_values(text: str, expected: object) -> None:
    assert parse_batch_size(text) == expected


@pytest.mark.parametrize("text", ["0", "-2", "big", "2.5", ""])
def test_bad_batch_sizes_are_user_errors(text: str, tiny_task: Callable[..., TinyTask]) -> None:
    with pytest.raises(RunError, match="--batch-size"):
        parse_batch_size(text)
    code, out = invoke("run", *tiny_task(n=2).args(), "--ckpt", "demo", "--batch-size", text)
    assert code == 2 and "--batch-size" in out and "Traceback" not in out
