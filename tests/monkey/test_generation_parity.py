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


def generate_batch4(fx: LMFixture, padding_aware: bool, max_new_tokens: int = 8) -> GenerationOutput:
    return greedy_generate(
        fx.model,
        fx.tensor("b4_input_ids"),
        fx.tensor("b4_attention_mask"),
        fx.visual_embeds,
        eod_id=fx.tokenizer.eod_id,
        max_new_tokens=max_new_tokens,
        padding_aware_positions=padding_aware,
        keep_step_logits=True,
    )


def test_batch4_ids_and_answers_reproduce_upstream(fx: LMFixture) -> None:
    out = generate_batch4(fx, padding_aware=False)
    recorded = fx.arrays["b4_generated_ids"].tolist()
    for case in fx.cases:
        row = case["row"]
        expected = case["batch4"]["generated_ids"]
        width = len(out.new_ids[row])
        assert out.new_ids[row] == expected[:width], case["id"]
        assert all(t == fx.tokenizer.eod_id for t in expected[width:])  # finished rows: pad id afterwards
        assert recorded[row][:width] == out.new_ids[row]
        assert answer(fx, out.new_ids[row]) == case["batch4"]["answer"]


def test_padding_aware_batch_equals_batch1(fx: LMFixture) -> None:
    out = generate_batch4(fx, padding_aware=True)
    for case in fx.cases:
        assert out.new_ids[case["row"]] == case["batch1"]["generated_ids"], case["id"]
        assert answer(fx, out.new_ids[case["row"]]) == case["batch1"]["answer"]
    torch.testing.assert_close(out.step_logits[0], fx.tensor("first_step_logits_b1"), atol=ATOL, rtol=RTOL)
    assert out.ntk_alphas == [case["batch1"]["ntk_alpha"] for case in fx.cases]


def test_textmonkey_batch_composition_changes_raw_logits(parity_dir: Path) -> None:
    """The fixture where NTK differs (alpha 3 alone, 7 batched): raw follows the batch, aware does not."""
    fx = load_lm_fixture(parity_dir, "textmonkey")
    raw = generate_batch4(fx, padding_aware=False, max_new_tokens=1).step_logits[0]
    aware = generate_batch4(fx, padding_aware=True, max_new_tokens=1).step_logits[0]
    b1 = fx.tensor("first_step_logits_b1")
    assert (raw - b1).abs().max() > 1e-2
    assert (aware - b1).abs().max() < ATOL


def test_min_new_tokens_blocks_eod_at_first_step(fx: LMFixture) -> None:
    """With eod made the top first-step logit, step 0 must still pick the best other token."""
    case = fx.cases[0]
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
            fx.visual_embeds[:1],
            eod_id=fx.tokenizer.eod_id,
            max_new_tokens=8,
            keep_step_logits=True,
        )
    finally:
        head.data.copy_(saved)
    assert int(out.step_logits[0][0].argmax()) == fx.tokenizer.eod_id
    assert out.new_ids[0][0] == first


def test_max_new_tokens_cuts_and_flags(fx: LMFixture) -> None:
    out = generate_batch4(fx, padding_aware=False, max_new_tokens=2)
    for case in fx.cases:
        row = case["row"]
        assert out.new_ids[row] == case["batch4"]["generated_ids"][:2]
        assert out.hit_max_new_tokens[row] == (fx.tokenizer.eod_id not in out.new_ids[row])
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate_batch4(fx, padding_aware=False, max_new_tokens=0)


def test_image_span_must_match_image_tokens(fx: LMFixture) -> None:
    ids = torch.tensor([fx.cases[0]["input_ids"]])
    with pytest.raises(ValueError, match="span of"):
        fx.model.embed(ids, fx.visual_embeds[:1, :-1])
    with pytest.raises(ValueError, match="no image embeddings"):
        fx.model.embed(ids, None)
