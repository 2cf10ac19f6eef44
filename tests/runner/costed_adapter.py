"""The fake adapter with a cost estimate, so the runner sorts its batches (runner/schedule.py).

`cost` is a fixed function of the dataset index and the prompt (it never opens the image), chosen so that
cost order differs from dataset order. The fake's answers never depend on the batch, so a sorted run must
write the same predictions as a dataset-order run. Option `order_log=<path>` appends the dataset indices of
each generate call's batch, one line per call.
"""

from __future__ import annotations

from collections.abc import Sequence

from monkeyeval.core.types import Generation, Sample
from monkeyeval.models.base import DecodeSettings, ModelInput
from runner.fake_adapter import FakeAdapter

SPEC = "runner.costed_adapter:CostedFakeAdapter"


def fake_cost(index: int, prompt: str) -> int:
    """The estimate `CostedFakeAdapter.cost` gives (tests recompute the expected order with it)."""
    return (index * 7) % 11 + len(prompt)


class CostedFakeAdapter(FakeAdapter):
    """See the module docstring."""

    def cost(self, sample: Sample, prompt: str) -> int | None:
        return fake_cost(sample.index, prompt)

    def generate(self, batch: Sequence[ModelInput], settings: DecodeSettings) -> list[Generation]:
        log = self.task_options.get("order_log")
        if log is not None:
            with open(str(log), "a", encoding="utf-8") as handle:
                handle.write(" ".join(str(item.sample.index) for item in batch) + "\n")
        return super().generate(batch, settings)
