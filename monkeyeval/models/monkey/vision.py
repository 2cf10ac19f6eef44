"""The Monkey vision tower: the Qwen-VL ViT with per-window LoRA (TextMonkey's is `textmonkey_vision.py`).

Monkey (`monkey_model/visual.py` + `modeling_monkey.py` at upstream commit 498e1d9): the normalised 896x896
image is cut into four 448x448 windows, row-major; window k runs the ViT with LoRA adapter k; the global
view (bicubic 448x448 of the normalised float32 tensor) runs it without LoRA. Each view is pooled to 256
tokens by the resampler, then `ln_post` and `@ proj`. Output per image: [win0, win1, win2, win3, global],
1280 tokens of `output_dim`. All views of all images go through the tower in one batch.

Parameter names equal the checkpoint's `transformer.visual.*` names without that prefix.
"""

from __future__ import annotations

from typing import Any

import torch

from monkeyeval.models.monkey.vision_vit import QwenViT, ViTConfig


class MonkeyVisual(QwenViT):
    """Monkey / Monkey-Chat vision tower: pixel_values (B, 3, 896, 896) -> (B, 5 * n_queries, output_dim)."""

    def __init__(self, config: ViTConfig) -> None:
        n_windows = config.windows_per_side**2
        if config.lora_repeat_num < n_windows:
            raise ValueError(
                f"config.visual.lora_repeat_num is {config.lora_repeat_num}: Monkey applies LoRA adapter k "
                f"to window k, so it needs at least {n_windows} adapters"
            )
        super().__init__(config)
        self.view_adapters: tuple[int | None, ...] = (*range(n_windows), None)

    @classmethod
    def from_visual_config(cls, visual: dict[str, Any]) -> MonkeyVisual:
        """The tower for config.json's `visual` section, randomly initialised (fill it with load_strict)."""
        return cls(ViTConfig.from_visual(visual, default_lora=4, n_queries=None))

    @property
    def n_image_tokens(self) -> int:
        return len(self.view_adapters) * self.config.n_queries

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        pixels = pixel_values.to(device=self.compute_device, dtype=torch.float32)
        views = [*self.window_views(pixels), self.global_view(pixels)]
        stacked = torch.cat(views, dim=0).to(self.compute_dtype)
        tokens = self.tokens_from_patch_grid(self.conv1(stacked))
        for block in self.transformer.resblocks:
            tokens = block(tokens, self.view_adapters)
        return self.image_major(self.pool(tokens), len(views))
