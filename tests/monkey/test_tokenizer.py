"""QwenTokenizer against all 348 upstream cases (real qwen.tiktoken), plus the tiny fixture vocabularies."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from monkeyeval.models.monkey.tokenizer import QwenTokenizer, read_tiktoken_ranks


@pytest.fixture(scope="module")
def tokenizer_dir(parity_dir: Path) -> Path:
    return parity_dir / "tokenizer"


@pytest.fixture(scope="module")
def cases(tokenizer_dir: Path) -> list[dict[str, Any]]:
    lines = (tokenizer_dir / "cases.jsonl").read_text(encoding="utf-8").split("\n")
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="module")
def tok1280(tokenizer_dir: Path) -> QwenTokenizer:
    return QwenTokenizer.from_file(tokenizer_dir / "qwen.tiktoken", image_span=1280)


@pytest.fixture(scope="module")
def tok768(tok1280: QwenTokenizer) -> QwenTokenizer:
    return QwenTokenizer(tok1280.ranks, image_span=768)


def outcome(call: Callable[[], Any]) -> dict[str, Any]:
    """{'value': result} or {'error': exception type name}, comparable with the fixture records."""
    try:
        return {"value": call()}
    except Exception as exc:
        return {"error": type(exc).__name__}


def expected(record: dict[str, Any]) -> dict[str, Any]:
    return {"error": record["error"]["type"]} if "error" in record else {"value": record["value"]}


def test_fixture_has_all_cases(cases: list[dict[str, Any]]) -> None:
    kinds = [case["type"] for case in cases]
    assert (len(cases), kinds.count("encode"), kinds.count("decode"), kinds.count("batch")) == (
        348,
        300,
        45,
        3,
    )


def test_special_token_ids_follow_the_vocabulary(tok1280: QwenTokenizer, tokenizer_dir: Path) -> None:
    meta = json.loads((tokenizer_dir / "meta.json").read_text())
    assert tok1280.special_ids == meta["special_tokens"]
    assert (tok1280.eod_id, tok1280.img_start_id, tok1280.img_end_id, tok1280.img_pad_id) == (
        151643,
        151857,
        151858,
        151859,
    )
    assert len(tok1280) == 151860


def test_encode_cases_give_exact_ids_or_the_same_error(
    cases: list[dict[str, Any]], tok1280: QwenTokenizer
) -> None:
    failures = []
    for case in (c for c in cases if c["type"] == "encode"):
        want = {"error": case["error"]["type"]} if "error" in case else {"value": case["ids"]}
        got = outcome(partial(tok1280.encode, case["text"]))
        if got != want:
            failures.append((case["id"], case["text"][:60], str(got)[:120], str(want)[:120]))
    assert not failures, failures[:5]


def test_encode_cases_with_span_768(cases: list[dict[str, Any]], tok768: QwenTokenizer) -> None:
    failures = []
    checked_differences = 0
    for case in (c for c in cases if c["type"] == "encode"):
        if "span768" in case:
            record = case["span768"]
            want = {"error": record["error"]["type"]} if "error" in record else {"value": record["ids"]}
            checked_differences += 1
        else:
            want = {"error": case["error"]["type"]} if "error" in case else {"value": case["ids"]}
        got = outcome(partial(tok768.encode, case["text"]))
        if got != want:
            failures.append((case["id"], str(got)[:120], str(want)[:120]))
    assert not failures, failures[:5]
    assert checked_differences > 0


@pytest.mark.parametrize("skip_special", [False, True])
def test_decode_cases(cases: list[dict[str, Any]], tok1280: QwenTokenizer, skip_special: bool) -> None:
    key = "decode_skip_special" if skip_special else "decode"
    failures = []
    n_checked = 0
    for case in cases:
        if case["type"] not in ("encode", "decode") or "ids" not in case:
            continue
        n_checked += 1
        got = outcome(partial(tok1280.decode, case["ids"], skip_special_tokens=skip_special))
        if got != expected(case[key]):
            failures.append((case["id"], str(got)[:120], str(case[key])[:120]))
    assert not failures, failures[:5]
    assert n_checked >= 335


def test_batch_cases_left_pad_with_eod(cases: list[dict[str, Any]], tok1280: QwenTokenizer) -> None:
    for case in (c for c in cases if c["type"] == "batch"):
        assert case["span"] == 1280
        batch = tok1280.encode_batch(case["texts"])
        assert batch.input_ids == case["input_ids"], case["id"]
        assert batch.attention_mask == case["attention_mask"], case["id"]


def test_error_cases_are_covered(cases: list[dict[str, Any]]) -> None:
    """The fixture exercises unclosed, too-long and special-inside-span errors (so the tests above bite)."""
    types = {case["error"]["type"] for case in cases if "error" in case}
    assert types == {"ValueError", "TypeError"}


def test_pickle_round_trip_keeps_behaviour(tok1280: QwenTokenizer) -> None:
    text = "<img>images/a.png</img> What is written? Answer:"
    clone = pickle.loads(pickle.dumps(tok1280))
    assert clone.encode(text) == tok1280.encode(text)
    assert clone.image_span == 1280


def test_nfc_normalisation_before_encoding(tok1280: QwenTokenizer) -> None:
    assert tok1280.encode("e\u0301t\u00e9") == tok1280.encode("\u00e9t\u00e9")


def test_malformed_vocab_line_names_file_and_line(tmp_path: Path) -> None:
    vocab = tmp_path / "qwen.tiktoken"
    vocab.write_bytes(b"IQ== 0\nnot-a-valid-line\n")
    with pytest.raises(ValueError, match=r"qwen\.tiktoken:2"):
        read_tiktoken_ranks(vocab)


@pytest.mark.parametrize("name", ["monkey", "textmonkey"])
def test_tiny_fixture_vocabularies(parity_dir: Path, name: str) -> None:
    meta = json.loads((parity_dir / name / "meta.json").read_text())["vocab"]
    tok = QwenTokenizer.from_file(parity_dir / name / "checkpoint" / "qwen.tiktoken", meta["img_token_span"])
    assert (tok.eod_id, tok.img_start_id, tok.img_end_id, tok.img_pad_id, len(tok)) == (
        meta["eod_id"],
        meta["img_start_id"],
        meta["img_end_id"],
        meta["img_pad_id"],
        meta["tokenizer_n_vocab"],
    )
