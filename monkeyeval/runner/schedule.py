"""A share's batches: most expensive first when the adapter estimates every sample's cost, else dataset order.

Batches are padded to their longest prompt, so batching samples of similar length wastes less; and when
ranks claim batches one at a time (runner/claims.py), taking the costly ones first leaves only cheap ones for
the end, so the ranks finish close together. Order never changes a record (records carry their dataset index
and the merge writes predictions.jsonl in dataset order), only which samples share a batch; that is why an
adapter whose answers depend on batch composition returns no cost (`ModelAdapter.cost`). Every step here is
deterministic: each rank forms the same batch list from the broadcast plan and the costs the ranks gather
(runner/share.py `estimated_costs`).
"""

from __future__ import annotations

from collections.abc import Sequence

from monkeyeval.models.base import ModelAdapter
from monkeyeval.runner.data import WorkItem, cut


def estimate_costs(adapter: ModelAdapter, items: Sequence[WorkItem]) -> list[int] | None:
    """Every item's `adapter.cost`, or None as soon as one has no estimate (the default adapter: at once)."""
    costs = []
    for item in items:
        cost = adapter.cost(item.sample, item.prompt)
        if cost is None:
            return None
        costs.append(cost)
    return costs


def ordered(items: Sequence[WorkItem], costs: Sequence[int] | None) -> list[WorkItem]:
    """Items by cost, highest first (ties by dataset index); as given when `costs` is None."""
    if costs is None:
        return list(items)
    if len(costs) != len(items):
        raise ValueError(f"{len(costs)} costs for {len(items)} items")
    rank = sorted(range(len(items)), key=lambda k: (-costs[k], items[k].sample.index))
    return [items[k] for k in rank]


def plan_batches(
    items: Sequence[WorkItem], costs: Sequence[int] | None, batch_size: int
) -> list[list[WorkItem]]:
    """The batches of `items`: sorted by cost when every cost is known, else in dataset order."""
    return cut(ordered(items, costs), batch_size)
