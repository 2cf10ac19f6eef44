"""The preprocessor's optional batch step (`collate`): run over a batch's good payloads, in its worker."""

from __future__ import annotations

from typing import Any

import pytest

from monkeyeval.core.types import Sample
from monkeyeval.runner.data import WorkItem, prepare_batch
from monkeyeval.runner.workers import iterate_batches


def item(index: int, error: str | None = None) -> WorkItem:
    sample = Sample(index, f"q{index}", "?", ["x"], "i.png", image_path=None, error=error)
    return WorkItem(sample, f"prompt {index}", f"text {index}")


class Tagging:
    """Per sample: the prompt; per batch: each payload tagged with the batch's good payloads."""

    def __call__(self, sample: Sample, prompt: str) -> str:
        return prompt

    def collate(self, payloads: list[str]) -> list[tuple[str, tuple[str, ...]]]:
        return [(payload, tuple(payloads)) for payload in payloads]


class Refusing(Tagging):
    def collate(self, payloads: list[str]) -> list[tuple[str, tuple[str, ...]]]:
        raise ValueError("the processor refuses this batch")


def test_the_batch_step_sees_the_good_payloads_only_and_errors_stay() -> None:
    batch = prepare_batch([item(0), item(1, error="no image"), item(2)], Tagging())
    group = ("prompt 0", "prompt 2")
    assert [p.payload for p in batch] == [("prompt 0", group), None, ("prompt 2", group)]
    assert [p.error for p in batch] == [None, "no image", None]


def test_a_batch_step_that_raises_leaves_the_payloads_for_generate() -> None:
    batch = prepare_batch([item(0), item(1)], Refusing())
    assert [(p.payload, p.error) for p in batch] == [("prompt 0", None), ("prompt 1", None)]


def test_a_preprocessor_without_a_batch_step_is_unchanged() -> None:
    def plain(sample: Sample, prompt: str) -> Any:
        return prompt.upper()

    assert [p.payload for p in prepare_batch([item(0), item(1)], plain)] == ["PROMPT 0", "PROMPT 1"]


@pytest.mark.parametrize("workers", [0, 1])
def test_the_loader_runs_the_batch_step_once_per_batch(workers: int) -> None:
    batches = list(iterate_batches([item(k) for k in range(5)], Tagging(), 2, workers))
    groups = [[p.payload[1] for p in batch] for batch in batches]
    assert groups == [
        [("prompt 0", "prompt 1")] * 2,
        [("prompt 2", "prompt 3")] * 2,
        [("prompt 4",)],
    ]
