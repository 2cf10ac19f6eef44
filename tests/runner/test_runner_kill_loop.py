"""A seeded loop of SIGKILLs at random moments of real runs (1 and 2 processes, 0 or 2 DataLoader workers).

Each episode starts from an empty results folder; each try starts `monkeyeval run` in its own process group
and kills the whole group either after a delay drawn from the seeded generator over the length of an
uninterrupted run, or the moment the run reaches a milestone (its run.json, its last prediction, its
scores.json), so kills land in every phase however fast each one is: start-up and model load, planning and
the lock, generation, the merge, scoring and the two result writes. After each kill no process of the run
may be left; each episode ends with one unkilled run, whose predictions.jsonl must be byte-identical to an
uninterrupted run's and whose scores must match it. Slow (a few minutes): CI runs it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.support import TinyTask, count_part_lines, run_cli, start_cli
from runner.test_runner_crash import fake_args

pytestmark = pytest.mark.slow
SEED = 20261207
EPISODES = 9
KILLS_PER_EPISODE = 4
N_SAMPLES = 30
SLOWER = ("--model-option", "delay=0.15")  # generation lasts about as long as start-up


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains `text` (zombies excluded)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def describe(pids: list[int]) -> str:
    """Each pid's command line, state and parent, for the failure message."""
    lines = []
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            status = dict(
                line.split(":\t", 1)
                for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                if ":\t" in line
            )
            stack = Path(f"/proc/{pid}/wchan").read_text()
        except OSError:
            continue
        lines.append(
            f"pid {pid} state {status.get('State')} ppid {status.get('PPid')} "
            f"signals pending {status.get('ShdPnd')} blocked {status.get('SigBlk')} "
            f"caught {status.get('SigCgt')} "
            f"wchan {stack}: {cmdline[:300]}"
        )
    return "; ".join(lines)


def wait_until_gone(text: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while processes_mentioning(text):
        assert time.monotonic() < deadline, (
            f"processes outlived the kill: {describe(processes_mentioning(text))}"
        )
        time.sleep(0.05)


def phase_left_behind(run_dir: Path, n_samples: int) -> str:
    """Where a killed run stopped, judged from what it left behind."""
    if not (run_dir / "run.json").exists():
        return "start-up, model load or planning"
    if (run_dir / "scores.json").exists():
        return "after the merge"
    if count_part_lines(run_dir) < n_samples:
        return "generation"
    return "merge or scoring"


MILESTONES: dict[str, Callable[[Path, int], bool]] = {
    "run.json written": lambda run_dir, n: (run_dir / "run.json").exists(),
    "last prediction written": lambda run_dir, n: count_part_lines(run_dir) >= n,
    "scores.json written": lambda run_dir, n: (run_dir / "scores.json").exists(),
}


def wait_for_milestone(process: subprocess.Popen[str], run_dir: Path, milestone: str, timeout: float) -> None:
    """Return once the run has reached `milestone` (or ended, or `timeout` seconds passed)."""
    reached = MILESTONES[milestone]
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline and not reached(run_dir, N_SAMPLES):
        time.sleep(0.002)


def test_seeded_kill_loop_ends_identical_to_an_uninterrupted_run(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
):
    rng = random.Random(SEED)
    task = tiny_task(n=N_SAMPLES, corrupt=(5,), malformed_after=(11,))
    reference = tmp_path / "reference"
    started = time.monotonic()
    done = run_cli(*fake_args(task, fake_ckpt, reference, *SLOWER))
    full_run_s = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    expected = (reference / "fake" / "tiny" / "predictions.jsonl").read_bytes()
    expected_scores = json.loads((reference / "fake" / "tiny" / "scores.json").read_text(encoding="utf-8"))

    phases: Counter[str] = Counter()
    for episode in range(EPISODES):  # each episode: a fresh folder, several kills, then a run to the end
        results = tmp_path / f"episode{episode}"
        run_dir = results / "fake" / "tiny"
        for _ in range(KILLS_PER_EPISODE):
            processes = rng.choice((1, 2))
            extra = ["--num-workers", rng.choice(("0", "2")), *SLOWER]
            if processes == 2:
                extra += ["--nproc", "2"]
            milestone = rng.choice(list(MILESTONES)) if rng.random() < 0.5 else None  # else a random delay
            process = start_cli(*fake_args(task, fake_ckpt, results, *extra))
            if milestone is None:
                time.sleep(rng.uniform(0.0, full_run_s * (1.3 if processes == 2 else 0.7)))
            else:
                wait_for_milestone(process, run_dir, milestone, timeout=full_run_s * 4)
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                phases[phase_left_behind(run_dir, N_SAMPLES)] += 1
            else:
                phases["finished before its kill"] += 1
            process.wait(timeout=60)
            assert process.stdout is not None
            process.stdout.close()
            wait_until_gone(str(results))
        final = run_cli(*fake_args(task, fake_ckpt, results, *SLOWER))
        assert final.returncode == 0, final.stdout + final.stderr
        assert (run_dir / "predictions.jsonl").read_bytes() == expected, f"episode {episode}"
        scores = json.loads((run_dir / "scores.json").read_text(encoding="utf-8"))
        for key in ("score", "n", "n_errors", "n_skipped_lines", "skipped_lines", "predictions"):
            assert scores[key] == expected_scores[key], (episode, key)
        assert not processes_mentioning(str(results))
    kills = sum(count for phase, count in phases.items() if phase != "finished before its kill")
    assert kills >= 20, phases
    assert len(phases.keys() - {"finished before its kill"}) == 4, phases  # kills in every phase
    print(f"kill loop phases: {dict(phases)}")
