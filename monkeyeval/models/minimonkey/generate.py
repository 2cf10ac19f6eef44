"""Greedy generation for Mini-Monkey: vision features, image-token overwrite, optional SCM, left-padded batch.

Batching follows upstream `batch_chat` under transformers 4.37: left padding with an attention mask and
padding-aware positions (`cumsum(mask) - 1`), so each row sees exactly the positions and keys it would see
alone. Each row's prompt is prefilled on its own (no padding work, the same arithmetic as a batch of one),
straight into its left-padded slot of the shared KV cache; the decoding steps then run as one batch with a
padding mask, which matches one-at-a-time generation up to float rounding. SCM (upstream supports it for a
single sample only) is applied per sample before padding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from monkeyeval.models.decoding.cache import KVCache
from monkeyeval.models.decoding.greedy import GreedyConfig, greedy_decode
from monkeyeval.models.minimonkey.internlm2 import InternLM2ForCausalLM
from monkeyeval.models.minimonkey.model import MiniMonkeyForCausalLM


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt: token ids (L,), its tiles (N, 3, H, W) or None, and the primary grid's tile count (SCM).

    `image_features` (N, 256, C), when given, replaces the ViT pass (upstream's `visual_features`).
    """

    input_ids: torch.Tensor
    pixel_values: torch.Tensor | None
    primary_tiles: int = 1
    use_scm: bool = False
    image_features: torch.Tensor | None = None


@dataclass
class GenerationResult:
    """New token ids (eos included when hit), whether eos stopped it, and optionally the step logits.

    `step_logits`: this row's raw float32 logits of each step that produced one of its tokens.
    """

    token_ids: list[int]
    stopped_on_eos: bool
    step_logits: list[torch.Tensor] = field(default_factory=list)
    kept_positions: torch.Tensor | None = None


@dataclass(frozen=True)
class GreedySettings:
    """Token ids and limits for greedy decoding (`pad_id` is fed to rows that already stopped)."""

    max_new_tokens: int
    eos_id: int
    pad_id: int
    img_context_id: int
    min_new_tokens: int = 0
    vision_batch: int = 64
    keep_logits: bool = False


def vision_features(
    model: MiniMonkeyForCausalLM, requests: Sequence[GenerationRequest], chunk: int
) -> list[torch.Tensor | None]:
    """(N_i, 256, C) image embeddings per request, computing the ViT over all tiles in chunks of `chunk`."""
    pending = [r for r in requests if r.image_features is None and r.pixel_values is not None]
    features = torch.empty(0)
    if pending:
        stacked = torch.cat([r.pixel_values for r in pending if r.pixel_values is not None])
        parts = [model.extract_feature(stacked[i : i + chunk]) for i in range(0, stacked.shape[0], chunk)]
        features = torch.cat(parts)
    out: list[torch.Tensor | None] = []
    offset = 0
    for request in requests:
        if request.image_features is not None:
            out.append(request.image_features.to(model.device, model.dtype))
            continue
        if request.pixel_values is None:
            out.append(None)
            continue
        count = request.pixel_values.shape[0]
        out.append(features[offset : offset + count])
        offset += count
    return out


def prompt_embeddings(
    model: MiniMonkeyForCausalLM,
    request: GenerationRequest,
    features: torch.Tensor | None,
    settings: GreedySettings,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(L', C) input embeddings of one request after the image overwrite and SCM, and SCM's kept positions."""
    embeds = model.embed_with_images(request.input_ids, features, settings.img_context_id)
    if not request.use_scm or features is None:
        return embeds, None
    image_positions = (request.input_ids == settings.img_context_id).nonzero()
    start = int(image_positions[0, 0])
    high = request.primary_tiles * model.config.tokens_per_tile
    kept = model.scm_kept_positions(embeds, start, high)
    return embeds[kept], kept


@dataclass
class MiniMonkeySteps:
    """The decoding state after the per-row prefill: one token per row per call (a `StepDecoder`)."""

    lm: InternLM2ForCausalLM
    cache: KVCache
    key_valid: torch.Tensor | None  # (B, K) real keys so far, None when no row is padded
    next_positions: torch.Tensor  # (B, 1) padding-aware position of the next token

    def next_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed `tokens` (B,) at each row's own next position."""
        if self.key_valid is not None:
            grown = torch.ones(tokens.shape[0], 1, dtype=torch.bool, device=self.key_valid.device)
            self.key_valid = torch.cat([self.key_valid, grown], dim=1)
        logits = self.lm(self.lm.embed(tokens[:, None]), self.next_positions, self.key_valid, self.cache)
        self.next_positions = self.next_positions + 1
        return logits


@torch.inference_mode()
def greedy_generate(
    model: MiniMonkeyForCausalLM, requests: Sequence[GenerationRequest], settings: GreedySettings
) -> list[GenerationResult]:
    """Greedy decoding with a KV cache; stops a row at eos (kept in its output) or after max_new_tokens."""
    if not requests:
        return []
    config = GreedyConfig(
        settings.max_new_tokens,
        settings.eos_id,
        settings.pad_id,
        settings.min_new_tokens,
        settings.keep_logits,
    )
    features = vision_features(model, requests, settings.vision_batch)
    prompts = [prompt_embeddings(model, r, f, settings) for r, f in zip(requests, features, strict=True)]
    device = model.device
    lm = model.language_model
    lengths = [p[0].shape[0] for p in prompts]
    batch, length = len(prompts), max(lengths)
    cache = lm.new_cache(batch, length + settings.max_new_tokens, prompts[0][0])
    valid = torch.zeros(batch, length, dtype=torch.bool, device=device)
    first_logits = []
    for row, (embeds, _kept) in enumerate(prompts):
        start = length - embeds.shape[0]
        valid[row, start:] = True
        positions = torch.arange(embeds.shape[0], device=device)[None]
        first_logits.append(lm(embeds[None], positions, None, cache.row(row, start))[0])
    cache.length = length
    key_valid = None if bool(valid.all()) else valid
    steps = MiniMonkeySteps(lm, cache, key_valid, torch.tensor(lengths, device=device)[:, None])
    decoded = greedy_decode(torch.stack(first_logits), steps, config)
    return [
        GenerationResult(
            token_ids=ids,
            stopped_on_eos=stopped,
            step_logits=[step[row] for step in decoded.step_logits[: len(ids)]],
            kept_positions=kept,
        )
        for row, (ids, stopped, (_embeds, kept)) in enumerate(
            zip(decoded.token_ids, decoded.stopped_on_eos, prompts, strict=True)
        )
    ]
