"""Prompt assembly and answer extraction against the upstream generation cases (`minimonkey/generation`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from monkeyeval.models.minimonkey.model import MiniMonkeyConfig
from monkeyeval.models.minimonkey.template import (
    INTERNVL_SYSTEM_MESSAGE,
    answer_from_decoded,
    build_query,
    chat_text,
)
from monkeyeval.models.minimonkey.tokenizer import InternLM2Tokenizer
from monkeyeval.tasks.prompts import get_profile


@pytest.fixture(scope="module")
def tokenizer(fixture_dir: Path) -> InternLM2Tokenizer:
    return InternLM2Tokenizer.from_pretrained(fixture_dir / "checkpoint")


@pytest.fixture(scope="module")
def cases(fixture_dir: Path) -> list[dict[str, Any]]:
    lines = (fixture_dir / "generation" / "cases.jsonl").read_text(encoding="utf-8").split("\n")
    return [json.loads(line) for line in lines if line.strip()]


def test_input_ids_match_every_generation_case(
    fixture_dir: Path, tokenizer: InternLM2Tokenizer, cases: list[dict[str, Any]]
) -> None:
    summary = json.loads((fixture_dir / "summary.json").read_text(encoding="utf-8"))
    assert len(cases) == summary["n_generation_cases"] > 0
    per_tile = MiniMonkeyConfig.from_folder(fixture_dir / "checkpoint").tokens_per_tile  # 256 upstream
    compared = 0
    for case in cases:
        (num_tiles,) = case["num_patches_list"]
        expected = np.load(fixture_dir / case["arrays_file"])["input_ids"].tolist()
        ids = tokenizer.encode(build_query(case["final_question_text"], num_tiles, num_image_token=per_tile))
        assert ids == expected, case["id"]
        # the `<image>\n` prefix is added when the question has none
        assert tokenizer.encode(build_query(case["prompt"], num_tiles, num_image_token=per_tile)) == expected
        context = [pos for pos, token in enumerate(ids) if token == tokenizer.img_context_id]
        assert len(ids) == case["seq_len"]
        assert len(context) == case["num_image_context_tokens"] == per_tile * num_tiles
        assert (context[0], context[-1]) == (case["img_context_first_pos"], case["img_context_last_pos"])
        n_before = len(case["input_ids_before_image"])
        assert ids[:n_before] == case["input_ids_before_image"]
        assert ids[n_before + len(context) :] == case["input_ids_after_image"]
        compared += 1
    assert compared == len(cases)


def test_prompt_profiles_give_the_upstream_question_text(cases: list[dict[str, Any]]) -> None:
    profile_for_dataset = {"MME": "minimonkey_mme"}
    compared = 0
    for case in cases:
        profile = get_profile(profile_for_dataset.get(case["dataset"], "minimonkey_vqa"))
        assert profile.render(question=case["question"]) == case["final_question_text"], case["id"]
        compared += 1
    assert compared == len(cases) > 0


def test_answers_from_generated_ids(tokenizer: InternLM2Tokenizer, cases: list[dict[str, Any]]) -> None:
    compared = 0
    for case in cases:
        decoded = tokenizer.batch_decode([case["generate_output_ids"]], skip_special_tokens=True)[0]
        assert decoded == case["decoded_raw"], case["id"]
        assert tokenizer.decode(case["new_token_ids"], skip_special_tokens=True) == case["decoded_raw"]
        assert answer_from_decoded(decoded) == case["answer"], case["id"]
        compared += 1
    assert compared == len(cases) > 0
    # the strip must bite: on the fixture's texts where it changes them, else on an answer padded with blanks
    if not any(case["answer"] != case["decoded_raw"] for case in cases):
        padded = f" \n{cases[0]['answer']}\t \n"
        assert padded != cases[0]["answer"] and answer_from_decoded(padded) == cases[0]["answer"]
    assert any(case["stopped_on_eos"] and case["new_token_ids"][-1] == tokenizer.im_end_id for case in cases)


def test_system_message_is_the_internvl_default(fixture_dir: Path) -> None:
    probe = json.loads((fixture_dir / "tokenizer_probe.json").read_text(encoding="utf-8"))
    assert INTERNVL_SYSTEM_MESSAGE in [case["text"] for case in probe["encode"]]
    assert chat_text("Q") == (
        f"<|im_start|>system\n{INTERNVL_SYSTEM_MESSAGE}<|im_end|><|im_start|>user\nQ<|im_end|><|im_start|>assistant\n"
    )


def test_build_query_layout_and_overrides() -> None:
    query = build_query("Q?", 2, system_message="SYS", num_image_token=3)
    span = "<img>" + "<IMG_CONTEXT>" * 6 + "</img>"
    assert (
        query
        == f"<|im_start|>system\nSYS<|im_end|><|im_start|>user\n{span}\nQ?<|im_end|><|im_start|>assistant\n"
    )
    # an explicit <image> keeps its place; only the first one is expanded
    query = build_query("Look: <image> and <image>", 1, num_image_token=1)
    assert "user\nLook: <img><IMG_CONTEXT></img> and <image><|im_end|>" in query
    assert (
        build_query("Q", 0, system_message="")
        == "<|im_start|>system\n<|im_end|><|im_start|>user\nQ<|im_end|><|im_start|>assistant\n"
    )
    with pytest.raises(ValueError):
        build_query("Q", -1)


def test_answer_is_cut_at_im_end_and_stripped() -> None:
    assert answer_from_decoded("  yes \n<|im_end|>no<|im_end|>") == "yes"
    assert answer_from_decoded("\n42\n") == "42"
    assert answer_from_decoded("<|im_end|>tail") == ""
