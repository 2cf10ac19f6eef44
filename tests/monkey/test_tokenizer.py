"""QwenTokenizer against every upstream case (real qwen.tiktoken), plus the tiny fixture vocabularies."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from monkeyeval.models.monkey.tokenizer import QwenTokenizer, read_tiktoken_ranks

from .parity_support import FAMILIES


@pytest.fixture(scope="module")
def tokenizer_dir(parity_dir: Path) -> Path:
    return parity_dir / "tokenizer"


@pytest.fixture(scope="module")
def meta(tokenizer_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tokenizer_dir / "meta.json").read_text())
    return data


@pytest.fixture(scope="module")
def spans(meta: dict[str, Any]) -> tuple[int, int]:
    """(main IMG_TOKEN_SPAN of the cases, the other span whose differing results are `span<N>` records)."""
    main, other = meta["spans"]
    return int(main), int(other)


@pytest.fixture(scope="module")
def cases(tokenizer_dir: Path) -> list[dict[str, Any]]:
    lines = (tokenizer_dir / "cases.jsonl").read_text(encoding="utf-8").split("\n")
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="module")
def tok_main(tokenizer_dir: Path, spans: tuple[int, int]) -> QwenTokenizer:
    return QwenTokenizer.from_file(tokenizer_dir / "qwen.tiktoken", image_span=spans[0])


@pytest.fixture(scope="module")
def tok_other(tok_main: QwenTokenizer, spans: tuple[int, int]) -> QwenTokenizer:
    return QwenTokenizer(tok_main.ranks, image_span=spans[1])


def outcome(call: Callable[[], Any]) -> dict[str, Any]:
    """{'value': result} or {'error': exception type name}, comparable with the fixture records."""
    try:
        return {"value": call()}
    except Exception as exc:
        return {"error": type(exc).__name__}


def expected(record: dict[str, Any]) -> dict[str, Any]:
    return {"error": record["error"]["type"]} if "error" in record else {"value": record["value"]}


def test_fixture_has_all_cases(cases: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    kinds = [case["type"] for case in cases]
    assert len(cases) == meta["n_cases"] > 0
    assert len({case["id"] for case in cases}) == len(cases)
    assert set(kinds) == {"encode", "decode", "batch"}  # every case type the MANIFEST describes
    assert kinds.count("encode") + kinds.count("decode") + kinds.count("batch") == len(cases)


def test_special_token_ids_follow_the_vocabulary(tok_main: QwenTokenizer, meta: dict[str, Any]) -> None:
    assert tok_main.special_ids == meta["special_tokens"]
    assert (tok_main.eod_id, tok_main.img_start_id, tok_main.img_end_id, tok_main.img_pad_id) == (
        meta["eod_id"],
        meta["img_start_id"],
        meta["img_end_id"],
        meta["img_pad_id"],
    )
    assert tok_main.eod_id == meta["n_mergeable_ranks"] == len(tok_main.ranks)  # specials follow the ranks
    assert len(tok_main) == meta["n_mergeable_ranks"] + len(meta["special_tokens"]) == meta["img_pad_id"] + 1


def test_encode_cases_give_exact_ids_or_the_same_error(
    cases: list[dict[str, Any]], tok_main: QwenTokenizer
) -> None:
    failures = []
    checked = 0
    for case in (c for c in cases if c["type"] == "encode"):
        want = {"error": case["error"]["type"]} if "error" in case else {"value": case["ids"]}
        got = outcome(partial(tok_main.encode, case["text"]))
        if got != want:
            failures.append((case["id"], case["text"][:60], str(got)[:120], str(want)[:120]))
        checked += 1
    assert not failures, failures[:5]
    assert checked == sum(c["type"] == "encode" for c in cases) > 0


def test_encode_cases_with_the_other_span(
    cases: list[dict[str, Any]], tok_other: QwenTokenizer, spans: tuple[int, int]
) -> None:
    key = f"span{spans[1]}"  # e.g. span768: only where the result differs from the main span's
    failures = []
    checked = checked_differences = 0
    for case in (c for c in cases if c["type"] == "encode"):
        if key in case:
            record = case[key]
            want = {"error": record["error"]["type"]} if "error" in record else {"value": record["ids"]}
            checked_differences += 1
        else:
            want = {"error": case["error"]["type"]} if "error" in case else {"value": case["ids"]}
        got = outcome(partial(tok_other.encode, case["text"]))
        if got != want:
            failures.append((case["id"], str(got)[:120], str(want)[:120]))
        checked += 1
    assert not failures, failures[:5]
    assert checked_differences > 0
    assert checked == sum(c["type"] == "encode" for c in cases) > 0


@pytest.mark.parametrize("skip_special", [False, True])
def test_decode_cases(cases: list[dict[str, Any]], tok_main: QwenTokenizer, skip_special: bool) -> None:
    key = "decode_skip_special" if skip_special else "decode"
    failures = []
    n_checked = 0
    for case in cases:
        if case["type"] not in ("encode", "decode") or "ids" not in case:
            continue
        n_checked += 1
        got = outcome(partial(tok_main.decode, case["ids"], skip_special_tokens=skip_special))
        if got != expected(case[key]):
            failures.append((case["id"], str(got)[:120], str(case[key])[:120]))
    assert not failures, failures[:5]
    # every decode case and every encode case that did not raise: its ids are decoded
    decodable = [c for c in cases if c["type"] == "decode" or (c["type"] == "encode" and "error" not in c)]
    assert all("ids" in c for c in decodable)
    assert n_checked == len(decodable) > 0 and any(c["type"] == "decode" for c in decodable)


def test_batch_cases_left_pad_with_eod(
    cases: list[dict[str, Any]], tok_main: QwenTokenizer, spans: tuple[int, int]
) -> None:
    checked = 0
    for case in (c for c in cases if c["type"] == "batch"):
        assert case["span"] == spans[0]
        batch = tok_main.encode_batch(case["texts"])
        assert batch.input_ids == case["input_ids"], case["id"]
        assert batch.attention_mask == case["attention_mask"], case["id"]
        checked += 1
    assert checked == sum(c["type"] == "batch" for c in cases) > 0


def test_error_cases_are_covered(cases: list[dict[str, Any]]) -> None:
    """The fixture exercises unclosed, too-long and special-inside-span errors (so the tests above bite)."""
    types = {case["error"]["type"] for case in cases if "error" in case}
    assert types == {"ValueError", "TypeError"}


def test_pickle_round_trip_keeps_behaviour(tok_main: QwenTokenizer, spans: tuple[int, int]) -> None:
    text = "<img>images/a.png</img> What is written? Answer:"
    clone = pickle.loads(pickle.dumps(tok_main))
    assert clone.encode(text) == tok_main.encode(text)
    assert clone.image_span == spans[0]


def test_nfc_normalisation_before_encoding(tok_main: QwenTokenizer) -> None:
    assert tok_main.encode("e\u0301t\u00e9") == tok_main.encode("\u00e9t\u00e9")


def test_malformed_vocab_line_names_file_and_line(tmp_path: Path) -> None:
    vocab = tmp_path / "qwen.tiktoken"
    vocab.write_bytes(b"IQ== 0\nnot-a-valid-line\n")
    with pytest.raises(ValueError, match=r"qwen\.tiktoken:2"):
        read_tiktoken_ranks(vocab)


@pytest.mark.parametrize("name", FAMILIES)
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
