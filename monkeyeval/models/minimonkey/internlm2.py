"""InternLM2 causal LM (the `llm_config` of Mini-Monkey / InternVL2-2B), with a preallocated KV cache, SDPA.

Parameter names follow the upstream checkpoint (`model.tok_embeddings`, `model.layers.<i>.attention.wqkv`,
..., `output`). Semantics pinned by the parity fixture:

- `wqkv` output rows are grouped per KV head as `[q_0 .. q_{g-1}, k, v]` (g = heads / kv_heads), each
  head_dim wide; query head h uses KV head h // g.
- RoPE: rotate-half, `inv_freq = theta^(-2k/d)` in float32, cos/sin computed in float32 and cast to the
  activation dtype. `rope_scaling` `dynamic` rescales the base only when the key length exceeds
  `max_position_embeddings` (upstream's cached table makes that choice sticky across calls; here it is
  decided per call from the current key length, which is identical for every sequence below the limit).
  `linear` divides the positions by the factor.
- RMSNorm in float32, SwiGLU `w2(silu(w1 x) * w3 x)`, final RMSNorm, untied `output` head.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from monkeyeval.models.decoding.cache import KVCache, RowCache
from monkeyeval.models.decoding.layers import RMSNorm, rotate_half
from monkeyeval.models.decoding.masks import allowed_keys


@dataclass(frozen=True)
class InternLM2Config:
    """The fields of upstream `InternLM2Config` that change the forward pass."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    max_position_embeddings: int = 2048
    rope_scaling: dict[str, Any] | None = field(default=None, hash=False)
    bias: bool = False
    hidden_act: str = "silu"

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> InternLM2Config:
        """Build from the `llm_config` block of config.json (unknown keys are ignored)."""
        config = cls(**{name: raw[name] for name in cls.__dataclass_fields__ if name in raw})
        if config.hidden_act != "silu":
            raise ValueError(f"llm_config.hidden_act {config.hidden_act!r}: only 'silu' is supported")
        if config.hidden_size % config.num_attention_heads:
            raise ValueError("llm_config.hidden_size must be divisible by num_attention_heads")
        if config.num_attention_heads % config.num_key_value_heads:
            raise ValueError("llm_config.num_attention_heads must be a multiple of num_key_value_heads")
        if config.rope_scaling is not None and config.rope_scaling.get("type") not in ("dynamic", "linear"):
            raise ValueError(f"llm_config.rope_scaling {config.rope_scaling}: type must be dynamic or linear")
        return config

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.hidden_size // self.num_attention_heads


class RotaryEmbedding(nn.Module):
    """cos/sin for given positions (rotate-half convention), with InternLM2's dynamic/linear scaling."""

    def __init__(self, config: InternLM2Config) -> None:
        super().__init__()
        self.dim = config.head_dim
        self.base = float(config.rope_theta)
        self.max_positions = config.max_position_embeddings
        scaling = config.rope_scaling or {}
        self.scaling_type = scaling.get("type")
        self.factor = float(scaling.get("factor", 1.0))

    def _inv_freq(self, key_length: int, device: torch.device) -> torch.Tensor:
        base = self.base
        if self.scaling_type == "dynamic" and key_length > self.max_positions:
            ratio = self.factor * key_length / self.max_positions - (self.factor - 1)
            base = self.base * ratio ** (self.dim / (self.dim - 2))
        exponents = torch.arange(0, self.dim, 2, device=device).float() / self.dim
        return 1.0 / (base**exponents)

    def forward(
        self, position_ids: torch.Tensor, key_length: int, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin of shape (B, T, head_dim) for `position_ids` (B, T)."""
        inv_freq = self._inv_freq(key_length, position_ids.device)
        positions = position_ids.float()
        if self.scaling_type == "linear":
            positions = positions / self.factor
        freqs = positions[..., None] * inv_freq
        angles = torch.cat([freqs, freqs], dim=-1)
        return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate `x` (B, H, T, D) by cos/sin (B, T, D)."""
    return x * cos[:, None] + rotate_half(x) * sin[:, None]


@dataclass
class AttentionContext:
    """What every layer of one forward call shares: rotary tables, mask and cache."""

    cos: torch.Tensor
    sin: torch.Tensor
    mask: torch.Tensor | None  # bool (B, 1, T, S), True = may attend; None with is_causal or a single query
    is_causal: bool
    cache: KVCache | RowCache | None


class InternLM2Attention(nn.Module):
    """Grouped-query attention with the fused, per-KV-head grouped `wqkv` projection."""

    def __init__(self, config: InternLM2Config) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = config.num_key_value_heads
        self.groups = self.num_heads // self.num_kv_heads
        self.head_dim = config.head_dim
        self.wqkv = nn.Linear(
            config.hidden_size, (self.num_heads + 2 * self.num_kv_heads) * self.head_dim, bias=config.bias
        )
        self.wo = nn.Linear(self.num_heads * self.head_dim, config.hidden_size, bias=config.bias)

    def project(
        self, hidden: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rotated queries (B, H, T, D), rotated keys and values (B, KV, T, D)."""
        batch, length, _ = hidden.shape
        qkv = self.wqkv(hidden).view(batch, length, self.num_kv_heads, self.groups + 2, self.head_dim)
        query = qkv[..., : self.groups, :].reshape(batch, length, self.num_heads, self.head_dim)
        key, value = qkv[..., -2, :], qkv[..., -1, :]
        query, key, value = (t.transpose(1, 2) for t in (query, key, value))
        return apply_rotary(query, cos, sin), apply_rotary(key, cos, sin), value

    def forward(self, hidden: torch.Tensor, layer: int, context: AttentionContext) -> torch.Tensor:
        batch, length, _ = hidden.shape
        query, key, value = self.project(hidden, context.cos, context.sin)
        if context.cache is not None:
            key, value = context.cache.store(layer, key, value)
        out = F.scaled_dot_product_attention(
            query, key, value, attn_mask=context.mask, is_causal=context.is_causal, enable_gqa=self.groups > 1
        )
        return self.wo(out.transpose(1, 2).reshape(batch, length, self.num_heads * self.head_dim))

    def causal_probs(
        self, hidden: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, first_query: int
    ) -> torch.Tensor:
        """Eager causal softmax weights (B, H, L - first_query, L) of queries `first_query..L-1` (no padding).

        Scores are `q k^T / sqrt(d)` in the activation dtype, softmax in float32, cast back (as upstream).
        """
        length = hidden.shape[1]
        query, key, _ = self.project(hidden, cos, sin)
        key = key.repeat_interleave(self.groups, dim=1)
        query = query[:, :, first_query:]
        scores = torch.matmul(query, key.transpose(2, 3)) / math.sqrt(self.head_dim)
        rows = torch.arange(first_query, length, device=hidden.device)[:, None]
        cols = torch.arange(length, device=hidden.device)[None, :]
        scores = scores.masked_fill(cols > rows, torch.finfo(scores.dtype).min)
        return F.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)


class InternLM2MLP(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x)."""

    def __init__(self, config: InternLM2Config) -> None:
        super().__init__()
        self.w1 = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.w3 = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.w2 = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(hidden)) * self.w3(hidden))


class InternLM2DecoderLayer(nn.Module):
    """Pre-norm attention and feed-forward blocks."""

    def __init__(self, config: InternLM2Config) -> None:
        super().__init__()
        self.attention = InternLM2Attention(config)
        self.feed_forward = InternLM2MLP(config)
        self.attention_norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.ffn_norm = RMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(self, hidden: torch.Tensor, layer: int, context: AttentionContext) -> torch.Tensor:
        hidden = hidden + self.attention(self.attention_norm(hidden), layer, context)
        return hidden + self.feed_forward(self.ffn_norm(hidden))


class InternLM2Model(nn.Module):
    """Token embeddings, decoder layers and the final norm."""

    def __init__(self, config: InternLM2Config) -> None:
        super().__init__()
        self.tok_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(InternLM2DecoderLayer(config) for _ in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)


def build_mask(
    key_valid: torch.Tensor | None, query_length: int, past_length: int
) -> tuple[torch.Tensor | None, bool]:
    """The attention mask for queries at `past_length..past_length+query_length-1` over all keys so far.

    `key_valid` (B, S) marks real (non-padding) keys, or None when nothing is padded. Returns (mask,
    is_causal): without padding the mask is implicit (SDPA's is_causal, or nothing for one query per
    row). A padding query may always attend to itself, so no row is fully masked (its output is unused).
    """
    if key_valid is None or bool(key_valid.all()):
        if query_length == 1:
            return None, False
        if past_length == 0:
            return None, True
    total = past_length + query_length
    device = key_valid.device if key_valid is not None else torch.device("cpu")
    allowed = allowed_keys(key_valid, query_length, total, device)
    diagonal = torch.arange(past_length, total, device=device)[:, None] == torch.arange(total, device=device)
    return allowed | diagonal[None, None], False


class InternLM2ForCausalLM(nn.Module):
    """InternLM2 with an untied output head; forward returns the logits of the last position only."""

    def __init__(self, config: InternLM2Config) -> None:
        super().__init__()
        self.config = config
        self.model = InternLM2Model(config)
        self.output = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.rotary = RotaryEmbedding(config)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Token embeddings (B, T, hidden)."""
        return self.model.tok_embeddings(input_ids)

    def new_cache(self, batch: int, capacity: int, like: torch.Tensor) -> KVCache:
        """An empty KV cache for `batch` rows of up to `capacity` positions, on `like`'s device and dtype."""
        config = self.config
        shape = (batch, config.num_key_value_heads, capacity, config.head_dim)
        return KVCache(config.num_hidden_layers, shape, like.device, like.dtype)

    def context(
        self,
        position_ids: torch.Tensor,
        dtype: torch.dtype,
        key_valid: torch.Tensor | None = None,
        cache: KVCache | RowCache | None = None,
    ) -> AttentionContext:
        """Rotary tables and mask for one forward call of `position_ids.shape[1]` new positions."""
        past = cache.length if cache is not None else 0
        length = position_ids.shape[1]
        cos, sin = self.rotary(position_ids, past + length, dtype)
        mask, is_causal = build_mask(key_valid, length, past)
        return AttentionContext(cos=cos, sin=sin, mask=mask, is_causal=is_causal, cache=cache)

    def hidden_states(
        self,
        inputs_embeds: torch.Tensor,
        position_ids: torch.Tensor,
        key_valid: torch.Tensor | None = None,
        cache: KVCache | RowCache | None = None,
        keep_layer_outputs: bool = False,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Final-normed hidden states (B, T, hidden), plus every layer's output when asked (before the norm).

        `key_valid` (B, past+T) marks non-padding positions; the cache (if any) advances by T.
        """
        context = self.context(position_ids, inputs_embeds.dtype, key_valid, cache)
        hidden = inputs_embeds
        layer_outputs: list[torch.Tensor] = []
        for index, layer in enumerate(self.model.layers):
            hidden = layer(hidden, index, context)
            if keep_layer_outputs:
                layer_outputs.append(hidden)
        if cache is not None:
            cache.length += inputs_embeds.shape[1]
        return self.model.norm(hidden), layer_outputs

    def forward(
        self,
        inputs_embeds: torch.Tensor,
        position_ids: torch.Tensor,
        key_valid: torch.Tensor | None = None,
        cache: KVCache | RowCache | None = None,
    ) -> torch.Tensor:
        """Float32 logits (B, vocab) of the last position."""
        hidden, _ = self.hidden_states(inputs_embeds, position_ids, key_valid, cache)
        return self.output(hidden[:, -1]).float()
