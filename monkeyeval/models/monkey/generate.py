"""Batched greedy generation for Monkey / TextMonkey, as upstream's transformers 4.32 greedy search.

Step 0 runs the whole left-padded prompt (image embeddings inserted) and fills a KV cache; the shared loop
(`models.decoding.greedy`) then feeds one token per row through `MonkeySteps`. eos = pad = eod: a row that
emitted eod is fed eod afterwards (its attention mask still grows by one, as in transformers). See `qwen.py`
for the two position modes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from monkeyeval.models.decoding.cache import KVCache
from monkeyeval.models.decoding.greedy import GreedyConfig, greedy_decode
from monkeyeval.models.monkey.model import MonkeyForCausalLM
from monkeyeval.models.monkey.qwen import ntk_alpha_for_length


@dataclass
class GenerationOutput:
    """Per row: new ids (up to and including the first eod), their count, and whether the budget ran out.

    `step_logits` holds float32 (B, vocab) raw logits per step when requested (tests, debugging).
    `ntk_alphas` are the NTK alphas used per row.
    """

    new_ids: list[list[int]]
    n_new_tokens: list[int]
    hit_max_new_tokens: list[bool]
    ntk_alphas: list[float]
    step_logits: list[torch.Tensor] = field(default_factory=list)


def first_step_positions(
    model: MonkeyForCausalLM, attention_mask: torch.Tensor, padding_aware: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """(positions (B, L), NTK alphas (B,)) for the prompt step in the chosen position mode."""
    config = model.lm_config
    batch, length = attention_mask.shape
    device = attention_mask.device
    if padding_aware:
        positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        lengths = attention_mask.long().sum(-1).clamp(min=1).tolist()
    else:
        positions = torch.arange(length, device=device).expand(batch, length)
        lengths = [length] * batch
    if config.use_dynamic_ntk:
        alphas = [ntk_alpha_for_length(n, config.seq_length) for n in lengths]
    else:
        alphas = [1.0] * batch
    return positions, torch.tensor(alphas, dtype=torch.float64)


@dataclass
class MonkeySteps:
    """The decoding state after the prompt step: one token per row per call (a `StepDecoder`)."""

    model: MonkeyForCausalLM
    cache: KVCache
    key_mask: torch.Tensor  # (B, K) 1 for real tokens over every position so far
    last_position: torch.Tensor  # (B,)
    alphas: torch.Tensor  # (B,) NTK alpha per row, fixed by the prompt
    padding_aware: bool

    def next_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed `tokens` (B,); positions advance per row (padding-aware) or follow the padded length (raw)."""
        batch = tokens.shape[0]
        self.key_mask = torch.cat([self.key_mask, self.key_mask.new_ones(batch, 1)], dim=1)
        if self.padding_aware:
            self.last_position = self.last_position + 1
        else:
            self.last_position = torch.full_like(self.last_position, self.key_mask.shape[1] - 1)
        hidden = self.model.transformer.wte(tokens[:, None])
        out = self.model.transformer(
            hidden, self.key_mask, self.last_position[:, None], self.alphas, self.cache
        )
        return self.model.lm_head(out[:, -1])


@torch.inference_mode()
def greedy_generate(
    model: MonkeyForCausalLM,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    image_embeds: torch.Tensor | None,
    eod_id: int,
    max_new_tokens: int,
    min_new_tokens: int = 1,
    padding_aware_positions: bool = False,
    keep_step_logits: bool = False,
) -> GenerationOutput:
    """Greedy decoding of a left-padded batch; `image_embeds` (N_spans, n_tokens, hidden) or None."""
    config = GreedyConfig(max_new_tokens, eod_id, eod_id, min_new_tokens, keep_step_logits)
    batch, length = input_ids.shape
    positions, alphas = first_step_positions(model, attention_mask, padding_aware_positions)
    hidden = model.embed(input_ids, image_embeds)
    cache = model.transformer.new_cache(batch, length + max_new_tokens, hidden)
    key_mask = attention_mask.to(device=input_ids.device, dtype=torch.long)
    out = model.transformer(hidden, key_mask, positions, alphas, cache)
    steps = MonkeySteps(model, cache, key_mask, positions[:, -1], alphas, padding_aware_positions)
    result = greedy_decode(model.lm_head(out[:, -1]), steps, config)
    return GenerationOutput(
        new_ids=result.token_ids,
        n_new_tokens=[len(ids) for ids in result.token_ids],
        hit_max_new_tokens=result.hit_max_new_tokens,
        ntk_alphas=alphas.tolist(),
        step_logits=result.step_logits,
    )
