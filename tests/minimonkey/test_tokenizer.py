"""InternLM2 tokenizer against the upstream probe (`minimonkey/tokenizer_probe.json`)."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import pytest

from monkeyeval.models.minimonkey.tokenizer import InternLM2Tokenizer, clean_up_tokenization


@pytest.fixture(scope="module")
def tokenizer(fixture_dir: Path) -> InternLM2Tokenizer:
    return InternLM2Tokenizer.from_pretrained(fixture_dir / "checkpoint")


@pytest.fixture(scope="module")
def probe(fixture_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((fixture_dir / "tokenizer_probe.json").read_text(encoding="utf-8"))
    return data


def test_special_token_ids_and_sizes(tokenizer: InternLM2Tokenizer, probe: dict[str, Any]) -> None:
    for token, token_id in probe["special_token_ids"].items():
        assert tokenizer.convert_tokens_to_ids(token) == token_id, token
    assert tokenizer.vocab_size == probe["vocab_size_sentencepiece"]
    assert len(tokenizer) == probe["len_tokenizer"]
    ids = probe["special_token_ids"]
    assert tokenizer.bos_id == ids["<s>"]
    assert tokenizer.eos_id == ids["</s>"]
    assert tokenizer.pad_id == ids["</s>"]
    assert tokenizer.im_end_id == ids["<|im_end|>"]
    assert tokenizer.img_context_id == ids["<IMG_CONTEXT>"]
    assert tokenizer.all_special_ids == frozenset(ids.values())


def test_encode_matches_probe(tokenizer: InternLM2Tokenizer, probe: dict[str, Any]) -> None:
    compared = 0
    for case in probe["encode"]:
        assert tokenizer.encode(case["text"]) == case["input_ids"], case["text"]
        assert ["<s>", *tokenizer.tokenize(case["text"])] == case["pieces"], case["text"]
        assert tokenizer.encode(case["text"], add_special_tokens=False) == case["input_ids"][1:]
        compared += 1
    assert compared == len(probe["encode"]) > 0


def test_decode_matches_probe(tokenizer: InternLM2Tokenizer, probe: dict[str, Any]) -> None:
    compared = 0
    for case in probe["encode"]:
        ids = case["input_ids"]
        assert tokenizer.decode(ids, skip_special_tokens=True) == case["decode_skip_special"], case["text"]
        assert tokenizer.decode(ids) == case["decode_keep_special"], case["text"]
        compared += 1
    assert compared == len(probe["encode"]) > 0


def test_decode_of_byte_fallback_and_special_ids(
    tokenizer: InternLM2Tokenizer, probe: dict[str, Any]
) -> None:
    cases = probe["decode"]
    assert cases
    for case in cases:
        assert tokenizer.decode(case["ids"], skip_special_tokens=True) == case["decode_skip_special"], case[
            "ids"
        ]
    batch = tokenizer.batch_decode([case["ids"] for case in cases], skip_special_tokens=True)
    assert batch == [case["batch_decode_skip_special"] for case in cases]


def test_clean_up_tokenization_rules() -> None:
    assert clean_up_tokenization("a . b , c ? d ! it 's do n't I 'm we 've they 're") == (
        "a. b, c? d! it's don't I'm we've they're"
    )


def test_batch_encode_left_pads(tokenizer: InternLM2Tokenizer) -> None:
    texts = ["What color is the square?", "Hi", "<|im_start|>user\n<img><IMG_CONTEXT></img>"]
    batch = tokenizer.batch_encode(texts)
    singles = [tokenizer.encode(text) for text in texts]
    width = max(len(ids) for ids in singles)
    assert tuple(batch.input_ids.shape) == (3, width)
    for row, ids in enumerate(singles):
        pad = width - len(ids)
        assert batch.input_ids[row].tolist() == [tokenizer.pad_id] * pad + ids
        assert batch.attention_mask[row].tolist() == [0] * pad + [1] * len(ids)
    with pytest.raises(ValueError):
        tokenizer.batch_encode([])


def test_pickle_round_trip(fixture_dir: Path, tmp_path: Path, probe: dict[str, Any]) -> None:
    """Workers unpickle the tokenizer; the SentencePiece model travels by value (the file may be gone)."""
    for name in ("tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"):
        shutil.copy(fixture_dir / "checkpoint" / name, tmp_path / name)
    data = pickle.dumps(InternLM2Tokenizer.from_pretrained(tmp_path))
    (tmp_path / "tokenizer.model").unlink()
    clone = pickle.loads(data)
    case = probe["encode"][0]
    assert clone.encode(case["text"]) == case["input_ids"]
    assert clone.decode(case["input_ids"]) == case["decode_keep_special"]


def test_loads_without_added_tokens_decoder(fixture_dir: Path, tmp_path: Path, probe: dict[str, Any]) -> None:
    """Older checkpoints have no `added_tokens_decoder`: added_tokens.json and the special map suffice."""
    for name in ("tokenizer.model", "special_tokens_map.json", "added_tokens.json"):
        shutil.copy(fixture_dir / "checkpoint" / name, tmp_path / name)
    config = json.loads((fixture_dir / "checkpoint" / "tokenizer_config.json").read_text(encoding="utf-8"))
    del config["added_tokens_decoder"]
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    tokenizer = InternLM2Tokenizer.from_pretrained(tmp_path)
    compared = 0
    for case in probe["encode"]:
        assert tokenizer.encode(case["text"]) == case["input_ids"]
        assert tokenizer.decode(case["input_ids"]) == case["decode_keep_special"]
        compared += 1
    assert compared == len(probe["encode"]) > 0


def test_added_token_strip_flags_are_honoured(
    fixture_dir: Path, tmp_path: Path, probe: dict[str, Any]
) -> None:
    """An added token declared with rstrip/lstrip swallows the whitespace beside it (HF slow tokenize)."""
    for name in ("tokenizer.model", "special_tokens_map.json", "added_tokens.json"):
        shutil.copy(fixture_dir / "checkpoint" / name, tmp_path / name)
    config = json.loads((fixture_dir / "checkpoint" / "tokenizer_config.json").read_text(encoding="utf-8"))
    ids = probe["special_token_ids"]
    im_end, img = (
        config["added_tokens_decoder"][str(ids["<|im_end|>"])],
        config["added_tokens_decoder"][str(ids["<img>"])],
    )
    assert (im_end["content"], img["content"]) == ("<|im_end|>", "<img>")
    im_end["rstrip"] = True
    img["lstrip"] = True
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    stripping = InternLM2Tokenizer.from_pretrained(tmp_path)
    plain = InternLM2Tokenizer.from_pretrained(fixture_dir / "checkpoint")
    assert stripping.encode("a <|im_end|>  \nb  <img>") == plain.encode("a <|im_end|>b<img>")
    assert plain.encode("a <|im_end|>  \nb  <img>") != plain.encode("a <|im_end|>b<img>")


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"tokenizer\.model"):
        InternLM2Tokenizer.from_pretrained(tmp_path)


def test_out_of_range_id_is_an_error(tokenizer: InternLM2Tokenizer) -> None:
    with pytest.raises(ValueError, match="out of range"):
        tokenizer.decode([len(tokenizer)])
