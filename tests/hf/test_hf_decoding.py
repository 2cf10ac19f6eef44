"""The hf family decodes as `model.generate` does with the checkpoint's generation config (made greedy)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from runner.support import DEMO_CHECKPOINT, REPO_ROOT
from typer.testing import CliRunner

from monkeyeval.cli.app import build_app
from monkeyeval.core.types import Sample
from monkeyeval.models.base import DecodeSettings, LoadOptions, ModelInput
from monkeyeval.models.hf import HFAdapter, greedy_generation_config
from monkeyeval.models.hf_processors import HFRow, batch_features, collated_features
from monkeyeval.runner.data import WorkItem, default_num_workers
from monkeyeval.runner.workers import iterate_batches

DEMO_DATA = REPO_ROOT / "tasks" / "demo"


@pytest.fixture(scope="module")
def demo() -> HFAdapter:
    return HFAdapter.load(LoadOptions(str(DEMO_CHECKPOINT)))


def demo_inputs(adapter: HFAdapter, count: int) -> list[ModelInput]:
    """The first `count` demo samples as the runner hands them to `generate`."""
    rows = [json.loads(line) for line in (DEMO_DATA / "demo.jsonl").read_text().splitlines()[:count]]
    step = adapter.preprocessor()
    inputs = []
    for index, row in enumerate(rows):
        sample = Sample(
            index, str(row["question_id"]), row["question"], [], row["image"], DEMO_DATA / row["image"]
        )
        inputs.append(ModelInput(sample, row["question"], step(sample, row["question"])))
    return inputs


def bare_new_tokens(adapter: HFAdapter, inputs: list[ModelInput], max_new_tokens: int) -> list[list[int]]:
    """What a bare loop gets: one processor call, `model.generate` with the checkpoint's own config."""
    processor = adapter.processor
    features = processor(
        images=[[item.payload.image] for item in inputs],
        text=[item.payload.text for item in inputs],
        padding=True,
        return_tensors="pt",
    )
    with torch.inference_mode():
        output = adapter.model.generate(**features, max_new_tokens=max_new_tokens, do_sample=False)
    return output[:, features["input_ids"].shape[1] :].tolist()


def test_answers_equal_a_bare_generate_loop_at_batch_1_and_4(demo: HFAdapter) -> None:
    inputs = demo_inputs(demo, 8)
    settings = DecodeSettings(max_new_tokens=12)
    tokenizer = demo.processor.tokenizer
    for size in (1, 4):
        for start in range(0, len(inputs), size):
            chunk = inputs[start : start + size]
            ours = demo.generate(chunk, settings)
            bare = bare_new_tokens(demo, chunk, 12)
            expected = [tokenizer.decode(row, skip_special_tokens=True).strip() for row in bare]
            assert [g.text for g in ours] == expected


def test_an_end_token_first_gives_an_empty_answer_as_generate_does() -> None:
    """No min_new_tokens unless asked (Monkey's upstream setting is not forced on every model)."""
    adapter = HFAdapter.load(LoadOptions(str(DEMO_CHECKPOINT)))  # its head is changed below
    [item] = demo_inputs(adapter, 1)
    first = bare_new_tokens(adapter, [item], 4)[0][0]
    eos = adapter.processor.tokenizer.eos_token_id
    head = adapter.model.get_output_embeddings().weight
    with torch.no_grad():
        head[eos] = head[first] * 10  # the end token now wins the first step
    assert bare_new_tokens(adapter, [item], 4)[0][0] == eos
    [answer] = adapter.generate([item], DecodeSettings(max_new_tokens=16))
    assert (answer.text, answer.n_new_tokens, answer.hit_max_new_tokens, answer.error) == ("", 1, False, None)
    [blocked] = adapter.generate([item], DecodeSettings(max_new_tokens=16, min_new_tokens=3))
    assert blocked.n_new_tokens >= 3 and blocked.text


def test_greedy_generation_config_keeps_the_checkpoint_settings_and_clears_sampling() -> None:
    from transformers import GenerationConfig

    base = GenerationConfig(
        do_sample=True, temperature=0.7, top_p=0.8, top_k=20, repetition_penalty=1.05, eos_token_id=7
    )
    config = greedy_generation_config(base, [7, 9], pad_id=0, settings=DecodeSettings(max_new_tokens=5))
    assert (config.do_sample, config.num_beams, config.temperature, config.top_p, config.top_k) == (
        False,
        1,
        None,
        None,
        None,
    )
    assert (config.repetition_penalty, config.eos_token_id, config.max_new_tokens) == (1.05, [7, 9], 5)
    assert not config.min_new_tokens and base.do_sample and base.temperature == 0.7  # the base is untouched
    asked = greedy_generation_config(base, [7], 0, DecodeSettings(max_new_tokens=5, min_new_tokens=2))
    assert asked.min_new_tokens == 2


def test_the_processor_runs_once_per_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import monkeyeval.models.hf as hf

    calls: list[int] = []
    original = hf.batch_features

    def counting(processor: Any, samples: Any) -> Any:
        calls.append(len(samples))
        return original(processor, samples)

    monkeypatch.setattr(hf, "batch_features", counting)
    args = ["run", "--task", "demo", "--ckpt", str(DEMO_CHECKPOINT), "--limit", "10", "--batch-size", "4"]
    result = CliRunner().invoke(build_app(), [*args, "--results", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert calls == [4, 4, 2]


@pytest.mark.parametrize(
    ("device", "cores", "ranks", "workers"),
    [("cpu", 64, 1, 0), ("cuda:0", 16, 1, 4), ("cuda:3", 16, 8, 1), ("cuda:0", 2, 1, 1), ("cuda", 1, 1, 0)],
)
def test_default_workers_follow_the_device_and_the_cores(
    device: str, cores: int, ranks: int, workers: int
) -> None:
    assert default_num_workers(device, cores, ranks) == workers


def test_a_collated_batch_answers_as_the_uncollated_one_and_a_trimmed_one_is_rebuilt(demo: HFAdapter) -> None:
    inputs = demo_inputs(demo, 4)
    settings = DecodeSettings(max_new_tokens=12)
    rows = demo.preprocessor().collate([item.payload for item in inputs])  # type: ignore[attr-defined]
    collated = [ModelInput(item.sample, item.prompt, row) for item, row in zip(inputs, rows, strict=True)]
    assert all(row.features is rows[0].features for row in rows)
    assert collated_features([row for row in rows]) is rows[0].features
    assert demo.generate(collated, settings) == demo.generate(inputs, settings)
    trimmed = [collated[0], collated[2]]  # what a batch with a refused sample or a split one looks like
    assert collated_features([item.payload for item in trimmed]) is None
    assert demo.generate(trimmed, settings) == demo.generate([inputs[0], inputs[2]], settings)
    assert collated_features([rows[1], rows[0], rows[2], rows[3]]) is None


def test_a_collated_row_knows_its_prompt_tokens(demo: HFAdapter) -> None:
    inputs = demo_inputs(demo, 3)
    rows = demo.preprocessor().collate([item.payload for item in inputs])  # type: ignore[attr-defined]
    for item, row in zip(inputs, rows, strict=True):
        alone = demo.processor(images=[[item.payload.image]], text=[item.payload.text], return_tensors="pt")
        assert demo.input_tokens(row) == alone["input_ids"].shape[1]
    assert demo.input_tokens(inputs[0].payload) is None  # before the batch step nothing is known


def test_a_worker_runs_the_processor_and_sends_one_feature_dict_per_batch(demo: HFAdapter) -> None:
    inputs = demo_inputs(demo, 5)
    items = [WorkItem(item.sample, item.prompt, demo.model_input_text(item.prompt)) for item in inputs]
    batches = list(iterate_batches(items, demo.preprocessor(), batch_size=3, num_workers=1))
    assert [len(batch) for batch in batches] == [3, 2]
    for batch in batches:
        rows = [prepared.payload for prepared in batch]
        assert all(isinstance(row, HFRow) and row.features is rows[0].features for row in rows)
        assert [row.row for row in rows] == list(range(len(rows)))
        again = demo.preprocessor()
        built = batch_features(demo.processor, [again(p.item.sample, p.item.prompt) for p in batch])
        assert built.keys() == rows[0].features.keys()
        assert all(torch.equal(built[key], rows[0].features[key]) for key in built)


def test_the_greedy_config_built_once_per_settings_is_not_changed_by_generate(demo: HFAdapter) -> None:
    inputs = demo_inputs(demo, 2)
    short, long = DecodeSettings(max_new_tokens=2), DecodeSettings(max_new_tokens=9, min_new_tokens=9)
    first = demo.generate(inputs, short)
    assert [g.n_new_tokens for g in demo.generate(inputs, long)] == [9, 9]
    assert demo.generate(inputs, short) == first and all(g.n_new_tokens <= 2 for g in first)
    fresh = HFAdapter.load(LoadOptions(str(DEMO_CHECKPOINT)))
    assert fresh.generate(inputs, long) == demo.generate(inputs, long)
