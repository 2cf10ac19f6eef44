"""QWen LM parity on the tiny Monkey / TextMonkey fixtures, with the recorded visual embeddings injected.

Covers: input ids, the left-padded batch, first-step and every-step logits (batch 1 and batch 4), NTK alpha,
and strict weight loading (a missing or an extra tensor fails loudly).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from monkeyeval.models.base import LoadOptions
from monkeyeval.models.monkey.adapter import decode_answer
from monkeyeval.models.monkey.generate import GenerationOutput, first_step_positions, greedy_generate
from monkeyeval.models.monkey.qwen import logn_scale, ntk_alpha_for_length
from monkeyeval.models.weights import CheckpointError

from .parity_support import ADAPTERS, FAMILIES, LMFixture, load_lm_fixture

ATOL = RTOL = 1e-4


@pytest.fixture(scope="module", params=FAMILIES)
def fx(request: pytest.FixtureRequest, parity_dir: Path) -> LMFixture:
    return load_lm_fixture(parity_dir, request.param)


def run_batch1(fx: LMFixture, row: int) -> GenerationOutput:
    ids = fx.cases[row]["input_ids"]
    return greedy_generate(
        fx.model,
        torch.tensor([ids]),
        torch.ones(1, len(ids), dtype=torch.long),
        fx.visual_embeds[row : row + 1],
        eod_id=fx.tokenizer.eod_id,
        max_new_tokens=fx.max_new_tokens,
        keep_step_logits=True,
    )


def test_input_ids_exact(fx: LMFixture) -> None:
    compared = 0
    for case in fx.cases:
        ids = fx.tokenizer.encode(case["prompt"])
        assert ids == case["input_ids"], case["id"]
        assert len(ids) == case["prompt_len"]
        assert [
            i for i, t in enumerate(ids) if t in (fx.tokenizer.img_start_id, fx.tokenizer.img_end_id)
        ] == (case["img_span"])
        compared += 1
    assert compared == len(fx.cases) > 0


def test_batch4_input_ids_and_mask_exact(fx: LMFixture) -> None:
    batch = fx.tokenizer.encode_batch([case["prompt"] for case in fx.cases])
    assert len(batch.input_ids) == fx.arrays["b4_input_ids"].shape[0] == len(fx.cases) > 0
    assert batch.input_ids == fx.arrays["b4_input_ids"].tolist()
    assert batch.attention_mask == fx.arrays["b4_attention_mask"].tolist()


def test_batch1_ids_answers_and_logits_every_step(fx: LMFixture) -> None:
    eod = fx.tokenizer.eod_id
    compared_cases = compared_steps = 0
    for case in fx.cases:
        row = case["row"]
        out = run_batch1(fx, row)
        step_logits = [step[0] for step in out.step_logits]
        expected = case["batch1"]["generated_ids"]
        assert out.new_ids[0] == expected, case["id"]
        assert out.n_new_tokens[0] == len(expected)
        assert out.hit_max_new_tokens[0] == (eod not in expected)
        assert decode_answer(fx.tokenizer, expected, fx.name == "textmonkey") == case["batch1"]["answer"]
        assert out.ntk_alphas[0] == case["batch1"]["ntk_alpha"]
        torch.testing.assert_close(
            step_logits[0], fx.tensor("first_step_logits_b1")[row], atol=ATOL, rtol=RTOL
        )
        recorded = fx.tensor("step_logits_b1")[row]
        assert len(step_logits) == case["batch1"]["n_steps"]
        for step, logits in enumerate(step_logits):
            torch.testing.assert_close(logits, recorded[step], atol=ATOL, rtol=RTOL)
            compared_steps += 1
        assert torch.isnan(recorded[len(step_logits) :]).all()
        compared_cases += 1
    assert compared_cases == len(fx.cases) > 0
    assert compared_steps == sum(case["batch1"]["n_steps"] for case in fx.cases) > 0


def test_batch4_logits_every_live_step(fx: LMFixture) -> None:
    out = greedy_generate(
        fx.model,
        fx.tensor("b4_input_ids"),
        fx.tensor("b4_attention_mask"),
        fx.visual_embeds,
        eod_id=fx.tokenizer.eod_id,
        max_new_tokens=fx.max_new_tokens,
        keep_step_logits=True,
    )
    torch.testing.assert_close(out.step_logits[0], fx.tensor("first_step_logits_b4"), atol=ATOL, rtol=RTOL)
    recorded = fx.tensor("step_logits_b4")
    generated = fx.arrays["b4_generated_ids"]
    n_steps = generated.shape[1]  # the steps the batched run made
    assert len(out.step_logits) == n_steps <= recorded.shape[0]
    live = [(step, row) for step in range(n_steps) for row in range(len(fx.cases))]
    live = [(step, row) for step, row in live if fx.tokenizer.eod_id not in generated[row, :step].tolist()]
    compared = 0
    for step, logits in enumerate(out.step_logits):
        for row in range(len(fx.cases)):
            finished_before = fx.tokenizer.eod_id in generated[row, :step].tolist()
            if not finished_before:  # rows fed the pad id after eod are don't-care
                torch.testing.assert_close(logits[row], recorded[step, row], atol=ATOL, rtol=RTOL)
                compared += 1
    assert compared == len(live) >= len(fx.cases) > 0
    assert out.ntk_alphas == [case["batch4"]["ntk_alpha"] for case in fx.cases]


def test_ntk_alpha_rule() -> None:
    assert ntk_alpha_for_length(1325, 2048) == 1.0
    assert ntk_alpha_for_length(2048, 2048) == 1.0
    assert ntk_alpha_for_length(2049, 2048) == 3.0
    assert ntk_alpha_for_length(808, 396) == 7.0
    assert ntk_alpha_for_length(792, 396) == 3.0
    assert ntk_alpha_for_length(793, 396) == 7.0


def test_ntk_alpha_as_recorded_per_fixture(fx: LMFixture) -> None:
    """Raw mode: one alpha from the padded length; padding-aware mode: each row's own (its batch-1 one)."""
    mask = fx.tensor("b4_attention_mask")
    _, raw = first_step_positions(fx.model, mask, padding_aware=False)
    _, aware = first_step_positions(fx.model, mask, padding_aware=True)
    assert len(raw) == len(aware) == mask.shape[0] == len(fx.cases) > 0
    assert raw.tolist() == [case["batch4"]["ntk_alpha"] for case in fx.cases]
    assert aware.tolist() == [case["batch1"]["ntk_alpha"] for case in fx.cases]


def test_logn_factor_only_past_seq_length() -> None:
    positions = torch.tensor([0, 395, 396, 500])
    factors = logn_scale(positions, 396)
    assert factors[:2].tolist() == [1.0, 1.0]
    assert factors[2].item() == pytest.approx(math.log(397, 396), rel=1e-7)
    assert factors[3].item() == pytest.approx(math.log(501, 396), rel=1e-7)


def copy_checkpoint(source: Path, target: Path) -> Path:
    target.mkdir()
    for path in source.iterdir():
        if path.name != "model.safetensors":
            shutil.copy(path, target / path.name)
    return target


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("change", ["missing", "extra"])
def test_strict_loading_fails_loudly(parity_dir: Path, tmp_path: Path, family: str, change: str) -> None:
    from safetensors.torch import load_file, save_file

    source = parity_dir / family / "checkpoint"
    target = copy_checkpoint(source, tmp_path / "ckpt")
    state = load_file(str(source / "model.safetensors"))
    last = json.loads((source / "config.json").read_text())["num_hidden_layers"] - 1
    if change == "missing":
        del state[f"transformer.h.{last}.mlp.w2.weight"]
        pattern = rf"not filled: \['transformer\.h\.{last}\.mlp\.w2\.weight'\]"
    else:
        state["transformer.h.0.attn.extra_bias"] = torch.zeros(3)
        pattern = r"not consumed: \['transformer\.h\.0\.attn\.extra_bias'\]"
    save_file(state, str(target / "model.safetensors"))
    config = json.loads((target / "config.json").read_text())
    assert ADAPTERS[family].detect(config)
    with pytest.raises(CheckpointError, match=pattern):
        ADAPTERS[family].load(LoadOptions(checkpoint=str(target)))


def test_recomputed_upstream_constants_are_ignored(parity_dir: Path, tmp_path: Path) -> None:
    """masked_bias / rotary inv_freq tensors (older QWen saves) are recomputed constants: accepted."""
    from safetensors.torch import load_file, save_file

    from monkeyeval.models.monkey.model import MonkeyForCausalLM

    source = parity_dir / "monkey" / "checkpoint"
    target = copy_checkpoint(source, tmp_path / "ckpt")
    state = load_file(str(source / "model.safetensors"))
    config = json.loads((target / "config.json").read_text())
    last = config["num_hidden_layers"] - 1
    state["transformer.h.0.attn.masked_bias"] = torch.tensor(-1e4)
    state[f"transformer.h.{last}.attn.rotary_emb.inv_freq"] = torch.ones(config["kv_channels"] // 2)
    save_file(state, str(target / "model.safetensors"))
    model = MonkeyForCausalLM(config)
    model.load_checkpoint_weights(target)
    torch.testing.assert_close(model.lm_head.weight, state["lm_head.weight"])
