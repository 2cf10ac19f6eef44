"""The `minimonkey` adapter: detection, options, worker preprocessing, batched answers against the fixture."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from monkeyeval.core.types import Sample
from monkeyeval.models.base import DecodeSettings, LoadOptions, ModelInput
from monkeyeval.models.minimonkey.adapter import MiniMonkeyAdapter, MiniMonkeyOptions, MiniMonkeyPayload
from monkeyeval.models.minimonkey.template import answer_from_decoded
from monkeyeval.tasks.prompts import MINIMONKEY_VQA_SUFFIX, get_profile


@pytest.fixture(scope="module")
def cases(fixture_dir: Path) -> list[dict[str, Any]]:
    lines = (fixture_dir / "generation" / "cases.jsonl").read_text(encoding="utf-8").split("\n")
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="module")
def adapter(fixture_dir: Path) -> MiniMonkeyAdapter:
    torch.set_num_threads(2)
    return MiniMonkeyAdapter.load(LoadOptions(checkpoint=str(fixture_dir / "checkpoint")))


def sample_for(fixture_dir: Path, case: dict[str, Any], index: int = 0) -> Sample:
    return Sample(
        index=index,
        id=case["id"],
        question=case["question"],
        answers=[],
        image=case["image"],
        image_path=fixture_dir / case["image"],
    )


def prompt_for(case: dict[str, Any]) -> str:
    """The text upstream passed to `chat` (`'<image>\n' + build_prompt`), which a prompt profile renders."""
    return str(case["final_question_text"])


def test_prompt_profiles_render_the_upstream_prompts(cases: list[dict[str, Any]]) -> None:
    checked = 0
    for case in cases:
        if case["prompt"].endswith(MINIMONKEY_VQA_SUFFIX):
            profile = "minimonkey_vqa"
        elif case["dataset"] == "MME":
            profile = "minimonkey_mme"
        else:
            continue
        checked += 1
        assert get_profile(profile).render(question=case["question"]) == case["final_question_text"], case[
            "id"
        ]
    assert checked


def test_detect_reads_the_architecture(fixture_dir: Path) -> None:
    config = json.loads((fixture_dir / "checkpoint" / "config.json").read_text())
    assert MiniMonkeyAdapter.detect(config)
    remote = {
        "model_type": "internvl_chat",
        "auto_map": {"AutoModel": "modeling_minimonkey_chat.MiniMonkeyChatModel"},
    }
    assert MiniMonkeyAdapter.detect(remote)
    assert not MiniMonkeyAdapter.detect({**config, "architectures": ["InternVLChatModel"]})
    assert not MiniMonkeyAdapter.detect({"architectures": ["QWenLMHeadModel"], "model_type": "qwen"})


def test_options_are_validated() -> None:
    assert MiniMonkeyOptions.parse({}) == MiniMonkeyOptions("default", "primary_first", False)
    parsed = MiniMonkeyOptions.parse({"tiles": "4-12,1-3", "order": "secondary_first", "use_scm": "true"})
    assert (parsed.budget.min_num1, parsed.budget.max_num2, parsed.use_scm) == (4, 3, True)
    with pytest.raises(ValueError, match=r"unknown minimonkey option\(s\) \['tile'\]"):
        MiniMonkeyOptions.parse({"tile": "DocVQA"})
    with pytest.raises(ValueError, match="unknown Mini-Monkey tile budget 'Doc'"):
        MiniMonkeyOptions.parse({"tiles": "Doc"})
    with pytest.raises(ValueError, match="order='thumbnail_first': expected one of primary_first"):
        MiniMonkeyOptions.parse({"order": "thumbnail_first"})
    with pytest.raises(ValueError, match="use_scm='maybe': expected true or false"):
        MiniMonkeyOptions.parse({"use_scm": "maybe"})


def test_task_options_set_the_tile_budget(adapter: MiniMonkeyAdapter) -> None:
    adapter.configure_task({"tiles": "DocVQA"})
    assert adapter.options.tiles == "DocVQA"
    assert adapter.fingerprint()["tile_budget"] == {
        "min_num1": 1, "max_num1": 24, "min_num2": 1, "max_num2": 8, "upscale_2x": False,
    }  # fmt: skip
    adapter.configure_task({"tiles": "OCRBench", "use_scm": True})
    assert (adapter.options.tiles, adapter.options.use_scm) == ("OCRBench", True)


def test_fingerprint_and_model_input_text(adapter: MiniMonkeyAdapter, fixture_dir: Path) -> None:
    adapter.configure_task({"tiles": "ChartQA"})
    first = adapter.fingerprint()
    assert (
        first["family"] == "minimonkey" and first["dtype"] == "float32" and first["pixel_dtype"] == "bfloat16"
    )
    assert (first["tiles"], first["msac_order"], first["use_scm"]) == ("ChartQA", "primary_first", False)
    assert len(first["checkpoint_sha256"]) == 64 and first["checkpoint"] == str(fixture_dir / "checkpoint")
    text = adapter.model_input_text("What is it?")
    assert (
        text.startswith("<|im_start|>system\n") and "<|im_start|>user\n<image>\nWhat is it?<|im_end|>" in text
    )
    assert text.endswith("<|im_start|>assistant\n")


def test_preprocessor_gives_upstream_ids_and_tiles(
    adapter: MiniMonkeyAdapter, fixture_dir: Path, cases: list[dict[str, Any]]
) -> None:
    """Worker step (after pickling, as DataLoader workers get it): the fixture's input ids and bf16 tiles."""
    compared = 0
    for case in cases:
        adapter.configure_task({"tiles": case["profile"]})
        preprocess = pickle.loads(pickle.dumps(adapter.preprocessor()))
        payload = preprocess(sample_for(fixture_dir, case), prompt_for(case))
        arrays = np.load(fixture_dir / case["arrays_file"])
        assert payload.input_ids.tolist() == arrays["input_ids"].tolist(), case["id"]
        assert adapter.input_tokens(payload) == arrays["input_ids"].size, case["id"]  # tiles' tokens included
        assert list(payload.grid) == case["target_aspect_ratio"], case["id"]
        raw = payload.pixel_values.contiguous().view(torch.int16).numpy().tobytes()
        assert hashlib.sha256(raw).hexdigest() == case["pixel_sha256_bf16"], case["id"]
        compared += 1
    assert compared == len(cases) > 0
    config = json.loads((fixture_dir / "checkpoint" / "config.json").read_text(encoding="utf-8"))
    assert adapter.context_length() == config["llm_config"]["max_position_embeddings"]


def test_missing_image_raises_in_the_worker(adapter: MiniMonkeyAdapter, fixture_dir: Path) -> None:
    missing = Sample(0, "x", "q", [], "nope.png", None, error="image nope.png not found under /data")
    with pytest.raises(FileNotFoundError, match=r"nope\.png not found"):
        adapter.preprocessor()(missing, "<image>\nq")
    absent = Sample(0, "x", "q", [], "nope.png", fixture_dir / "nope.png")
    with pytest.raises(FileNotFoundError):
        adapter.preprocessor()(absent, "<image>\nq")


def test_answer_text_of_every_case(adapter: MiniMonkeyAdapter, cases: list[dict[str, Any]]) -> None:
    """Upstream's decode (skip specials, with its leading BOS placeholder) then cut: the same answer text."""
    compared = 0
    for case in cases:
        decoded = adapter.tokenizer.decode(case["generate_output_ids"], skip_special_tokens=True)
        assert decoded == case["decoded_raw"], case["id"]
        ours = adapter.tokenizer.decode(case["new_token_ids"], skip_special_tokens=True)
        assert answer_from_decoded(ours) == case["answer"], case["id"]
        compared += 1
    assert compared == len(cases) > 0


def test_batched_answers_match_upstream(
    adapter: MiniMonkeyAdapter, fixture_dir: Path, cases: list[dict[str, Any]]
) -> None:
    """One left-padded batch per task setting (tile profile, SCM); answers and token counts as upstream.

    Covers the settings of the eos case, of every SCM case and of the largest profile group that fits a
    small prompt budget (the other cases' ids are checked in test_generation). A sample whose
    preprocessing failed (payload None) rides along and gets an empty answer.
    """
    groups: dict[tuple[str, bool], list[dict[str, Any]]] = {}
    for case in cases:
        groups.setdefault((case["profile"], case["use_scm"]), []).append(case)
    plain = [key for key in groups if not key[1] and not any(c["stopped_on_eos"] for c in groups[key])]
    cheapest_plain = min(plain, key=lambda key: sum(c["seq_len"] for c in groups[key]))
    chosen = [key for key in groups if key[1] or key == cheapest_plain] + [
        key for key in groups if any(c["stopped_on_eos"] for c in groups[key])
    ]
    assert len(groups[cheapest_plain]) > 1
    max_new_tokens = cases[0]["generation_config"]["max_new_tokens"]
    compared = expected = 0
    for profile, use_scm in dict.fromkeys(chosen):
        group = groups[(profile, use_scm)]
        adapter.configure_task({"tiles": profile, "use_scm": use_scm})
        preprocess = adapter.preprocessor()
        batch = [
            ModelInput(
                sample_for(fixture_dir, c),
                prompt_for(c),
                preprocess(sample_for(fixture_dir, c), prompt_for(c)),
            )
            for c in group
        ]
        failed = ModelInput(sample_for(fixture_dir, group[0]), prompt_for(group[0]), None)
        outputs = adapter.generate([*batch, failed], DecodeSettings(max_new_tokens=max_new_tokens))
        assert len(outputs) == len(group) + 1
        for output, case in zip(outputs, group, strict=False):
            assert output.text == case["answer"], case["id"]
            assert output.n_new_tokens == case["n_generated"], case["id"]
            assert output.hit_max_new_tokens == (not case["stopped_on_eos"]), case["id"]
            compared += 1
        assert (outputs[-1].text, outputs[-1].n_new_tokens) == ("", 0)
        expected += len(group)
    assert compared == expected == sum(len(groups[key]) for key in dict.fromkeys(chosen)) > 0
    assert isinstance(batch[0].payload, MiniMonkeyPayload)
