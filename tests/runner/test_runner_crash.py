"""Crash safety across processes: SIGKILL mid-run, resume with another process count or as shard jobs.

predictions.jsonl must come out byte-identical to an uninterrupted run, with no sample missing or doubled.
These tests start real subprocesses (and torchrun with the gloo backend), so they are marked slow.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monkeyeval.cli.app import build_app
from monkeyeval.runner.lock import LockHolder
from runner.fake_adapter import SPEC
from runner.support import TinyTask, count_part_lines, kill_after_lines, run_cli, start_cli

pytestmark = pytest.mark.slow
SLOW = ("--model-option", "delay=0.2")  # a later --model-option wins: runs long enough to be killed mid-way


def fake_args(task: TinyTask, ckpt: Path, results: Path, *extra: str) -> list[str]:
    return [
        "run",
        *task.args(),
        "--ckpt",
        str(ckpt),
        "--model",
        SPEC,
        "--results",
        str(results),
        "--model-name",
        "fake",
        "--num-workers",
        "0",
        "--batch-size",
        "2",
        "--model-option",
        "delay=0.05",
        *extra,
    ]


def reference_bytes(args: list[str]) -> bytes:
    result = CliRunner().invoke(build_app(), args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    results = Path(args[args.index("--results") + 1])
    return next(results.glob("*/*/predictions.jsonl")).read_bytes()


def assert_complete(data: bytes, n: int) -> None:
    indices = [json.loads(line)["index"] for line in data.decode().splitlines()]
    assert indices == list(range(n))


def child_pids(pid: int) -> list[int]:
    """The direct children of `pid` (from /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def is_running(pid: int) -> bool:
    """The lock's own liveness rule: the process exists and has not exited (a zombie is gone)."""
    return LockHolder(pid, socket.gethostname(), "").is_alive()


def test_a_usage_error_in_the_ranks_of_nproc_exits_2_without_a_launcher_traceback(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
):
    task = tiny_task(n=4)
    done = run_cli(*fake_args(task, fake_ckpt, tmp_path / "r", "--nproc", "2", "--shard", "3/2"))
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output and "ChildFailedError" not in output
    assert "0 <= i < N" in output
    # one paragraph per rank that got to print it (the launcher may stop the second first), none of its own
    assert 1 <= output.count("error:") <= 2


def test_a_rank_killed_by_a_signal_exits_3_and_the_rerun_resumes(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
):
    task = tiny_task(n=40)
    results = tmp_path / "crash"
    run_dir = results / "fake" / "tiny"
    process = start_cli(*fake_args(task, fake_ckpt, results, "--nproc", "2", *SLOW))
    deadline = time.monotonic() + 180
    while count_part_lines(run_dir) < 4 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    workers = child_pids(process.pid)
    assert len(workers) == 2, workers  # torch's launcher runs inside `monkeyeval run`; ranks are its children
    os.kill(workers[1], signal.SIGKILL)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 3, output
    assert "was stopped by signal SIGKILL" in output and "re-run the same command to resume" in output
    assert "Traceback" not in output
    done = run_cli(*fake_args(task, fake_ckpt, results, *SLOW))
    assert done.returncode == 0, done.stdout + done.stderr
    assert_complete((run_dir / "predictions.jsonl").read_bytes(), 40)


@pytest.mark.parametrize("launcher", ["--nproc", "torchrun"])
def test_killing_the_launcher_alone_stops_every_rank(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path, launcher: str
):
    task = tiny_task(n=200)
    results = tmp_path / "orphans"
    if launcher == "torchrun":
        process = start_cli(*fake_args(task, fake_ckpt, results, *SLOW), torchrun_nproc=2)
    else:
        process = start_cli(*fake_args(task, fake_ckpt, results, "--nproc", "2", *SLOW))
    deadline = time.monotonic() + 180
    while count_part_lines(results / "fake" / "tiny") < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    workers = child_pids(process.pid)
    assert len(workers) == 2, workers
    os.kill(process.pid, signal.SIGKILL)  # the launcher only: its ranks must not live on
    process.wait(timeout=30)
    deadline = time.monotonic() + 20
    while any(is_running(pid) for pid in workers):
        assert time.monotonic() < deadline, f"ranks {workers} outlived their launcher"
        time.sleep(0.1)


def test_killing_a_rank_alone_stops_its_dataloader_workers(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
):
    """A worker forked by the DataLoader does not inherit the rank's parent-death request; it sets its own, so
    it dies with the rank at once (torch's own check of its parent runs only every few seconds, and not at
    all while the worker is blocked)."""
    task = tiny_task(n=200)
    results = tmp_path / "loader"
    process = start_cli(*fake_args(task, fake_ckpt, results, *SLOW, "--num-workers", "2"))
    deadline = time.monotonic() + 180
    while count_part_lines(results / "fake" / "tiny") < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    workers = child_pids(process.pid)
    assert len(workers) == 2, workers
    os.kill(process.pid, signal.SIGKILL)  # the rank only, not its process group
    process.wait(timeout=30)
    deadline = time.monotonic() + 2  # well inside torch's 5 s status-check interval
    while any(is_running(pid) for pid in workers):
        assert time.monotonic() < deadline, f"DataLoader workers {workers} outlived their rank"
        time.sleep(0.05)


def test_killed_single_process_resumes_on_two_processes(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
):
    task = tiny_task(n=40, corrupt=(7,))
    expected = reference_bytes(fake_args(task, fake_ckpt, tmp_path / "ref"))
    results = tmp_path / "crash"
    run_dir = results / "fake" / "tiny"
    seen = kill_after_lines(start_cli(*fake_args(task, fake_ckpt, results)), run_dir, 8)
    assert 8 <= seen < 40 and not (run_dir / "predictions.jsonl").exists()

    done = run_cli(*fake_args(task, fake_ckpt, results, "--nproc", "2"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{seen}" in done.stdout + done.stderr or "already done" in done.stdout + done.stderr
    data = (run_dir / "predictions.jsonl").read_bytes()
    assert data == expected
    assert_complete(data, 40)
    names = sorted(p.name for p in (run_dir / "parts").glob("*.jsonl"))
    assert names[0] == "attempt0001-rank000-of001.jsonl"
    assert "attempt0002-rank000-of002.jsonl" in names and "attempt0002-rank001-of002.jsonl" in names
    scores = json.loads((run_dir / "scores.json").read_text())
    assert scores["fingerprint"]["model"]["world_size"] == [1, 2]
    assert scores["n_errors"] == 1


def test_killed_shard_job_rerun_after_the_other_shard(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
):
    task = tiny_task(n=30)
    expected = reference_bytes(fake_args(task, fake_ckpt, tmp_path / "ref"))
    results = tmp_path / "sharded"
    run_dir = results / "fake" / "tiny"
    seen = kill_after_lines(start_cli(*fake_args(task, fake_ckpt, results, "--shard", "1/2")), run_dir, 4)
    assert 4 <= seen < 15
    other = CliRunner().invoke(build_app(), fake_args(task, fake_ckpt, results, "--shard", "0/2"))
    assert other.exit_code == 0 and "wait for other shards" in other.output
    again = CliRunner().invoke(build_app(), fake_args(task, fake_ckpt, results, "--shard", "1/2"))
    assert again.exit_code == 0, again.output
    assert (run_dir / "predictions.jsonl").read_bytes() == expected


@pytest.fixture(scope="module")
def hf_task(tmp_path_factory: pytest.TempPathFactory) -> tuple[TinyTask, bytes]:
    """A 48-sample task and its uninterrupted single-process predictions with the demo checkpoint."""
    from runner.support import DEMO_CHECKPOINT, make_tiny_task

    root = tmp_path_factory.mktemp("hf")
    task = make_tiny_task(root, n=48, max_new_tokens=8)
    args = [
        "run",
        *task.args(),
        "--ckpt",
        str(DEMO_CHECKPOINT),
        "--results",
        str(root / "ref"),
        "--model-name",
        "demo",
        "--batch-size",
        "4",
        "--num-workers",
        "1",
    ]
    return task, reference_bytes(args)


def hf_args(task: TinyTask, results: Path, *extra: str) -> list[str]:
    from runner.support import DEMO_CHECKPOINT

    return [
        "run",
        *task.args(),
        "--ckpt",
        str(DEMO_CHECKPOINT),
        "--results",
        str(results),
        "--model-name",
        "demo",
        "--batch-size",
        "4",
        "--num-workers",
        "1",
        *extra,
    ]


def test_hf_two_processes_match_one(hf_task: tuple[TinyTask, bytes], tmp_path: Path):
    task, expected = hf_task
    done = run_cli(*hf_args(task, tmp_path / "r", "--nproc", "2"))
    assert done.returncode == 0, done.stdout + done.stderr
    data = (tmp_path / "r" / "demo" / "tiny" / "predictions.jsonl").read_bytes()
    assert data == expected
    assert len({json.loads(line)["prediction"] for line in data.decode().splitlines()}) > 5  # answers vary
    scores = json.loads((tmp_path / "r" / "demo" / "tiny" / "scores.json").read_text())
    assert scores["fingerprint"]["model"]["world_size"] == 2
    assert "exact_match_qwen" in done.stdout


def test_hf_killed_torchrun_resumes_single_process(hf_task: tuple[TinyTask, bytes], tmp_path: Path):
    task, expected = hf_task
    run_dir = tmp_path / "r" / "demo" / "tiny"
    process = start_cli(
        *hf_args(task, tmp_path / "r")[:-4], "--batch-size", "1", "--num-workers", "0", torchrun_nproc=2
    )
    deadline = time.monotonic() + 180
    while count_part_lines(run_dir) < 4 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    workers = child_pids(process.pid)  # torchrun's ranks, each in a session of its own
    seen = kill_after_lines(process, run_dir, 4)  # SIGKILL of torchrun's process group
    assert 4 <= seen < 48 and not (run_dir / "predictions.jsonl").exists()
    assert len(workers) == 2, workers
    deadline = time.monotonic() + 20
    while any(is_running(pid) for pid in workers):
        assert time.monotonic() < deadline, f"ranks {workers} outlived torchrun"
        time.sleep(0.1)
    # batch size 1 before the kill, 4 after: the demo model is batch-invariant (see check-invariance)
    result = CliRunner().invoke(build_app(), hf_args(task, tmp_path / "r"), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = (run_dir / "predictions.jsonl").read_bytes()
    assert_complete(data, 48)
    assert data == expected


def test_a_worker_whose_launcher_is_already_gone_stops_before_loading_anything():
    """The race the parent-death signal cannot cover: the launcher died while the worker was starting."""
    import subprocess
    import sys

    from runner.support import subprocess_env

    env = {**subprocess_env(), "TORCHELASTIC_RUN_ID": "test"}
    orphan = subprocess.run(
        [sys.executable, "-m", "monkeyeval", "--help"],
        env={**env, "MONKEYEVAL_LAUNCHER_PID": "999999999"},  # not this process's parent
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert orphan.returncode == -signal.SIGKILL and orphan.stdout == ""
    adopted = subprocess.run(
        [sys.executable, "-m", "monkeyeval", "--help"],
        env={**env, "MONKEYEVAL_LAUNCHER_PID": str(os.getpid())},  # the real parent: it runs
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert adopted.returncode == 0 and "Usage" in adopted.stdout
