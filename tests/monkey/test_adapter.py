"""MonkeyAdapter / TextMonkeyAdapter: detection, options, preprocessing, and PNG-to-answer parity."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from monkeyeval.core.types import Sample
from monkeyeval.models.base import DecodeSettings, LoadOptions, ModelInput
from monkeyeval.models.dtypes import DtypeError
from monkeyeval.models.monkey.adapter import (
    MonkeyAdapter,
    MonkeyAdapterError,
    MonkeyPreprocessor,
    TextMonkeyAdapter,
    decode_answer,
    resolve_dtype,
)
from monkeyeval.models.options import OptionError

from .parity_support import image_size_of, image_span_of, max_new_tokens_of, read_cases

ADAPTERS: dict[str, type[MonkeyAdapter]] = {"monkey": MonkeyAdapter, "textmonkey": TextMonkeyAdapter}


def sample_for(folder: Path, case: dict[str, Any]) -> Sample:
    return Sample(
        index=case["row"],
        id=case["id"],
        question=case["question"],
        answers=[],
        image=case["image"],
        image_path=folder / case["image"],
    )


def config_of(parity_dir: Path, family: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((parity_dir / family / "checkpoint" / "config.json").read_text())
    return result


@pytest.fixture(scope="module")
def monkey_adapter(parity_dir: Path) -> MonkeyAdapter:
    return MonkeyAdapter.load(LoadOptions(checkpoint=str(parity_dir / "monkey" / "checkpoint")))


# ---- detection, options, dtype ------------------------------------------------------------------------


def test_detect_fixture_configs(parity_dir: Path) -> None:
    monkey, textmonkey = config_of(parity_dir, "monkey"), config_of(parity_dir, "textmonkey")
    assert MonkeyAdapter.detect(monkey) and not TextMonkeyAdapter.detect(monkey)
    assert TextMonkeyAdapter.detect(textmonkey) and not MonkeyAdapter.detect(textmonkey)
    minimonkey = json.loads((parity_dir / "minimonkey" / "checkpoint" / "config.json").read_text())
    assert not MonkeyAdapter.detect(minimonkey) and not TextMonkeyAdapter.detect(minimonkey)
    assert MonkeyAdapter.detect({"architectures": ["MonkeyLMHeadModel"], "visual": {}})


def test_registry_detects_the_fixture_families(parity_dir: Path) -> None:
    from monkeyeval.models.registry import AdapterRegistry

    registry = AdapterRegistry.discover()
    for family, adapter in ADAPTERS.items():
        assert registry.detect(str(parity_dir / family / "checkpoint")) == family
        assert registry.get(family) is adapter


def test_image_span_per_family(parity_dir: Path) -> None:
    for family, adapter in ADAPTERS.items():  # the span every case's <img>..</img> has (and meta.json's)
        assert adapter.image_span(config_of(parity_dir, family)) == image_span_of(parity_dir / family), family


def test_dtype_resolution() -> None:
    assert resolve_dtype("auto", "cpu", {"bf16": True}) == torch.float32
    assert resolve_dtype("auto", "cuda:0", {"bf16": True}) == torch.bfloat16
    assert resolve_dtype("auto", "cuda", {"fp32": True}) == torch.float32
    assert resolve_dtype("bf16", "cpu", {}) == torch.bfloat16
    with pytest.raises(DtypeError, match="unknown dtype"):
        resolve_dtype("int8", "cpu", {})


def test_family_options(monkey_adapter: MonkeyAdapter, parity_dir: Path) -> None:
    with pytest.raises(OptionError, match=r"unknown monkey option\(s\) \[.nope.\]"):
        MonkeyAdapter.load(
            LoadOptions(checkpoint=str(parity_dir / "monkey" / "checkpoint"), family_options={"nope": 1})
        )
    assert monkey_adapter.padding_aware_positions is False
    monkey_adapter.configure_task({"padding_aware_positions": "true"})
    assert monkey_adapter.padding_aware_positions is True
    assert monkey_adapter.fingerprint()["padding_aware_positions"] is True
    with pytest.raises(OptionError, match="expected true or false"):
        monkey_adapter.configure_task({"padding_aware_positions": "maybe"})
    monkey_adapter.configure_task({})
    assert monkey_adapter.padding_aware_positions is False


def test_fingerprint(monkey_adapter: MonkeyAdapter, parity_dir: Path) -> None:
    fingerprint = monkey_adapter.fingerprint()
    assert fingerprint["family"] == "monkey"
    assert fingerprint["dtype"] == "float32"
    assert fingerprint["image_span"] == image_span_of(parity_dir / "monkey")
    assert len(fingerprint["checkpoint_sha256"]) == 64
    assert fingerprint["checkpoint"].endswith("checkpoint")


# ---- preprocessing ------------------------------------------------------------------------------------


def test_preprocessor_is_picklable_and_matches_upstream_ids(
    monkey_adapter: MonkeyAdapter, parity_dir: Path
) -> None:
    folder = parity_dir / "monkey"
    case = read_cases(folder)[0]
    preprocess = pickle.loads(pickle.dumps(monkey_adapter.preprocessor()))
    assert isinstance(preprocess, MonkeyPreprocessor)
    payload = preprocess(sample_for(folder, case), case["prompt"])
    size = image_size_of(config_of(parity_dir, "monkey"))
    assert payload["input_ids"] == case["input_ids"]
    assert payload["pixel_values"].shape == (3, size, size)
    assert payload["pixel_values"].dtype == torch.float32
    # the runner's input-length guard: every prompt id (image span included) against the declared context
    assert monkey_adapter.input_tokens(payload) == len(case["input_ids"])
    assert monkey_adapter.context_length() == config_of(parity_dir, "monkey")["max_position_embeddings"]


def test_preprocessor_errors(monkey_adapter: MonkeyAdapter, parity_dir: Path, tmp_path: Path) -> None:
    folder = parity_dir / "monkey"
    case = read_cases(folder)[0]
    preprocess = monkey_adapter.preprocessor()
    no_image = Sample(0, "x", "q", [], "images/a.png", None, error="image outside the image root")
    with pytest.raises(MonkeyAdapterError, match="outside the image root"):
        preprocess(no_image, case["prompt"])
    with pytest.raises(MonkeyAdapterError, match="2 <img> spans"):
        preprocess(sample_for(folder, case), "<img>a</img><img>b</img> q")
    missing = Sample(0, "x", "q", [], "gone.png", tmp_path / "gone.png")
    with pytest.raises(Exception, match="not found"):
        preprocess(missing, case["prompt"])
    text_only = preprocess(no_image, "no image here")
    assert text_only["pixel_values"] is None


def test_dry_run_preprocessor_needs_no_weights(parity_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    folder.mkdir()
    for name in ("config.json", "qwen.tiktoken"):
        (folder / name).write_bytes((parity_dir / "textmonkey" / "checkpoint" / name).read_bytes())
    preprocess = TextMonkeyAdapter.dry_run_preprocessor(LoadOptions(checkpoint=str(folder)))
    assert isinstance(preprocess, MonkeyPreprocessor)
    assert preprocess.tokenizer.image_span == image_span_of(parity_dir / "textmonkey")


def test_answer_text_rules(monkey_adapter: MonkeyAdapter) -> None:
    tokenizer = monkey_adapter.tokenizer
    literal = tokenizer.encode(" x<|endoftext") + tokenizer.encode("|> ")  # plain-text tokens spelling eod
    ids = [*literal, tokenizer.eod_id]
    assert tokenizer.decode(ids, skip_special_tokens=True) == " x<|endoftext|> "
    assert monkey_adapter.answer_text(ids) == "x<|endoftext|>"
    assert decode_answer(tokenizer, ids, remove_literal_endoftext=True) == "x"
    assert decode_answer(tokenizer, ids, remove_literal_endoftext=False) == "x<|endoftext|>"


# ---- PNG to answers -----------------------------------------------------------------------------------


def run_cases(
    adapter: MonkeyAdapter, folder: Path, rows: list[int] | None, batch: bool
) -> tuple[list[dict[str, Any]], list[Any]]:
    cases = read_cases(folder)
    chosen = [cases[i] for i in rows] if rows is not None else cases
    preprocess = adapter.preprocessor()
    inputs = [
        ModelInput(sample_for(folder, c), c["prompt"], preprocess(sample_for(folder, c), c["prompt"]))
        for c in chosen
    ]
    settings = DecodeSettings(max_new_tokens=max_new_tokens_of(folder))
    if batch:
        return chosen, adapter.generate(inputs, settings)
    return chosen, [adapter.generate([item], settings)[0] for item in inputs]


@pytest.mark.slow
def test_monkey_png_to_answers(
    monkey_adapter: MonkeyAdapter, parity_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # image paths resolve against the fixture folder, not the cwd
    folder = parity_dir / "monkey"
    eod = monkey_adapter.tokenizer.eod_id
    cases, alone = run_cases(monkey_adapter, folder, None, batch=False)  # rows that stop and rows that don't
    assert [g.text for g in alone] == [case["batch1"]["answer"] for case in cases]
    assert [(g.n_new_tokens, g.hit_max_new_tokens) for g in alone] == [
        (case["batch1"]["n_steps"], eod not in case["batch1"]["generated_ids"]) for case in cases
    ]
    limit = max_new_tokens_of(folder)
    assert all(
        case["batch1"]["n_steps"] == limit for case in cases if eod not in case["batch1"]["generated_ids"]
    )
    assert len(alone) == len(cases) > 0
    cases, batched = run_cases(monkey_adapter, folder, None, batch=True)
    assert [g.text for g in batched] == [case["batch4"]["answer"] for case in cases]
    assert len(batched) == len(cases) > 0


@pytest.mark.slow
def test_monkey_png_visual_embeddings(monkey_adapter: MonkeyAdapter, parity_dir: Path) -> None:
    import numpy as np

    folder = parity_dir / "monkey"
    preprocess = monkey_adapter.preprocessor()
    pixels = torch.stack(
        [preprocess(sample_for(folder, c), c["prompt"])["pixel_values"] for c in read_cases(folder)]
    )
    with torch.inference_mode():
        embeds = monkey_adapter.model.encode_images(pixels)
    with np.load(folder / "arrays.npz") as arrays:
        recorded = torch.from_numpy(arrays["visual_embeds"])
    assert embeds.shape == recorded.shape and len(recorded) == len(read_cases(folder)) > 0
    torch.testing.assert_close(embeds, recorded, atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_textmonkey_png_to_answers(parity_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    folder = parity_dir / "textmonkey"
    adapter = TextMonkeyAdapter.load(LoadOptions(checkpoint=str(folder / "checkpoint")))
    cases, batched = run_cases(adapter, folder, None, batch=True)
    assert [g.text for g in batched] == [case["batch4"]["answer"] for case in cases]
    assert len(batched) == len(cases) > 0
    # alone: the row with the largest batch-1 NTK alpha (the longest prompt; alpha 7 alone when NTK is active)
    row = max(cases, key=lambda case: (case["batch1"]["ntk_alpha"], case["prompt_len"]))["row"]
    cases, alone = run_cases(adapter, folder, [row], batch=False)
    assert alone[0].text == cases[0]["batch1"]["answer"]
    assert alone[0].n_new_tokens == cases[0]["batch1"]["n_steps"]


def test_payload_none_rows_get_empty_generations(monkey_adapter: MonkeyAdapter) -> None:
    sample = Sample(0, "x", "q", [], "a.png", None, error="missing")
    out = monkey_adapter.generate([ModelInput(sample, "q", None)], DecodeSettings(max_new_tokens=4))
    assert [(g.text, g.n_new_tokens) for g in out] == [("", 0)]


def test_bf16_load_runs_in_bf16(parity_dir: Path) -> None:
    """--dtype bf16 (the GPU default for bf16 configs) casts every weight and still generates."""
    folder = parity_dir / "monkey"
    adapter = MonkeyAdapter.load(LoadOptions(checkpoint=str(folder / "checkpoint"), dtype="bf16"))
    assert {p.dtype for p in adapter.model.parameters()} == {torch.bfloat16}
    assert adapter.fingerprint()["dtype"] == "bfloat16"
    cases = read_cases(folder)
    case = cases[min(1, len(cases) - 1)]
    sample = sample_for(folder, case)
    payload = adapter.preprocessor()(sample, case["prompt"])
    (generation,) = adapter.generate(
        [ModelInput(sample, case["prompt"], payload)], DecodeSettings(max_new_tokens=3)
    )
    assert 1 <= generation.n_new_tokens <= 3


def test_detection_imports_no_native_model_code(parity_dir: Path) -> None:
    """Detecting a native family reads config.json only: no adapter module, torch or tokenizer."""
    families_in_fixtures = [*ADAPTERS, "minimonkey"]
    folders = [str(parity_dir / family / "checkpoint") for family in families_in_fixtures]
    script = (
        "import sys\n"
        "from monkeyeval.models.registry import AdapterRegistry\n"
        "specs = AdapterRegistry.discover().specs\n"
        "registry = AdapterRegistry({k: v for k, v in specs.items() if k != 'hf'})\n"  # hf: transformers
        f"print([registry.detect(folder) for folder in {folders!r}])\n"
        "print(sorted(m for m in sys.modules if m.startswith(('monkeyeval.models.monkey', "
        "'monkeyeval.models.minimonkey', 'torch', 'tiktoken'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    families, imported = done.stdout.splitlines()
    assert families == repr(families_in_fixtures)
    assert imported == "[]"
