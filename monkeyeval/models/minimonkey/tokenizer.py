"""The InternLM2 SentencePiece tokenizer as Mini-Monkey's upstream slow `InternLM2Tokenizer` behaves under
transformers 4.37, implemented on `sentencepiece` directly (no remote code).

Encode: the text is split on every added token (longest match, leftmost first); each remaining chunk is
encoded by SentencePiece; `<s>` is prepended (add_bos). Decode: as HF 4.37's slow `_decode` with
InternLM2's `convert_tokens_to_string` (special tokens spliced in literally, HF clean-up always applied),
and added tokens beyond the SentencePiece vocabulary joined with single spaces.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sentencepiece as spm
import torch

from monkeyeval.core import jsontext

TOKENIZER_FILES = ("tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json")
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
IMG_START = "<img>"
IMG_END = "</img>"
IMG_CONTEXT = "<IMG_CONTEXT>"

_CLEAN_UP_REPLACEMENTS = (
    (" .", "."),
    (" ?", "?"),
    (" !", "!"),
    (" ,", ","),
    (" ' ", "'"),
    (" n't", "n't"),
    (" 'm", "'m"),
    (" 's", "'s"),
    (" 've", "'ve"),
    (" 're", "'re"),
)


def clean_up_tokenization(text: str) -> str:
    """HF's `clean_up_tokenization` (" ." -> ".", " 's" -> "'s", ...); InternLM2 applies it on each decode."""
    for old, new in _CLEAN_UP_REPLACEMENTS:
        text = text.replace(old, new)
    return text


@dataclass
class BatchEncoding:
    """Left-padded token ids and the matching attention mask (1 = real token), both int64 (B, L)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor


def _token_content(value: Any) -> str | None:
    """A special-token entry of a tokenizer config: a string, an AddedToken-like dict, or null."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("content"), str):
        return str(value["content"])
    raise ValueError(f"unrecognised special token entry {value!r}")


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = jsontext.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: invalid JSON at line {error.lineno}: {error.msg}") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


class InternLM2Tokenizer:
    """InternLM2 tokenizer with the InternVL added tokens (`<img>`, `</img>`, `<IMG_CONTEXT>`, ...)."""

    def __init__(
        self,
        model_file: str | Path,
        added_tokens: Mapping[str, int],
        *,
        bos_token: str = "<s>",
        eos_token: str = "</s>",
        unk_token: str = "<unk>",
        pad_token: str | None = "</s>",
        additional_special_tokens: Sequence[str] = (),
        add_bos_token: bool = True,
        add_eos_token: bool = False,
        strip_around: Mapping[str, tuple[bool, bool]] | None = None,
    ) -> None:
        self.model_file = Path(model_file)
        self._sp = spm.SentencePieceProcessor()
        if not self._sp.Load(str(self.model_file)):
            raise ValueError(f"{self.model_file}: not a SentencePiece model")
        self.vocab_size = self._sp.GetPieceSize()
        self._added_encoder = dict(added_tokens)
        self._added_decoder = {token_id: content for content, token_id in self._added_encoder.items()}
        self.bos_token, self.eos_token, self.unk_token = bos_token, eos_token, unk_token
        self.pad_token = pad_token
        self.additional_special_tokens = list(additional_special_tokens)
        self.add_bos_token, self.add_eos_token = add_bos_token, add_eos_token
        specials = [
            bos_token,
            eos_token,
            unk_token,
            *([pad_token] if pad_token else []),
            *additional_special_tokens,
        ]
        self.all_special_tokens = list(dict.fromkeys(specials))
        self._special_token_set = frozenset(self.all_special_tokens)
        self.all_special_ids = frozenset(
            self.convert_tokens_to_ids(token) for token in self.all_special_tokens
        )
        # HF 4.37 `_decode` emits these as separate, space-joined pieces: added tokens that are not special,
        # plus additional special tokens whose id lies beyond the SentencePiece vocabulary.
        self._standalone_tokens = frozenset(
            [token for token in self._added_encoder if token not in self._special_token_set]
            + [
                token
                for token in self.additional_special_tokens
                if self.convert_tokens_to_ids(token) >= self.vocab_size
            ]
        )
        alternatives = sorted(self._added_encoder, key=len, reverse=True)
        # (lstrip, rstrip) of added tokens: whitespace they swallow on their left / right when encoding.
        self._strip_around = {
            token: flags
            for token, flags in (strip_around or {}).items()
            if token in self._added_encoder and any(flags)
        }
        self._split_pattern = re.compile("(" + "|".join(re.escape(token) for token in alternatives) + ")")
        for name in (IM_END, IMG_CONTEXT):
            if name not in self._added_encoder and self._sp.PieceToId(name) == self._sp.unk_id():
                raise ValueError(f"{self.model_file.parent}: tokenizer has no {name} token")

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> InternLM2Tokenizer:
        """Load `tokenizer.model` plus the HF side files (`tokenizer_config.json`, `special_tokens_map.json`,
        `added_tokens.json`) from a checkpoint folder."""
        folder = Path(folder)
        model_file = folder / "tokenizer.model"
        if not model_file.is_file():
            raise FileNotFoundError(
                f"{model_file} not found: a Mini-Monkey checkpoint folder needs tokenizer.model"
            )
        config = _read_json(folder / "tokenizer_config.json")
        special_map = _read_json(folder / "special_tokens_map.json")
        added: dict[str, int] = {}
        strip_around: dict[str, tuple[bool, bool]] = {}
        for token_id, entry in (config.get("added_tokens_decoder") or {}).items():
            content = _token_content(entry)
            if content is not None:
                added[content] = int(token_id)
                if isinstance(entry, Mapping):
                    strip_around[content] = (bool(entry.get("lstrip")), bool(entry.get("rstrip")))
        for content, token_id in _read_json(folder / "added_tokens.json").items():
            added.setdefault(content, int(token_id))

        def special(name: str, default: str | None) -> str | None:
            if name in special_map:
                return _token_content(special_map[name])
            if name in config:
                return _token_content(config[name])
            return default

        additional_raw = special_map.get(
            "additional_special_tokens", config.get("additional_special_tokens", [])
        )
        additional = [content for content in (_token_content(item) for item in additional_raw) if content]
        probe = spm.SentencePieceProcessor()
        probe.Load(str(model_file))
        for token in additional:  # InternLM2 specials that are SentencePiece pieces are added tokens too
            if token not in added:
                piece_id = probe.PieceToId(token)
                if piece_id == probe.unk_id():
                    raise ValueError(
                        f"{folder}: special token {token!r} is neither in added_tokens nor the vocab"
                    )
                added[token] = piece_id
        bos = special("bos_token", "<s>") or "<s>"
        eos = special("eos_token", "</s>") or "</s>"
        unk = special("unk_token", "<unk>") or "<unk>"
        for token in (bos, eos, unk):
            added.setdefault(token, probe.PieceToId(token))
        return cls(
            model_file,
            added,
            bos_token=bos,
            eos_token=eos,
            unk_token=unk,
            pad_token=special("pad_token", None),
            additional_special_tokens=additional,
            add_bos_token=bool(config.get("add_bos_token", True)),
            add_eos_token=bool(config.get("add_eos_token", False)),
            strip_around=strip_around,
        )

    def __len__(self) -> int:
        """Vocabulary size including added tokens beyond the SentencePiece model (HF `len(tokenizer)`)."""
        return max(self.vocab_size, max(self._added_decoder, default=-1) + 1)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the SentencePiece model by value, so DataLoader workers never re-read the file."""
        state = self.__dict__.copy()
        state["_sp"] = self._sp.serialized_model_proto()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        proto = state.pop("_sp")
        self.__dict__.update(state)
        self._sp = spm.SentencePieceProcessor()
        self._sp.LoadFromSerializedProto(proto)

    # ---- ids of named tokens -------------------------------------------------------------------------

    def convert_tokens_to_ids(self, token: str) -> int:
        """Id of one token (added tokens first, then SentencePiece pieces; unknown -> unk id)."""
        if token in self._added_encoder:
            return self._added_encoder[token]
        return int(self._sp.PieceToId(token))

    def convert_ids_to_tokens(self, ids: Iterable[int], skip_special_tokens: bool = False) -> list[str]:
        """Token strings (added-token content or SentencePiece piece) for ids."""
        tokens = []
        for token_id in ids:
            token_id = int(token_id)
            if skip_special_tokens and token_id in self.all_special_ids:
                continue
            if token_id in self._added_decoder:
                tokens.append(self._added_decoder[token_id])
            elif 0 <= token_id < self.vocab_size:
                tokens.append(self._sp.IdToPiece(token_id))
            else:
                raise ValueError(f"token id {token_id} is out of range for a vocabulary of {len(self)}")
        return tokens

    @property
    def bos_id(self) -> int:
        return self.convert_tokens_to_ids(self.bos_token)

    @property
    def eos_id(self) -> int:
        """The tokenizer's eos (`</s>`). Chat generation stops on `im_end_id` instead, as upstream `chat`."""
        return self.convert_tokens_to_ids(self.eos_token)

    @property
    def pad_id(self) -> int:
        """Padding id (`pad_token`, `</s>` in InternLM2; falls back to eos)."""
        return self.convert_tokens_to_ids(self.pad_token or self.eos_token)

    @property
    def im_end_id(self) -> int:
        """`<|im_end|>`: the stop token of the internlm2-chat template."""
        return self.convert_tokens_to_ids(IM_END)

    @property
    def img_context_id(self) -> int:
        """`<IMG_CONTEXT>`: the placeholder whose embeddings the vision tokens overwrite."""
        return self.convert_tokens_to_ids(IMG_CONTEXT)

    # ---- encode ---------------------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[str]:
        """Token strings of `text` without bos: added tokens kept whole, other chunks SentencePiece pieces."""
        return self.convert_ids_to_tokens(self.encode(text, add_special_tokens=False))

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        """Token ids of `text`; with `add_special_tokens`, `<s>` first (and `</s>` last if add_eos_token)."""
        ids: list[int] = []
        chunks = self._split_pattern.split(text)  # odd positions are added tokens
        for index in range(1, len(chunks), 2):
            lstrip, rstrip = self._strip_around.get(chunks[index], (False, False))
            if rstrip:
                chunks[index + 1] = chunks[index + 1].lstrip()
            if lstrip:
                chunks[index - 1] = chunks[index - 1].rstrip()
        for chunk in chunks:
            if not chunk:
                continue
            added_id = self._added_encoder.get(chunk)
            if added_id is not None:
                ids.append(added_id)
            else:
                ids.extend(self._sp.EncodeAsIds(chunk))
        if add_special_tokens:
            if self.add_bos_token:
                ids.insert(0, self.bos_id)
            if self.add_eos_token:
                ids.append(self.eos_id)
        return ids

    def batch_encode(self, texts: Sequence[str], add_special_tokens: bool = True) -> BatchEncoding:
        """Encode several texts, left-padded with `pad_id` to the longest (what batched generation needs)."""
        if not texts:
            raise ValueError("batch_encode needs at least one text")
        encoded = [self.encode(text, add_special_tokens=add_special_tokens) for text in texts]
        length = max(len(ids) for ids in encoded)
        input_ids = torch.full((len(encoded), length), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(encoded), length), dtype=torch.long)
        for row, ids in enumerate(encoded):
            if ids:
                input_ids[row, length - len(ids) :] = torch.tensor(ids, dtype=torch.long)
                attention_mask[row, length - len(ids) :] = 1
        return BatchEncoding(input_ids=input_ids, attention_mask=attention_mask)

    # ---- decode ---------------------------------------------------------------------------------------

    def convert_tokens_to_string(self, tokens: Sequence[str]) -> str:
        """InternLM2's join: SentencePiece-decode runs of pieces, splice special tokens in literally (with one
        space before the first of a run of specials), then HF clean-up."""
        out = ""
        pending: list[str] = []
        previous_special = False
        for token in tokens:
            if token in self._special_token_set:
                if not previous_special:
                    out += " "
                out += self._sp.DecodePieces(pending) + token
                pending = []
                previous_special = True
            else:
                pending.append(token)
                previous_special = False
        out += self._sp.DecodePieces(pending)
        return clean_up_tokenization(out)

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = False) -> str:
        """Text of `ids`, as upstream `tokenizer.decode` (transformers 4.37 slow path)."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        parts: list[str] = []
        pending: list[str] = []
        for token in self.convert_ids_to_tokens(ids, skip_special_tokens=skip_special_tokens):
            if token in self._standalone_tokens:
                if pending:
                    text = self.convert_tokens_to_string(pending)
                    if text:
                        parts.append(text)
                    pending = []
                parts.append(token)
            else:
                pending.append(token)
        if pending:
            parts.append(self.convert_tokens_to_string(pending))
        return " ".join(parts)

    def batch_decode(
        self, sequences: Iterable[Iterable[int]], skip_special_tokens: bool = False
    ) -> list[str]:
        """`decode` of each sequence."""
        if isinstance(sequences, torch.Tensor):
            sequences = sequences.tolist()
        return [self.decode(ids, skip_special_tokens=skip_special_tokens) for ids in sequences]
