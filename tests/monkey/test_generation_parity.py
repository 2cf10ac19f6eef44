"""Greedy generation parity (ids and answers, alone and in the left-padded batch of 4) and position modes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from monkeyeval.models.monkey.adapter import decode_answer
from monkeyeval.models.monkey.generate import GenerationOutput, greedy_generate

from .parity_support import FAMILIES, LMFixture, load_lm_fixture

ATOL = RTOL = 1e-4


@pytest.fixture(scope="module", params=FAMILIES)
def fx(request: pytest.FixtureRequest, parity_dir: Path) -> LMFixture:
    return load_lm_fixture(parity_dir, request.param)


def answer(fx: LMFixture, ids: list[int]) -> str:
    return decode_answer(fx.tokenizer, ids, remove_literal_endoftext=fx.name == "textmonkey")


def generate_batch4(
    fx: LMFixture, padding_aware: bool, max_new_tokens: int | None = None
) -> GenerationOutput:
    """The fixture's left-padded batch (a row per case); max_new_tokens defaults to the recorded one."""
    return greedy_generate(
        fx.model,
        fx.tensor("b4_input_ids"),
        fx.tensor("b4_attention_mask"),
        fx.visual_embeds,
        eod_id=fx.tokenizer.eod_id,
        max_new_tokens=fx.max_new_tokens if max_new_tokens is None else max_new_tokens,
        padding_aware_positions=padding_aware,
        keep_step_logits=True,
    )


def test_batch4_ids_and_answers_reproduce_upstream(fx: LMFixture) -> None:
    out = generate_batch4(fx, padding_aware=False)
    recorded = fx.arrays["b4_generated_ids"].tolist()
    assert len(out.new_ids) == len(recorded) == len(fx.cases)
    compared = 0
    for case in fx.cases:
        row = case["row"]
        expected = case["batch4"]["generated_ids"]
        width = len(out.new_ids[row])
        assert out.new_ids[row] == expected[:width], case["id"]
        assert all(t == fx.tokenizer.eod_id for t in expected[width:])  # finished rows: pad id afterwards
        assert recorded[row][:width] == out.new_ids[row]
        assert answer(fx, out.new_ids[row]) == case["batch4"]["answer"]
        compared += 1
    assert compared == len(fx.cases) > 0


def test_padding_aware_batch_equals_batch1(fx: LMFixture) -> None:
    out = generate_batch4(fx, padding_aware=True)
    compared = 0
    for case in fx.cases:
        assert out.new_ids[case["row"]] == case["batch1"]["generated_ids"], case["id"]
        assert answer(fx, out.new_ids[case["row"]]) == case["batch1"]["answer"]
        compared += 1
    assert compared == len(out.new_ids) == len(fx.cases) > 0
    torch.testing.assert_close(out.step_logits[0], fx.tensor("first_step_logits_b1"), atol=ATOL, rtol=RTOL)
    assert out.ntk_alphas == [case["batch1"]["ntk_alpha"] for case in fx.cases]


def test_batch_composition_changes_raw_logits_where_ntk_differs(fx: LMFixture) -> None:
    """Raw positions follow the batch (the batched run's logits), padding-aware ones each row alone (its
    batch-1 logits). Where the recorded NTK alpha of a row differs between its batch-1 and its batched run
    (e.g. 3 alone, 7 batched), the raw first-step logits must differ materially from the batch-1 ones."""
    raw = generate_batch4(fx, padding_aware=False, max_new_tokens=1).step_logits[0]
    aware = generate_batch4(fx, padding_aware=True, max_new_tokens=1).step_logits[0]
    b1, b4 = fx.tensor("first_step_logits_b1"), fx.tensor("first_step_logits_b4")
    assert raw.shape == aware.shape == b1.shape == b4.shape and raw.shape[0] == len(fx.cases) > 0
    torch.testing.assert_close(raw, b4, atol=ATOL, rtol=RTOL)
    assert (aware - b1).abs().max() < ATOL
    ntk_rows = [c["row"] for c in fx.cases if c["batch1"]["ntk_alpha"] != c["batch4"]["ntk_alpha"]]
    if ntk_rows:  # dynamic NTK makes the batch composition matter for these rows
        assert (raw[ntk_rows] - b1[ntk_rows]).abs().max() > 1e-2


def test_min_new_tokens_blocks_eod_at_first_step(fx: LMFixture) -> None:
    """With eod made the top first-step logit, step 0 must still pick the best other token."""
    case = fx.cases[0]
    row = case["row"]
    first = case["batch1"]["generated_ids"][0]
    ids = torch.tensor([case["input_ids"]])
    head = fx.model.lm_head.weight
    saved = head.data.clone()
    try:
        with torch.no_grad():
            head[fx.tokenizer.eod_id] = head[first] * 3.0
        out = greedy_generate(
            fx.model,
            ids,
            torch.ones_like(ids),
            fx.visual_embeds[row : row + 1],
            eod_id=fx.tokenizer.eod_id,
            max_new_tokens=fx.max_new_tokens,
            keep_step_logits=True,
        )
    finally:
        head.data.copy_(saved)
    assert int(out.step_logits[0][0].argmax()) == fx.tokenizer.eod_id
    assert out.new_ids[0][0] == first


def test_max_new_tokens_cuts_and_flags(fx: LMFixture) -> None:
    cut = max(1, min(2, fx.max_new_tokens - 1))  # below the recorded limit where it allows
    out = generate_batch4(fx, padding_aware=False, max_new_tokens=cut)
    compared = 0
    for case in fx.cases:
        row = case["row"]
        assert out.new_ids[row] == case["batch4"]["generated_ids"][:cut]
        assert out.hit_max_new_tokens[row] == (fx.tokenizer.eod_id not in out.new_ids[row])
        compared += 1
    assert compared == len(out.new_ids) == len(fx.cases) > 0
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate_batch4(fx, padding_aware=False, max_new_tokens=0)


def test_image_span_must_match_image_tokens(fx: LMFixture) -> None:
    case = fx.cases[0]
    ids = torch.tensor([case["input_ids"]])
    with pytest.raises(ValueError, match="span of"):
        fx.model.embed(ids, fx.visual_embeds[case["row"] : case["row"] + 1, :-1])
    with pytest.raises(ValueError, match="no image embeddings"):
        fx.model.embed(ids, None)
