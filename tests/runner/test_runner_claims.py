"""Batches claimed across ranks (runner/claims.py): disjoint claims, simulated ranks, kills, shards."""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from monkeyeval.runner.claims import ClaimPool, claimed_by, claims_dir, pool_for
from monkeyeval.runner.data import worker_count
from monkeyeval.runner.distributed import DistContext
from monkeyeval.runner.parts import PartId, done_marker, part_path, read_part_records, write_meta
from monkeyeval.runner.plan import Plan, ranks_with_work, share_of
from monkeyeval.runner.request import LoadedTask, RunRequest
from monkeyeval.runner.session import RunSession
from monkeyeval.runner.sharding import ShardSpec
from monkeyeval.runner.share import predict_share, wait_for_ranks
from monkeyeval.runner.workers import BatchOrder, BatchPreparer
from runner.costed_adapter import SPEC as COSTED
from runner.costed_adapter import fake_cost
from runner.fake_adapter import SPEC as FAKE
from runner.support import TinyTask, count_part_lines, start_cli
from runner.test_runner_crash import child_pids
from runner.test_runner_run import invoke
from runner.test_runner_schedule import run_costed


def claim_all(folder: Path, rank: int, n_batches: int, start: multiprocessing.synchronize.Event) -> None:
    start.wait()
    pool = ClaimPool(folder, rank, n_batches)
    mine = []
    while (position := pool.next_free()) is not None:
        mine.append(position)
    (folder.parent / f"rank{rank}.json").write_text(json.dumps(mine))


def test_two_processes_claim_disjoint_batches_that_cover_the_list(tmp_path: Path) -> None:
    folder, n_batches = tmp_path / "parts" / "claims-attempt0001", 300
    context = multiprocessing.get_context("fork")
    start = context.Event()
    workers = [context.Process(target=claim_all, args=(folder, rank, n_batches, start)) for rank in (0, 1)]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    mine = [json.loads((tmp_path / "parts" / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert not set(mine[0]) & set(mine[1])
    assert sorted(mine[0] + mine[1]) == list(range(n_batches))
    assert all(mine[rank] == sorted(mine[rank]) for rank in (0, 1))  # each walks the list in order
    owners = claimed_by(folder)
    assert owners == {position: rank for rank in (0, 1) for position in mine[rank]}


class Listed:
    """A claimer handing out fixed positions; `taken` is what it has handed out (its claim files)."""

    def __init__(self, positions: list[int]) -> None:
        self.free, self.taken = iter(positions), []

    def next_free(self) -> int | None:
        position = next(self.free, None)
        if position is not None:
            self.taken.append(position)
        return position

    def mine(self) -> list[int]:
        return sorted(self.taken)


def test_a_fresh_loader_resends_the_claimed_batches_not_yet_delivered() -> None:
    claimer = Listed([4, 1, 6, 2, 7])
    order = BatchOrder(8, claimer)
    first = order.positions()
    assert [next(first), next(first), next(first)] == [4, 1, 6]  # a loader claimed three ahead
    order.delivered = 1  # ... delivered one, then died
    assert order.awaited() == 1
    assert list(order.positions())[:3] == [1, 6, 2]  # the claimed ones again, then more claims
    assert order.claimed == [4, 1, 6, 2, 7]
    assert list(BatchOrder(3).positions()) == [0, 1, 2]  # not claiming: every batch in turn


def test_a_claim_interrupted_before_it_was_recorded_is_recovered(tmp_path: Path) -> None:
    pool = ClaimPool(tmp_path / "claims", 1, 4)
    order = BatchOrder(4, pool)
    assert next(order.positions()) == 0
    assert pool.next_free() == 1  # claimed on disk; the dead worker's error struck before it was recorded
    order.recover()
    assert order.claimed == [0, 1] and pool.mine() == [0, 1]
    assert list(order.positions()) == [0, 1, 2, 3]
    assert not [path for path in pool.folder.iterdir() if not path.name.startswith("batch-")]  # no temp left


def test_the_ranks_share_the_todo_list_and_shards_keep_static_slices(tmp_path: Path) -> None:
    plan = Plan(attempt=3, todo=(1, 2, 4, 5, 7), n_done=3)
    rank1 = DistContext(rank=1, world_size=2, launched=True)
    assert share_of(plan, 8, rank1, None) == [1, 2, 4, 5, 7]
    assert share_of(plan, 8, DistContext(), ShardSpec(1, 2)) == [4, 5, 7]  # samples 4..7, still to do
    assert share_of(plan, 8, DistContext(), ShardSpec(0, 2)) == [1, 2]
    assert ranks_with_work(plan, 4) == [0, 1, 2, 3]  # a rank with no batch still marks its part done
    assert ranks_with_work(Plan(attempt=3, todo=(), n_done=8), 4) == []
    assert pool_for(tmp_path, 3, DistContext(), None, 5) is None  # one process: no claim files
    assert pool_for(tmp_path, 3, rank1, ShardSpec(0, 2), 5) is None  # shard jobs: static slices
    pool = pool_for(tmp_path, 3, rank1, None, 5)
    assert pool is not None and pool.folder == tmp_path / "parts" / "claims-attempt0003"
    assert claims_dir(tmp_path, 3, ShardSpec(2, 8)).name == "claims-shard002-of008-attempt0003"


def loaded(task: TinyTask, ckpt: Path, results: Path, family: str, **options: object) -> LoadedTask:
    request = RunRequest(
        tasks=(task.name,), checkpoint=str(ckpt), family=family, batch_size=2, num_workers=0,
        results=results, model_name="fake", tasks_dirs=(task.tasks_dir,), model_options=dict(options),
    )  # fmt: skip
    return RunSession(request, Console(file=io.StringIO())).load_for_single_task()


def predict_as(rank: int, job: LoadedTask, run_dir: Path, plan: Plan, request: RunRequest) -> None:
    ctx = DistContext(rank=rank, world_size=2, launched=True)
    with BatchPreparer(worker_count(request.num_workers, "cpu")) as preparer:
        predict_share(run_dir, "tiny", job.adapter, job.items, job.settings, plan, request, ctx, preparer)


def request_of(job_results: Path, **changes: object) -> RunRequest:
    return RunRequest(tasks=("tiny",), checkpoint="unused", results=job_results, **changes)  # type: ignore[arg-type]


def test_two_simulated_ranks_claim_the_sorted_batches_and_merge_to_the_plain_run(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
) -> None:
    task = tiny_task(n=14, corrupt=(5,))
    code, out = run_costed(task, fake_ckpt, tmp_path / "plain", "--num-workers", "0")
    assert code == 0, out
    reference = tmp_path / "plain" / "fake" / "tiny"
    run_dir = tmp_path / "ranks" / "fake" / "tiny"
    plan = Plan(attempt=1, todo=tuple(range(14)), n_done=0, claim_size=2)
    request = request_of(tmp_path / "ranks", batch_size=2, num_workers=0)
    jobs = [loaded(task, fake_ckpt, tmp_path / "ranks", COSTED, delay="0.1") for _ in (0, 1)]

    def second_rank() -> None:
        while not (run_dir / "parts" / "claims-attempt0001" / "batch-000000").exists():
            time.sleep(0.005)  # rank 0 is generating its first batch
        predict_as(1, jobs[1], run_dir, plan, request)

    other = threading.Thread(target=second_rank)
    other.start()
    predict_as(0, jobs[0], run_dir, plan, request)
    other.join(timeout=60)
    wait_for_ranks(run_dir, plan, DistContext(rank=0, world_size=2), print, stall_timeout_s=5)

    owners = claimed_by(run_dir / "parts" / "claims-attempt0001")
    assert sorted(owners) == list(range(7)) and set(owners.values()) == {0, 1}
    by_cost = sorted(range(14), key=lambda i: (-fake_cost(i, f"Q: word {i}?"), i))
    for rank in (0, 1):  # each part holds exactly the samples of the batches its rank claimed
        part = part_path(run_dir, PartId(rank, 2, 1))
        held = sorted(json.loads(line)["index"] for line in part.read_text().splitlines())
        claimed = sorted(i for k, r in owners.items() if r == rank for i in by_cost[2 * k : 2 * k + 2])
        assert held == claimed and done_marker(part).exists()
    shutil.copy(reference / "run.json", run_dir / "run.json")
    code, out = invoke("merge", str(run_dir))
    assert code == 0, out
    assert (run_dir / "predictions.jsonl").read_bytes() == (reference / "predictions.jsonl").read_bytes()


def test_a_batch_claimed_by_a_killed_rank_is_redone_by_the_next_attempt(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
) -> None:
    task = tiny_task(n=14)
    code, out = run_costed(task, fake_ckpt, tmp_path / "plain", "--num-workers", "0")
    assert code == 0, out
    reference = tmp_path / "plain" / "fake" / "tiny"
    run_dir = tmp_path / "killed" / "fake" / "tiny"
    run_dir.mkdir(parents=True)
    shutil.copy(reference / "run.json", run_dir / "run.json")
    plan = Plan(attempt=1, todo=tuple(range(14)), n_done=0, claim_size=2)
    assert ClaimPool(claims_dir(run_dir, 1), 1, 7).claim(2)  # rank 1 claimed batch 2, then was killed
    write_meta(part_path(run_dir, PartId(1, 2, 1)), {"rank": 1, "world_size": 2, "batch_size": 2})
    job = loaded(task, fake_ckpt, tmp_path / "killed", COSTED)
    predict_as(0, job, run_dir, plan, request_of(tmp_path / "killed", batch_size=2, num_workers=0))
    by_cost = sorted(range(14), key=lambda i: (-fake_cost(i, f"Q: word {i}?"), i))
    assert sorted(read_part_records(run_dir)) == sorted(set(range(14)) - set(by_cost[4:6]))

    code, out = run_costed(task, fake_ckpt, tmp_path / "killed", "--num-workers", "0")  # the next attempt
    assert code == 0, out
    assert "12 already done, 2 to run" in out
    again = part_path(run_dir, PartId(0, 1, 2)).read_text().splitlines()
    assert sorted(json.loads(line)["index"] for line in again) == sorted(by_cost[4:6])
    assert (run_dir / "predictions.jsonl").read_bytes() == (reference / "predictions.jsonl").read_bytes()


def test_auto_batch_size_searches_on_the_first_claimed_batch(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
) -> None:
    task = tiny_task(n=12)
    run_dir = tmp_path / "r" / "fake" / "tiny"
    plan = Plan(attempt=1, todo=tuple(range(12)), n_done=0, claim_size=8)  # rank 0's search starts at 8
    job = loaded(task, fake_ckpt, tmp_path / "r", COSTED, fits="3")
    request = request_of(tmp_path / "r", batch_size="auto", num_workers=0)
    predict_as(0, job, run_dir, plan, request)
    assert sorted(read_part_records(run_dir)) == list(range(12))
    part = part_path(run_dir, PartId(0, 2, 1))
    meta = json.loads(part.with_name(part.name.replace(".jsonl", ".meta.json")).read_text())
    assert meta["batch_size"] == 2 and meta["throughput"]["samples"] == 12  # 8 and 4 ran out of memory
    assert claimed_by(run_dir / "parts" / "claims-attempt0001") == {0: 0, 1: 0}  # two batches of 8 and 4
    predict_as(1, job, run_dir, plan, request)  # a rank that finds every batch taken
    late = part_path(run_dir, PartId(1, 2, 1))
    assert done_marker(late).exists() and late.read_text() == ""
    assert not late.with_name(late.name.replace(".jsonl", ".meta.json")).exists()  # no size was found


def test_a_worker_death_under_claims_errors_only_its_batch(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
) -> None:
    task = tiny_task(n=9)
    run_dir = tmp_path / "r" / "fake" / "tiny"
    plan = Plan(attempt=1, todo=tuple(range(9)), n_done=0, claim_size=3)
    job = loaded(task, fake_ckpt, tmp_path / "r", FAKE, kill_worker_on="4")
    predict_as(0, job, run_dir, plan, request_of(tmp_path / "r", batch_size=3, num_workers=2))
    records = read_part_records(run_dir)
    assert sorted(records) == list(range(9))
    assert sorted(i for i, record in records.items() if record.error) == [3, 4, 5]
    assert "a worker preparing this batch died or hung" in (records[4].error or "")
    assert claimed_by(run_dir / "parts" / "claims-attempt0001") == {0: 0, 1: 0, 2: 0}


def test_shard_jobs_write_no_claims(tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path):
    task = tiny_task(n=10)
    assert run_costed(task, fake_ckpt, tmp_path / "plain", "--batch-size", "2")[0] == 0
    for shard in ("1/2", "0/2"):
        code, out = run_costed(task, fake_ckpt, tmp_path / "sharded", "--shard", shard, "--batch-size", "2")
        assert code == 0, out
    parts = tmp_path / "sharded" / "fake" / "tiny" / "parts"
    assert not any(path.is_dir() for path in parts.iterdir())
    shard1 = [json.loads(line)["index"] for line in (parts / "shard001-of002.jsonl").read_text().splitlines()]
    assert sorted(shard1) == [5, 6, 7, 8, 9]  # its static slice, in cost order
    expected = (tmp_path / "plain" / "fake" / "tiny" / "predictions.jsonl").read_bytes()
    assert (tmp_path / "sharded" / "fake" / "tiny" / "predictions.jsonl").read_bytes() == expected


@pytest.mark.slow
def test_torchrun_ranks_killed_mid_run_resume_to_the_plain_run(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
) -> None:
    task = tiny_task(n=40, corrupt=(9,))
    assert run_costed(task, fake_ckpt, tmp_path / "plain", "--batch-size", "2", "--num-workers", "0")[0] == 0
    results = tmp_path / "crash"
    run_dir = results / "fake" / "tiny"
    args = ("run", *task.args(), "--ckpt", str(fake_ckpt), "--model", COSTED, "--results", str(results),
            "--model-name", "fake", "--batch-size", "2", "--num-workers", "2", "--nproc", "2",
            "--model-option", "delay=0.2")  # fmt: skip
    process = start_cli(*args)
    deadline = time.monotonic() + 180
    while count_part_lines(run_dir) < 6 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    ranks = child_pids(process.pid)
    assert len(ranks) == 2, ranks
    os.kill(ranks[1], signal.SIGKILL)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 3, output
    owners = claimed_by(run_dir / "parts" / "claims-attempt0001")
    by_cost = sorted(range(40), key=lambda i: (-fake_cost(i, f"Q: word {i}?"), i))
    for rank in (0, 1):  # what landed came from the rank's own claims
        part = part_path(run_dir, PartId(rank, 2, 1))
        lines = part.read_text().splitlines() if part.exists() else []
        held = {json.loads(line)["index"] for line in lines}
        assert held <= {i for k, r in owners.items() if r == rank for i in by_cost[2 * k : 2 * k + 2]}
    code, out = run_costed(task, fake_ckpt, results, "--batch-size", "2", "--model-option", "delay=0.2")
    assert code == 0, out
    expected = (tmp_path / "plain" / "fake" / "tiny" / "predictions.jsonl").read_bytes()
    assert (run_dir / "predictions.jsonl").read_bytes() == expected
