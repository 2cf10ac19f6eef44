"""Mini-Monkey greedy generation against the upstream fixture: every case alone, and left-padded batches."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from monkeyeval.models.minimonkey.generate import GenerationRequest, GreedySettings, greedy_generate
from monkeyeval.models.minimonkey.model import MiniMonkeyForCausalLM
from monkeyeval.models.minimonkey.msac import TILE_BUDGETS, MiniMonkeyImagePreprocessor

from .support import LOGIT_TOL, VIT_TOL, labelled


@pytest.fixture(scope="module")
def cases(fixture_dir: Path) -> list[dict[str, Any]]:
    lines = (fixture_dir / "generation" / "cases.jsonl").read_text(encoding="utf-8").split("\n")
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="module")
def settings(fixture_dir: Path, cases: list[dict[str, Any]]) -> GreedySettings:
    ids = json.loads((fixture_dir / "summary.json").read_text())["special_token_ids"]
    limits = {case["generation_config"]["max_new_tokens"] for case in cases}
    assert len(limits) == 1, limits  # one VLMEvalKit generation config for every case
    return GreedySettings(
        max_new_tokens=limits.pop(),
        eos_id=ids["<|im_end|>"],
        pad_id=ids["</s>"],
        img_context_id=ids["<IMG_CONTEXT>"],
        keep_logits=True,
    )


def request_for(fixture_dir: Path, case: dict[str, Any]) -> GenerationRequest:
    """Input ids from the fixture, tiles from MSAC (cast to bf16 as generate_v2 does)."""
    arrays = np.load(fixture_dir / case["arrays_file"])
    pixel_values, grid = MiniMonkeyImagePreprocessor(TILE_BUDGETS[case["profile"]])(
        fixture_dir / case["image"]
    )
    return GenerationRequest(
        input_ids=torch.from_numpy(arrays["input_ids"]),
        pixel_values=pixel_values.to(torch.bfloat16),
        primary_tiles=grid[0] * grid[1],
        use_scm=case["use_scm"],
    )


def check_against_fixture(result: Any, case: dict[str, Any], arrays: Any) -> None:
    assert result.token_ids == case["new_token_ids"], case["id"]
    assert result.token_ids == arrays["generate_output_ids"][1:].tolist(), case["id"]  # upstream adds a BOS
    assert result.stopped_on_eos == case["stopped_on_eos"], case["id"]
    assert len(result.step_logits) == len(arrays["step_logits"]) == case["n_generated"] > 0, case["id"]
    compared = 0
    for step, (got, expected) in enumerate(zip(result.step_logits, arrays["step_logits"], strict=True)):
        torch.testing.assert_close(
            got,
            torch.from_numpy(expected),
            atol=LOGIT_TOL,
            rtol=0,
            msg=labelled(f"{case['id']} step {step}"),
        )
        compared += 1
    assert compared == case["n_generated"], case["id"]
    if case["use_scm"]:
        assert result.kept_positions is not None
        assert result.kept_positions.tolist() == arrays["scm_kept_positions"].tolist(), case["id"]


def test_every_case_alone(
    model: MiniMonkeyForCausalLM, fixture_dir: Path, cases: list[dict[str, Any]], settings: GreedySettings
) -> None:
    """Image -> MSAC -> ViT (vit_embeds within 1e-5) -> LM -> greedy ids, eos stop and every step's logits
    (the first is the first-step logits) as upstream, SCM cases included."""
    summary = json.loads((fixture_dir / "summary.json").read_text())
    assert len(cases) == summary["n_generation_cases"] > 0
    assert any(c["use_scm"] for c in cases) and any(c["stopped_on_eos"] for c in cases)
    compared = 0
    for case in cases:
        arrays = np.load(fixture_dir / case["arrays_file"])
        request = request_for(fixture_dir, case)
        assert request.pixel_values is not None
        assert list(request.pixel_values.shape) == case["pixel_shape"], case["id"]
        with torch.inference_mode():
            features = model.extract_feature(request.pixel_values)
        assert features.shape[0] == case["pixel_shape"][0], case["id"]
        if "vit_embeds" in arrays.files:  # upstream layout: every tile's every token
            expected, got = torch.from_numpy(arrays["vit_embeds"]), features
        else:  # a packed copy keeps every k-th token of every tile (the logits check the whole path)
            stride = int(arrays["vit_embeds_token_stride"])
            expected, got = torch.from_numpy(arrays["vit_embeds_strided"]), features[:, ::stride]
        torch.testing.assert_close(got, expected, atol=VIT_TOL, rtol=0, msg=labelled(case["id"]))
        [result] = greedy_generate(model, [replace(request, image_features=features)], settings)
        check_against_fixture(result, case, arrays)
        compared += 1
    assert compared == len(cases)


def test_left_padded_batch_matches_each_case_alone(
    model: MiniMonkeyForCausalLM, fixture_dir: Path, cases: list[dict[str, Any]], settings: GreedySettings
) -> None:
    """Upstream batch_chat semantics (left padding + padding-aware positions): a batch of different tile
    counts, one stopping early on eos and one with SCM, gives each case's own ids and logits."""
    by_tiles = sorted(cases, key=lambda c: c["pixel_shape"][0])
    chosen = {by_tiles[0]["id"]: by_tiles[0], by_tiles[-1]["id"]: by_tiles[-1]}
    for case in cases:
        if case["stopped_on_eos"] or case["use_scm"]:
            chosen.setdefault(case["id"], case)
    batch = list(chosen.values())
    assert len({c["seq_len"] for c in batch}) > 1
    results = greedy_generate(model, [request_for(fixture_dir, c) for c in batch], settings)
    compared = 0
    for result, case in zip(results, batch, strict=True):
        check_against_fixture(result, case, np.load(fixture_dir / case["arrays_file"]))
        compared += 1
    assert compared == len(batch) > 1


def test_min_new_tokens_blocks_eos(
    model: MiniMonkeyForCausalLM, fixture_dir: Path, cases: list[dict[str, Any]], settings: GreedySettings
) -> None:
    case = next(c for c in cases if c["stopped_on_eos"])
    request = request_for(fixture_dir, case)
    blocked = GreedySettings(**{**settings.__dict__, "min_new_tokens": case["n_generated"]})
    [result] = greedy_generate(model, [request], blocked)
    assert result.token_ids[: case["n_generated"] - 1] == case["new_token_ids"][:-1]
    assert result.token_ids[case["n_generated"] - 1] != settings.eos_id
    cut = min(2, case["n_generated"] - 1)  # stop before the eos step
    assert cut >= 1, case["id"]
    short = GreedySettings(**{**settings.__dict__, "max_new_tokens": cut})
    [result] = greedy_generate(model, [request], short)
    assert result.token_ids == case["new_token_ids"][:cut] and not result.stopped_on_eos
