"""`--dtype`: the names it accepts and the one rule (each family says what `auto` means on a GPU)."""

from __future__ import annotations

import torch

from monkeyeval.core.errors import UserError

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


class DtypeError(UserError, ValueError):
    """A `--dtype` name that is not one of auto, bf16, fp16, fp32."""


def resolve_dtype(requested: str, device: str, auto_on_gpu: torch.dtype) -> torch.dtype:
    """An explicit name as given; `auto` is float32 on the CPU and the family's `auto_on_gpu` elsewhere."""
    if requested != "auto":
        dtype = named_dtype(requested)
        if dtype is None:
            raise DtypeError(UNKNOWN_DTYPE.format(name=requested))
        return dtype
    return torch.float32 if torch.device(device).type == "cpu" else auto_on_gpu
