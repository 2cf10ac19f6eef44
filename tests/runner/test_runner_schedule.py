"""Batches sorted by cost (runner/schedule.py): the order, the fallback, identical predictions."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from monkeyeval.core.types import Sample
from monkeyeval.models.base import LoadOptions
from monkeyeval.runner.data import WorkItem, cut
from monkeyeval.runner.distributed import DistContext
from monkeyeval.runner.schedule import estimate_costs, ordered, plan_batches
from monkeyeval.runner.share import estimated_costs
from runner.costed_adapter import SPEC as COSTED
from runner.costed_adapter import CostedFakeAdapter, fake_cost
from runner.support import TinyTask
from runner.test_runner_run import invoke, run_fake


def item(index: int) -> WorkItem:
    sample = Sample(index=index, id=f"q{index}", question="?", answers=[], image="x.png", image_path=None)
    return WorkItem(sample, f"prompt {index}", f"prompt {index}")


def indices(batches: list[list[WorkItem]]) -> list[list[int]]:
    return [[it.sample.index for it in batch] for batch in batches]


def test_batches_are_sorted_by_cost_descending_with_ties_in_dataset_order() -> None:
    items = [item(i) for i in range(6)]
    costs = [3, 5, 3, 9, 5, 1]
    assert [it.sample.index for it in ordered(items, costs)] == [3, 1, 4, 0, 2, 5]
    assert indices(plan_batches(items, costs, 4)) == [[3, 1, 4, 0], [2, 5]]
    shuffled = [items[k] for k in (5, 2, 4, 0, 3, 1)]  # the input order plays no part
    assert ordered(shuffled, [costs[k] for k in (5, 2, 4, 0, 3, 1)]) == ordered(items, costs)
    with pytest.raises(ValueError, match="2 costs for 6 items"):
        ordered(items, [1, 2])


def test_without_every_cost_the_batches_keep_dataset_order() -> None:
    items = [item(i) for i in range(5)]
    assert indices(plan_batches(items, None, 2)) == [[0, 1], [2, 3], [4]]
    assert cut([], 3) == []

    asked: list[int] = []

    class PartlyKnown(CostedFakeAdapter):
        def cost(self, sample: Sample, prompt: str) -> int | None:
            asked.append(sample.index)
            return None if sample.index == 2 else 10

    adapter = PartlyKnown(LoadOptions(checkpoint="unused"))
    assert estimate_costs(adapter, items) is None
    assert asked == [0, 1, 2]  # gives up at the first unknown cost
    assert estimate_costs(CostedFakeAdapter(LoadOptions(checkpoint="unused")), items) == [
        fake_cost(i, f"prompt {i}") for i in range(5)
    ]


def run_costed(task: TinyTask, ckpt: Path, results: Path, *extra: str) -> tuple[int, str]:
    return invoke(
        "run", *task.args(), "--ckpt", str(ckpt), "--model", COSTED, "--results", str(results),
        "--model-name", "fake", *extra,
    )  # fmt: skip


def logged(log: Path) -> list[list[int]]:
    return [[int(i) for i in line.split()] for line in log.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_sorted_run_writes_the_same_predictions_as_a_dataset_order_run(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path, workers: str
) -> None:
    task = tiny_task(n=14, corrupt=(3,), missing=(8,))
    code, out = run_fake(task, fake_ckpt, tmp_path / "plain", "--batch-size", "3")
    assert code == 0, out
    log = tmp_path / "order.log"
    extra = ("--batch-size", "3", "--num-workers", workers, "--model-option", f"order_log={log}")
    code, out = run_costed(task, fake_ckpt, tmp_path / "sorted", *extra)
    assert code == 0, out
    by_cost = sorted(range(14), key=lambda i: (-fake_cost(i, f"Q: word {i}?"), i))
    expected = [[i for i in by_cost[k : k + 3] if i not in (3, 8)] for k in range(0, 14, 3)]
    assert logged(log) == expected  # errored samples skip the model; the rest ran in cost order
    assert by_cost != sorted(by_cost)
    plain = (tmp_path / "plain" / "fake" / "tiny" / "predictions.jsonl").read_bytes()
    assert (tmp_path / "sorted" / "fake" / "tiny" / "predictions.jsonl").read_bytes() == plain


def test_auto_batch_size_searches_on_the_costliest_batch(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
) -> None:
    task = tiny_task(n=14)
    log = tmp_path / "order.log"
    options = ("--model-option", "fits=3", "--model-option", f"order_log={log}")
    code, out = run_costed(task, fake_ckpt, tmp_path / "auto", "--batch-size", "auto", *options)
    assert code == 0, out
    assert "--batch-size auto uses 3" in out and "halved after out-of-memory at 14, 7" in out
    by_cost = sorted(range(14), key=lambda i: (-fake_cost(i, f"Q: word {i}?"), i))
    batches = logged(log)
    assert batches[:2] == [by_cost, by_cost[:7]]  # the tries that did not fit
    assert [i for batch in batches[2:] for i in batch] == by_cost and {len(b) for b in batches[2:]} == {3, 2}
    code, out = run_fake(task, fake_ckpt, tmp_path / "plain", "--batch-size", "3")
    assert code == 0, out
    plain = (tmp_path / "plain" / "fake" / "tiny" / "predictions.jsonl").read_bytes()
    assert (tmp_path / "auto" / "fake" / "tiny" / "predictions.jsonl").read_bytes() == plain


class CountingCosts:
    """A cost estimate that remembers which samples it was asked about (None for `none_on`)."""

    def __init__(self, none_on: int | None = None) -> None:
        self.none_on, self.asked = none_on, []

    def cost(self, sample: Sample, prompt: str) -> int | None:
        self.asked.append(sample.index)
        return None if sample.index == self.none_on else fake_cost(sample.index, prompt)


def estimate_as_rank(rank: int, store: str, none_on: int | None, out: Any) -> None:
    """One rank of a two-process gloo group: its gathered costs and the samples it estimated itself."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        counting = CountingCosts(none_on)
        work = [item(i) for i in range(7)]
        costs = estimated_costs(counting, work, DistContext(rank=rank, world_size=2, launched=True))  # type: ignore[arg-type]
        out.put((rank, costs, counting.asked))
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize(
    ("none_on", "asked"), [(None, [[0, 2, 4, 6], [1, 3, 5]]), (3, [[0, 2, 4, 6], [1, 3]])]
)
def test_torchrun_ranks_each_estimate_a_slice_and_all_sort_by_the_same_costs(
    tmp_path: Path, none_on: int | None, asked: list[list[int]]
) -> None:
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    ranks = [
        context.Process(target=estimate_as_rank, args=(r, str(tmp_path / "store"), none_on, out))
        for r in (0, 1)
    ]
    for process in ranks:
        process.start()
    results = sorted(out.get(timeout=120) for _ in ranks)
    for process in ranks:
        process.join(timeout=60)
    alone = CountingCosts(none_on)
    expected = estimated_costs(alone, [item(i) for i in range(7)], DistContext())  # type: ignore[arg-type]
    assert [costs for _, costs, _ in results] == [expected, expected]
    assert (expected is None) == (none_on is not None)
    assert [mine for _, _, mine in results] == asked  # one read per sample in the job (a None stops it)
