"""published.yaml: internal consistency with the built-in tasks, parsing errors, checkpoint matching."""

from __future__ import annotations

from collections import Counter

import pytest

from monkeyeval.metrics.registry import load_metric_registry
from monkeyeval.report.published import (
    PublishedDataError,
    PublishedScore,
    parse_published,
    published_scores,
    reference_for,
)
from monkeyeval.tasks.registry import TaskRegistry


@pytest.fixture(scope="module")
def builtin() -> TaskRegistry:
    return TaskRegistry.discover([], None)


def test_every_entry_names_a_builtin_task_with_a_value_on_its_display_range(builtin: TaskRegistry) -> None:
    metrics = load_metric_registry()
    scores = published_scores()
    assert len(scores) >= 40
    for score in scores:
        task = builtin.get(score.task)  # raises for an unknown task
        aggregation = metrics.get(task.primary_metric).aggregation
        top = 1000.0 if aggregation == "sum" else 100.0
        assert 0 < score.value <= top, score
        if aggregation == "sum":
            assert score.value.is_integer() and score.value > 100, score  # a count, not a percentage
        else:
            assert score.value <= 100 and round(score.value, 1) == score.value, score
        assert score.source.strip() and "§7" in score.source
        assert score.origin in {"paper", "README"}
        assert all("/" in hub and hub.count("/") == 1 for hub in score.checkpoints)


def test_one_number_per_checkpoint_and_task_and_sources_per_model() -> None:
    keys = Counter((hub.lower(), s.task) for s in published_scores() for hub in s.checkpoints)
    assert keys and max(keys.values()) == 1
    for model in {s.model for s in published_scores()}:
        assert len({s.source for s in published_scores() if s.model == model}) == 1


@pytest.mark.parametrize(
    ("checkpoint", "model"),
    [
        ("echo840/Monkey", "Monkey (TextMonkey README)"),
        ("ECHO840/monkey", "Monkey (TextMonkey README)"),
        ("/ckpt/Monkey", "Monkey (TextMonkey README)"),
        ("/ckpt/Monkey/", "Monkey (TextMonkey README)"),
        ("Monkey", "Monkey (TextMonkey README)"),
        ("/hf/models--echo840--Monkey/snapshots/0123abc", "Monkey (TextMonkey README)"),
        ("/ckpt/monkey-chat", "Monkey-Chat (README)"),
        ("mx262/MiniMokney", "Mini-Monkey (README)"),
        ("someone/Monkey", None),  # another owner's hub id: no match by name
        ("/hf/models--someone--Monkey/snapshots/0123abc", None),
        ("/ckpt/Monkey-ft", None),
        ("/ckpt/TextMonkey", None),  # the README rows name no released checkpoint
        ("", None),
    ],
)
def test_reference_for_matches_hub_ids_and_local_folder_names(checkpoint: str, model: str | None) -> None:
    found = reference_for(checkpoint, "ocrbench")
    assert (found.model if found else None) == model


def test_reference_for_is_per_task() -> None:
    paper = reference_for("echo840/Monkey", "docvqa_test")
    assert paper is not None and paper.origin == "paper" and paper.task == "docvqa_test"
    assert reference_for("echo840/Monkey", "minimonkey_docvqa_val") is None
    assert reference_for("echo840/Monkey", "no_such_task") is None


def test_parse_rejects_malformed_data() -> None:
    good = {"model": "M", "checkpoints": ["o/M"], "origin": "paper", "source": "s", "scores": {"t": 1.5}}
    assert parse_published({"schema": 1, "blocks": [good]}) == (
        PublishedScore("M", ("o/M",), "t", 1.5, "s", "paper"),
    )
    with pytest.raises(PublishedDataError, match="schema"):
        parse_published({"blocks": []})
    with pytest.raises(PublishedDataError, match="value must be a number"):
        parse_published({"schema": 1, "blocks": [good | {"scores": {"t": "66"}}]})
    with pytest.raises(PublishedDataError, match="source"):
        parse_published({"schema": 1, "blocks": [good | {"source": " "}]})
    with pytest.raises(PublishedDataError, match="a second number for o/M on t"):
        parse_published({"schema": 1, "blocks": [good, good | {"model": "N"}]})
    noted = parse_published({"schema": 1, "blocks": [good | {"scores": {"t": {"value": 2, "note": "n"}}}]})
    assert noted[0].value == 2.0 and noted[0].note == "n"
