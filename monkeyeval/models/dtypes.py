"""Names for the weight dtypes `--dtype` accepts (each family has its own `auto` rule)."""

from __future__ import annotations

import torch

DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
}
UNKNOWN_DTYPE = "unknown dtype {name!r}; use auto, bf16, fp16 or fp32"


def named_dtype(name: str) -> torch.dtype | None:
    """The torch dtype for a name such as `bf16` or `bfloat16`; None when the name is unknown."""
    return DTYPES.get(name)
