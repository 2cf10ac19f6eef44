"""The QWen tokenizer of Monkey / TextMonkey, re-implemented on tiktoken (no transformers, no remote code).

Behaviour reproduced from the upstream `QWenTokenizer` (Monkey commit 498e1d9, transformers 4.32.0):

- the BPE ranks come from `qwen.tiktoken` (`base64(token) rank` per line); the special tokens follow the
  ranks, their ids derived from the vocabulary size N: `<|endoftext|>` = N (eod), `<|im_start|>`,
  `<|im_end|>`, `<|extra_0|>` … `<|extra_204|>`, `<ref>`, `</ref>`, `<box>`, `</box>`, `<quad>`, `</quad>`,
  `<img>`, `</img>`, `<imgpad>`;
- text is NFC-normalised and special-token strings anywhere in it are special tokens; no BOS/EOS;
- every closed `<img>…</img>` pair is rewritten to one id per UTF-8 byte of its content (id = byte value),
  right-padded with `<imgpad>` to `image_span` ids; the same exception types as upstream are raised for
  an unclosed `<img>` (ValueError), content longer than the span (ValueError) and special tokens inside
  the span (TypeError);
- decode turns image spans back into their path text, drops every id >= eod when skipping specials, and
  decodes bytes with `errors="replace"`; unknown ids raise KeyError (tiktoken);
- batches are left-padded with eod (the eval collate).
"""

from __future__ import annotations

import base64
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import tiktoken

QWEN_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
ENDOFTEXT = "<|endoftext|>"
IMAGE_START, IMAGE_END, IMAGE_PAD = "<img>", "</img>", "<imgpad>"
SPECIAL_TOKENS: tuple[str, ...] = (
    ENDOFTEXT,
    "<|im_start|>",
    "<|im_end|>",
    *(f"<|extra_{i}|>" for i in range(205)),
    *("<ref>", "</ref>", "<box>", "</box>", "<quad>", "</quad>", IMAGE_START, IMAGE_END, IMAGE_PAD),
)
MONKEY_IMAGE_SPAN = 1280


def read_tiktoken_ranks(path: Path) -> dict[bytes, int]:
    """The mergeable ranks of a `qwen.tiktoken` file (`base64(token) rank` per non-empty line)."""
    ranks: dict[bytes, int] = {}
    for line_no, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"{path}:{line_no}: expected 'base64token rank', got {line[:80]!r}")
        ranks[base64.b64decode(parts[0])] = int(parts[1])
    return ranks


@dataclass(frozen=True)
class BatchEncoding:
    """A left-padded batch: `input_ids` and `attention_mask` as lists of equal-length rows."""

    input_ids: list[list[int]]
    attention_mask: list[list[int]]


class QwenTokenizer:
    """QWen tiktoken tokenizer with Monkey's `<img>` span handling. Picklable (rebuilds tiktoken on load)."""

    def __init__(self, ranks: dict[bytes, int], image_span: int = MONKEY_IMAGE_SPAN) -> None:
        self.ranks = ranks
        self.image_span = image_span
        self.special_ids = {token: len(ranks) + i for i, token in enumerate(SPECIAL_TOKENS)}
        self.eod_id = self.special_ids[ENDOFTEXT]
        self.img_start_id = self.special_ids[IMAGE_START]
        self.img_end_id = self.special_ids[IMAGE_END]
        self.img_pad_id = self.special_ids[IMAGE_PAD]
        self._token_bytes = {rank: token for token, rank in ranks.items()}
        self._encoding = self._build_encoding()

    @classmethod
    def from_file(cls, path: str | Path, image_span: int = MONKEY_IMAGE_SPAN) -> QwenTokenizer:
        """Load `qwen.tiktoken`; `image_span` = ids per `<img>` span (Monkey 1280, TextMonkey n_queries)."""
        return cls(read_tiktoken_ranks(Path(path)), image_span=image_span)

    def _build_encoding(self) -> tiktoken.Encoding:
        return tiktoken.Encoding(
            "Qwen", pat_str=QWEN_PATTERN, mergeable_ranks=self.ranks, special_tokens=self.special_ids
        )

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        del state["_encoding"]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._encoding = self._build_encoding()

    def __len__(self) -> int:
        return len(self.ranks) + len(self.special_ids)

    # ---- encoding -------------------------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        """`tokenizer(text).input_ids` of upstream: NFC, specials allowed, image spans byte-encoded."""
        text = unicodedata.normalize("NFC", text)
        ids = self._encoding.encode(text, allowed_special="all", disallowed_special=())
        return self._rewrite_spans(ids, self._encode_span)

    def _encode_span(self, span: list[int]) -> list[int]:
        content = span[1:-1]
        pieces: list[bytes] = []
        for position, token_id in enumerate(content):
            piece = self._token_bytes.get(token_id)
            if piece is None:  # upstream: b"".join over a list holding a special token's str
                raise TypeError(
                    f"sequence item {position}: expected a bytes-like object, str found "
                    f"(special token id {token_id} inside {IMAGE_START}..{IMAGE_END})"
                )
            pieces.append(piece)
        url = b"".join(pieces)
        if len(url) > self.image_span:
            raise ValueError(f"The content in {IMAGE_START}..{IMAGE_END} is too long")
        padding = [self.img_pad_id] * (self.image_span - len(url))
        return [self.img_start_id, *url, *padding, self.img_end_id]

    def _rewrite_spans(self, ids: Sequence[int], rewrite: Callable[[list[int]], list[int]]) -> list[int]:
        """Apply `rewrite` to every closed `<img>`…`</img>` run; ValueError when one is unclosed."""
        out: list[int] = []
        cursor = 0
        n = len(ids)
        while True:
            start = _find(ids, self.img_start_id, cursor)
            if start == -1:
                break
            out.extend(ids[cursor:start])
            end = _find(ids, self.img_end_id, start)
            if end == -1:
                raise ValueError("Unclosed image token")
            out.extend(rewrite(list(ids[start : end + 1])))
            cursor = end + 1
            if cursor >= n:
                break
        out.extend(ids[cursor:])
        return out

    def encode_batch(self, texts: Sequence[str]) -> BatchEncoding:
        """Encode several texts, left-padded with eod to the longest (the eval collate)."""
        return self.pad_left([self.encode(text) for text in texts])

    def pad_left(self, rows: Sequence[Sequence[int]]) -> BatchEncoding:
        """Left-pad id rows with eod; attention mask 0 on the padding."""
        width = max((len(row) for row in rows), default=0)
        input_ids = [[self.eod_id] * (width - len(row)) + list(row) for row in rows]
        mask = [[0] * (width - len(row)) + [1] * len(row) for row in rows]
        return BatchEncoding(input_ids=input_ids, attention_mask=mask)

    # ---- decoding -------------------------------------------------------------------------------------

    def _decode_span(self, span: list[int]) -> list[int]:
        content = span[1:-1]
        content = content[: content.index(self.img_pad_id)]  # ValueError when there is no <imgpad>
        url = bytes(content).decode("utf-8")
        return [self.img_start_id, *self._encoding.encode(url), self.img_end_id]

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        """Upstream `tokenizer.decode`: image spans back to path text; skipping drops every id >= eod."""
        restored = self._rewrite_spans([int(i) for i in ids], self._decode_span)
        if skip_special_tokens:
            restored = [i for i in restored if i < self.eod_id]
        return self._encoding.decode(restored, errors="replace")


def _find(ids: Sequence[int], target: int, start: int) -> int:
    for position in range(start, len(ids)):
        if ids[position] == target:
            return position
    return -1
