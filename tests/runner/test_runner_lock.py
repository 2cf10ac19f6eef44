"""The run lock: one run per model/task folder, shard jobs side by side, stale locks taken over."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from monkeyeval.runner.lock import RunLock, RunLocked, lock_dir
from runner.fake_adapter import SPEC
from runner.support import TinyTask, count_part_lines, run_cli, start_cli


def test_a_second_run_is_refused_with_the_holder_named(tmp_path: Path):
    run_dir = tmp_path / "model" / "task"
    with RunLock(run_dir):
        with pytest.raises(RunLocked, match=rf"in use by a run \(pid {os.getpid()} on "):
            RunLock(run_dir).acquire()
        with pytest.raises(RunLocked, match="in use by a run"):
            RunLock(run_dir, "shard000-of002").acquire()  # a shard job never runs beside a whole run
    assert list(lock_dir(run_dir).iterdir()) == []  # released, temp files gone
    RunLock(run_dir).acquire()


def test_shard_jobs_share_the_folder_but_not_with_a_whole_run(tmp_path: Path):
    run_dir = tmp_path / "model" / "task"
    first, second = RunLock(run_dir, "shard000-of002"), RunLock(run_dir, "shard001-of002")
    first.acquire()
    second.acquire()
    with pytest.raises(RunLocked, match="shard job shard00"):
        RunLock(run_dir).acquire()
    with pytest.raises(RunLocked):
        RunLock(run_dir, "shard001-of002").acquire()  # the same shard twice
    first.release()
    second.release()
    with RunLock(run_dir):
        pass


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path: Path):
    run_dir = tmp_path / "model" / "task"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = lock_dir(run_dir) / "run.lock"
    stale.parent.mkdir(parents=True)
    holder = {"pid": int(dead.stdout), "host": os.uname().nodename, "started": "2026-01-01T00:00:00Z"}
    stale.write_text(json.dumps(holder), encoding="utf-8")
    with RunLock(run_dir) as lock:
        assert json.loads(stale.read_text())["pid"] == os.getpid() and lock.held


def test_a_lock_held_on_another_host_is_respected(tmp_path: Path):
    run_dir = tmp_path / "model" / "task"
    other = lock_dir(run_dir) / "run.lock"
    other.parent.mkdir(parents=True)
    other.write_text(json.dumps({"pid": 1, "host": "node-17", "started": "2026-01-01T00:00:00Z"}))
    with pytest.raises(RunLocked, match=r"pid 1 on node-17.*delete the lock file"):
        RunLock(run_dir).acquire()
    assert other.exists()  # someone else's lock is never removed


def test_release_leaves_a_lock_that_is_not_ours(tmp_path: Path):
    run_dir = tmp_path / "model" / "task"
    lock = RunLock(run_dir)
    lock.acquire()
    path = lock_dir(run_dir) / "run.lock"
    path.write_text(json.dumps({"pid": 1, "host": "node-17", "started": "x"}))  # taken over meanwhile
    lock.release()
    assert path.exists()


@pytest.mark.slow
def test_two_concurrent_runs_on_one_folder_the_second_is_refused(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
):
    task = tiny_task(n=30)
    results = tmp_path / "r"
    args = ["run", *task.args(), "--ckpt", str(fake_ckpt), "--model", SPEC, "--results", str(results)]
    args += [
        "--model-name",
        "fake",
        "--num-workers",
        "0",
        "--batch-size",
        "1",
        "--model-option",
        "delay=0.4",  # ~12 s: the second run starts while the first still runs
    ]
    first = start_cli(*args)
    run_dir = results / "fake" / "tiny"
    deadline = time.monotonic() + 120
    while count_part_lines(run_dir) < 1 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    second = run_cli(*args[:-2], "--model-option", "delay=0")  # other settings, same folder
    assert first.poll() is None, "the first run ended before the second started; the test proves nothing"
    assert second.returncode == 2, second.stdout + second.stderr
    assert f"in use by a run (pid {first.pid} on" in second.stdout + second.stderr
    output, _ = first.communicate(timeout=180)
    assert first.returncode == 0, output
    rows = (run_dir / "predictions.jsonl").read_text().splitlines()
    assert len(rows) == 30
    assert json.loads((run_dir / "scores.json").read_text())["n"] == 30
