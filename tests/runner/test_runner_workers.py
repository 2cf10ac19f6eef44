"""Workers kept from loop to loop (runner/workers.py `BatchPreparer`): reused, replaced, stopped."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from monkeyeval.core.types import Sample
from monkeyeval.runner.data import WorkItem, cut
from monkeyeval.runner.workers import BatchOrder, BatchPreparer
from runner.fake_adapter import SPEC
from runner.support import make_tiny_task
from runner.test_runner_run import invoke, predictions


def items(n: int) -> list[WorkItem]:
    samples = [Sample(k, f"q{k}", "?", ["x"], "i.png", image_path=None) for k in range(n)]
    return [WorkItem(sample, f"prompt {sample.index}", f"text {sample.index}") for sample in samples]


@dataclass(frozen=True)
class WorkerPid:
    """Payload: the pid of the process that prepared the sample (and this step's label)."""

    label: str = "a"
    kill_on: str | None = None  # a prompt whose preparation kills its worker

    def __call__(self, sample: Sample, prompt: str) -> tuple[int, str, str]:
        if prompt == self.kill_on:
            os.kill(os.getpid(), signal.SIGKILL)
        return os.getpid(), self.label, prompt


def worker_pids(preparer: BatchPreparer, step: WorkerPid, n: int = 6, **order: int) -> set[int]:
    """The pids that prepared a loop over `n` items in batches of 2 (every batch read to its end)."""
    batches = cut(items(n), 2)
    loop = preparer.batches(batches, step, BatchOrder(len(batches)) if order else None)
    return {prepared.payload[0] for batch in loop for prepared in batch if prepared.error is None}


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_loop_with_an_equal_preprocessor_reuses_the_workers_and_close_stops_them() -> None:
    with BatchPreparer(2) as preparer:
        first = worker_pids(preparer, WorkerPid("a"))
        again = worker_pids(preparer, WorkerPid("a"))  # equal, not the same object
        assert again == first and os.getpid() not in first and len(first) == 2
        other = worker_pids(preparer, WorkerPid("b"))  # other options: other workers
        assert other.isdisjoint(first) and all(gone(pid) for pid in first)
    assert all(gone(pid) for pid in other)


def test_answers_come_back_in_order_with_their_own_items() -> None:
    with BatchPreparer(2) as preparer:
        for _ in range(2):
            batches = list(preparer.batches(cut(items(7), 3), WorkerPid()))
            assert [[p.item.prompt for p in batch] for batch in batches] == [
                ["prompt 0", "prompt 1", "prompt 2"],
                ["prompt 3", "prompt 4", "prompt 5"],
                ["prompt 6"],
            ]
            assert all(p.payload[2] == p.item.prompt for batch in batches for p in batch)


def test_a_loop_left_early_stops_its_workers_and_the_next_loop_starts_fresh_ones() -> None:
    with BatchPreparer(1) as preparer:
        loop = preparer.batches(cut(items(8), 2), WorkerPid())
        first = next(loop)[0].payload[0]
        loop.close()  # the consumer stopped (an error in generate, say)
        assert gone(first)
        assert first not in worker_pids(preparer, WorkerPid())


def test_a_worker_killed_in_a_kept_pool_errors_its_batch_and_later_loops_run() -> None:
    killer = WorkerPid(kill_on="prompt 2")
    with BatchPreparer(1, timeout_s=60) as preparer:
        worker_pids(preparer, killer, n=2)  # the workers start, and are kept
        batches = list(preparer.batches(cut(items(6), 2), killer))
        errors = [[p.error is not None for p in batch] for batch in batches]
        assert errors == [[False, False], [True, True], [False, False]]
        assert "a worker preparing this batch died or hung" in (batches[1][0].error or "")
        assert len(worker_pids(preparer, killer, n=2)) == 1  # fresh workers serve the next loop


class ListClaimer:
    """Hands out batch positions in a fixed order (what claim files would do)."""

    def __init__(self, positions: list[int]) -> None:
        self.free, self.taken = list(positions), []

    def next_free(self) -> int | None:
        if not self.free:
            return None
        self.taken.append(self.free.pop(0))
        return self.taken[-1]

    def mine(self) -> list[int]:
        return list(self.taken)


@pytest.mark.parametrize("workers", [0, 1])
def test_a_claiming_order_picks_the_batches_and_no_workers_means_inline(workers: int) -> None:
    batches = cut(items(6), 2)
    claimer = ListClaimer([2, 0, 1])
    with BatchPreparer(workers) as preparer:
        loop = preparer.batches(batches, WorkerPid(), BatchOrder(len(batches), claimer))
        first = next(loop)
        held = len(claimer.taken)  # claimed while the first batch is with the consumer
        rest = list(loop)
        pids = {p.payload[0] for batch in preparer.batches(batches, WorkerPid()) for p in batch}
    got = [[p.item.prompt for p in batch] for batch in [first, *rest]]
    assert got == [["prompt 4", "prompt 5"], ["prompt 0", "prompt 1"], ["prompt 2", "prompt 3"]]
    assert held <= workers + 1  # one batch ahead per worker, when claiming
    assert (pids == {os.getpid()}) == (workers == 0)


def test_a_worker_dying_while_the_rank_is_busy_elsewhere_is_reported_in_the_loop_only() -> None:
    """torch's SIGCHLD handler would raise inside whatever the rank was doing (generate, an append), and the
    wait after it would last the whole timeout; the loop must notice at once and recover on its own."""
    started = time.monotonic()
    with BatchPreparer(1, timeout_s=600) as preparer:
        worker_pids(preparer, WorkerPid(), n=2)  # the workers are kept: later loops run on them
        outcomes = []
        for batch in preparer.batches(cut(items(6), 2), WorkerPid(kill_on="prompt 4")):
            time.sleep(0.5)  # generating (any exception here would end the test)
            outcomes.append([p.error is not None for p in batch])
        victim = next(iter(worker_pids(preparer, WorkerPid(), n=2)))
        os.kill(victim, signal.SIGKILL)  # a kept worker dies between two loops
        time.sleep(0.5)  # merging, scoring: nothing may be raised here either
        assert victim not in worker_pids(preparer, WorkerPid(), n=4)  # fresh workers run the next loop
    assert outcomes == [[False, False], [False, False], [True, True]]
    assert time.monotonic() - started < 120  # far from the 600-s timeout a missed death would wait out


def test_a_run_of_several_tasks_keeps_or_replaces_its_workers_and_each_task_is_whole(
    tmp_path: Path, fake_ckpt: Path
) -> None:
    """tiny and tiny3 prepare alike (tiny3 runs on tiny's workers); tiny2's options need workers of their
    own, one of which dies on sample 2: only that batch is an error, and tiny4 after it runs whole."""
    first = make_tiny_task(tmp_path, n=6, name="tiny")
    make_tiny_task(tmp_path, n=6, name="tiny2", extra_yaml="family_options: {fake: {kill_worker_on: 2}}\n")
    for name in ("tiny3", "tiny4"):
        make_tiny_task(tmp_path, n=6, name=name)
    names = ("tiny", "tiny3", "tiny2", "tiny4")
    code, out = invoke(
        "run", *[arg for name in names for arg in ("--task", name)], "--tasks-dir", str(first.tasks_dir),
        "--ckpt", str(fake_ckpt), "--model", SPEC, "--results", str(tmp_path / "r"), "--model-name", "fake",
        "--num-workers", "1", "--batch-size", "2",
    )  # fmt: skip
    assert code == 0, out
    rows = {name: predictions(tmp_path / "r", name) for name in names}
    errors = {name: [row["index"] for row in rows[name] if row["error"]] for name in names}
    assert errors == {"tiny": [], "tiny3": [], "tiny2": [2, 3], "tiny4": []}
    assert "a worker preparing this batch died or hung" in rows["tiny2"][2]["error"]
    assert rows["tiny3"] == rows["tiny4"] == rows["tiny"]


@dataclass(frozen=True)
class ArrayStep(WorkerPid):
    """A preprocessor whose `==` cannot answer (a tensor field, as a plugin's might hold)."""

    weights: torch.Tensor = field(default_factory=lambda: torch.ones(3))


def test_a_preprocessor_whose_equality_cannot_answer_gets_fresh_workers() -> None:
    with pytest.raises(RuntimeError):
        bool(ArrayStep() == ArrayStep())
    with BatchPreparer(1) as preparer:
        first = worker_pids(preparer, ArrayStep())
        assert worker_pids(preparer, ArrayStep()).isdisjoint(first)
