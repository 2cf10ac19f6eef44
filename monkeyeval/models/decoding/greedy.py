"""The one greedy decoding loop (transformers' greedy search semantics, as both upstreams ran it).

Each step: record the raw logits (when asked), block `eos_id` while fewer than `min_new_tokens` tokens exist,
take the argmax (the first index on ties), feed `fill_id` to rows that already stopped, and stop when every
row has emitted `eos_id` or after `max_new_tokens` steps. A row's tokens run up to and including its eos.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch


class StepDecoder(Protocol):
    """A model mid-generation: feeds one token per row and returns the logits of the next position."""

    def next_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """`tokens` (B,) -> logits (B, vocab); extends the KV cache, the key mask and the positions."""
        ...


@dataclass(frozen=True)
class GreedyConfig:
    """Limits and token ids of one greedy decode."""

    max_new_tokens: int
    eos_id: int
    fill_id: int  # fed to rows that already emitted eos (eod for Monkey, pad for Mini-Monkey)
    min_new_tokens: int = 0
    keep_step_logits: bool = False

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")


@dataclass
class GreedyResult:
    """Per row: new token ids (eos included when hit), whether eos stopped it, whether the budget ran out.

    `step_logits` holds one float32 (B, vocab) CPU tensor per step run, the raw logits before eos blocking
    (kept only when `keep_step_logits`; tests and debugging).
    """

    token_ids: list[list[int]]
    stopped_on_eos: list[bool]
    hit_max_new_tokens: list[bool]
    step_logits: list[torch.Tensor] = field(default_factory=list)


@torch.inference_mode()
def greedy_decode(first_logits: torch.Tensor, decoder: StepDecoder, config: GreedyConfig) -> GreedyResult:
    """Greedy decoding from the prompt's last-position logits (B, vocab)."""
    logits = first_logits
    unfinished = torch.ones(logits.shape[0], dtype=torch.bool, device=logits.device)
    chosen: list[torch.Tensor] = []
    step_logits: list[torch.Tensor] = []
    for step in range(config.max_new_tokens):
        if config.keep_step_logits:
            step_logits.append(logits.float().cpu())
        scores = logits
        if step < config.min_new_tokens:
            scores = logits.clone()
            scores[:, config.eos_id] = -float("inf")
        tokens = scores.argmax(dim=-1)
        tokens = torch.where(unfinished, tokens, torch.full_like(tokens, config.fill_id))
        chosen.append(tokens)
        unfinished &= tokens != config.eos_id
        if step + 1 == config.max_new_tokens or not bool(unfinished.any()):
            break
        logits = decoder.next_logits(tokens)
    return _rows(torch.stack(chosen, dim=1).tolist(), config, step_logits)


def _rows(rows: list[list[int]], config: GreedyConfig, step_logits: list[torch.Tensor]) -> GreedyResult:
    token_ids = [row[: row.index(config.eos_id) + 1] if config.eos_id in row else row for row in rows]
    stopped = [bool(ids) and ids[-1] == config.eos_id for ids in token_ids]
    hit_max = [
        not stop and len(ids) >= config.max_new_tokens for ids, stop in zip(token_ids, stopped, strict=True)
    ]
    return GreedyResult(token_ids, stopped, hit_max, step_logits)
