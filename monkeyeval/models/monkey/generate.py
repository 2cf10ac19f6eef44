"""Batched greedy generation for Monkey / TextMonkey, as upstream's transformers 4.32 greedy search.

Step 0 runs the whole left-padded prompt (image embeddings inserted) and fills a KV cache; each later step
feeds one token per row. eos = pad = eod: the eod logit is -inf while fewer than `min_new_tokens` tokens
exist, a row that emitted eod is finished and is fed eod afterwards (its attention mask still grows by
one, as in transformers), and generation stops when every row is finished or after `max_new_tokens`.
Argmax takes the first index on ties. See `qwen.py` for the two position modes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

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
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    batch, length = input_ids.shape
    device = input_ids.device
    positions, alphas = first_step_positions(model, attention_mask, padding_aware_positions)
    hidden = model.embed(input_ids, image_embeds)
    cache = model.transformer.new_cache(batch, length + max_new_tokens, hidden)
    key_mask = attention_mask.to(device=device, dtype=torch.long)
    out = model.transformer(hidden, key_mask, positions, alphas, cache)
    logits = model.lm_head(out[:, -1])
    last_position = positions[:, -1]

    generated = torch.empty(batch, 0, dtype=torch.long, device=device)
    unfinished = torch.ones(batch, dtype=torch.bool, device=device)
    step_logits: list[torch.Tensor] = []
    for step in range(max_new_tokens):
        if keep_step_logits:
            step_logits.append(logits.float().cpu())
        scores = logits.clone()
        if step < min_new_tokens:
            scores[:, eod_id] = -float("inf")
        next_tokens = scores.argmax(dim=-1)
        next_tokens = torch.where(unfinished, next_tokens, torch.full_like(next_tokens, eod_id))
        generated = torch.cat([generated, next_tokens[:, None]], dim=1)
        unfinished &= next_tokens != eod_id
        if step + 1 == max_new_tokens or not bool(unfinished.any()):
            break
        key_mask = torch.cat([key_mask, key_mask.new_ones(batch, 1)], dim=1)
        if padding_aware_positions:
            last_position = last_position + 1
        else:
            last_position = torch.full_like(last_position, key_mask.shape[1] - 1)
        step_hidden = model.transformer.wte(next_tokens[:, None])
        out = model.transformer(step_hidden, key_mask, last_position[:, None], alphas, cache)
        logits = model.lm_head(out[:, -1])

    return _collect(generated.tolist(), eod_id, max_new_tokens, alphas.tolist(), step_logits)


def _collect(
    rows: list[list[int]], eod_id: int, max_new_tokens: int, alphas: list[float], logits: list[torch.Tensor]
) -> GenerationOutput:
    new_ids: list[list[int]] = []
    hit_max: list[bool] = []
    for row in rows:
        if eod_id in row:
            new_ids.append(row[: row.index(eod_id) + 1])
            hit_max.append(False)
        else:
            new_ids.append(row)
            hit_max.append(len(row) >= max_new_tokens)
    return GenerationOutput(
        new_ids=new_ids,
        n_new_tokens=[len(ids) for ids in new_ids],
        hit_max_new_tokens=hit_max,
        ntk_alphas=alphas,
        step_logits=logits,
    )
