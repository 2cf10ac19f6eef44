"""The one attention-mask rule: a query may see earlier-or-same positions whose key is a real token."""

from __future__ import annotations

import torch


def allowed_keys(
    key_valid: torch.Tensor | None, query_length: int, total: int, device: torch.device
) -> torch.Tensor:
    """Bool (B or 1, 1, T, K): True where the query (the last T of K positions) may attend to the key.

    `key_valid` (B, >= K) marks real (non-padding) keys, or None when nothing is padded. Each family turns
    this into what its upstream used (Qwen: an additive finfo.min bias; InternLM2: a boolean mask in which a
    padding query also sees itself).
    """
    rows = torch.arange(total - query_length, total, device=device)[:, None]
    cols = torch.arange(total, device=device)[None, :]
    allowed = (cols <= rows)[None, None]
    if key_valid is not None:
        allowed = allowed & key_valid[:, None, None, :total].bool()
    return allowed
