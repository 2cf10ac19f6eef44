"""The one KV cache: preallocated keys/values per layer, filled left to right (or one row at a time)."""

from __future__ import annotations

import torch


class KVCache:
    """Keys/values per layer, (B, heads, capacity, head_dim); `length` positions are filled.

    Zero-initialised, so never-written slots (a left-padded row prefilled on its own) hold finite values that
    the attention mask hides.
    """

    def __init__(
        self,
        n_layers: int,
        shape: tuple[int, int, int, int],
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(n_layers)]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(n_layers)]
        self.capacity = shape[2]
        self.length = 0

    def store(self, layer: int, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write this call's keys/values (B, heads, T, D) after the filled part; return every one so far."""
        start, end = self.length, self.length + key.shape[2]
        if end > self.capacity:
            raise RuntimeError(f"KV cache full: {end} positions needed, capacity {self.capacity}")
        self.keys[layer][:, :, start:end] = key
        self.values[layer][:, :, start:end] = value
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def row(self, row: int, start: int) -> RowCache:
        """A view that fills one row from position `start` on (prefilling a left-padded row on its own)."""
        return RowCache(self, row, start)


class RowCache:
    """One row of a KVCache, written from `start`; `length` counts the positions written through this view."""

    def __init__(self, cache: KVCache, row: int, start: int) -> None:
        self.cache = cache
        self.row = row
        self.start = start
        self.length = 0

    def store(self, layer: int, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write this row's keys/values (1, heads, T, D) after what it holds; return all of the row's."""
        begin = self.start + self.length
        end = begin + key.shape[2]
        if key.shape[0] != 1 or end > self.cache.capacity:
            raise RuntimeError(f"row cache: {tuple(key.shape)} at {begin} does not fit {self.cache.capacity}")
        rows = slice(self.row, self.row + 1)
        self.cache.keys[layer][rows, :, begin:end] = key
        self.cache.values[layer][rows, :, begin:end] = value
        return self.cache.keys[layer][rows, :, self.start : end], self.cache.values[layer][
            rows, :, self.start : end
        ]
