"""Monkey / TextMonkey assembled: the QWen LM, the vision tower and the untied lm_head.

Parameter names equal the upstream checkpoint names (`transformer.wte.weight`, `transformer.h.N.*`,
`transformer.ln_f.weight`, `transformer.visual.*`, `lm_head.weight`), so weights load with no renaming.
Images enter on the first step only: each `<img>`…`</img>` pair (row-major order over the batch) takes the
embeddings of one image, overwriting positions a+1 … b-1; `<img>`/`</img>` keep their word embeddings.
The model never opens files: pixel tensors come from the adapter's preprocessor (DataLoader workers).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from monkeyeval.models.monkey.qwen import QwenConfig, QwenModel
from monkeyeval.models.weights import load_streaming

VISUAL_PREFIX = "transformer.visual."
# Constants some upstream QWen checkpoints carry that the code recomputes (upstream ignores them on load too).
DERIVED_TENSORS = re.compile(
    r"^transformer\.(h\.\d+\.attn\.(masked_bias|bias|rotary_emb\.inv_freq)|rotary_emb\.inv_freq)$"
)


class MonkeyForCausalLM(nn.Module):
    """Language model + optional vision tower (`transformer.visual`) + lm_head."""

    def __init__(self, config: dict[str, Any], visual: nn.Module | None = None) -> None:
        super().__init__()
        self.config = config
        self.lm_config = QwenConfig.from_dict(config)
        self.image_start_id = int(config["visual"]["image_start_id"])
        self.transformer = QwenModel(self.lm_config)
        if visual is not None:
            self.transformer.add_module("visual", visual)
        self.lm_head = nn.Linear(self.lm_config.hidden_size, self.lm_config.vocab_size, bias=False)

    @property
    def has_visual(self) -> bool:
        """Whether a vision tower is attached."""
        return "visual" in self.transformer._modules

    def load_checkpoint_weights(self, folder: Path, device: torch.device | str = "cpu") -> None:
        """Fill every tensor from the checkpoint folder; every checkpoint tensor must be consumed.

        Tensors still on the meta device are materialised on `device` in their own dtype, shard by shard
        (`weights.load_streaming`); materialised ones are copied into. Without a vision tower attached
        (language-model-only use), `transformer.visual.*` tensors are deliberately skipped; so are
        recomputed constants (`DERIVED_TENSORS`: attention mask buffers, rotary inv_freq). Every other
        tensor is checked both ways.
        """
        skip_visual = not self.has_visual

        def rename(key: str) -> str | None:
            if DERIVED_TENSORS.match(key) or (skip_visual and key.startswith(VISUAL_PREFIX)):
                return None
            return key

        load_streaming(self, folder, device, rename=rename, source=str(folder))

    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Vision tower once per image: (N, 3, H, W) -> (N, n_image_tokens, hidden)."""
        if not self.has_visual:
            raise RuntimeError("this model was built without a vision tower")
        visual = self.transformer.get_submodule("visual")
        result: torch.Tensor = visual(pixel_values)
        return result

    def image_slots(self, input_ids: torch.Tensor) -> list[tuple[int, int, int]]:
        """(row, a, b) for every `<img>` at a and `</img>` at b, in row-major order (as upstream)."""
        starts = (input_ids == self.image_start_id).nonzero().tolist()
        ends = (input_ids == self.image_start_id + 1).nonzero().tolist()
        if len(starts) != len(ends) or any(s[0] != e[0] for s, e in zip(starts, ends, strict=False)):
            raise ValueError("every <img> needs a matching </img> in the same row")
        return [(s[0], s[1], e[1]) for s, e in zip(starts, ends, strict=True)]

    def embed(self, input_ids: torch.Tensor, image_embeds: torch.Tensor | None) -> torch.Tensor:
        """Word embeddings with every image span's slots a+1 … b-1 overwritten by its image's tokens."""
        hidden = self.transformer.wte(input_ids)
        slots = self.image_slots(input_ids)
        if not slots:
            return hidden
        if image_embeds is None:
            raise ValueError(f"the prompt has {len(slots)} <img> span(s) but no image embeddings were given")
        if image_embeds.shape[0] != len(slots):
            raise ValueError(f"{len(slots)} <img> spans but {image_embeds.shape[0]} image embeddings")
        hidden = hidden.clone()
        for index, (row, start, end) in enumerate(slots):
            width = end - start - 1
            if width != image_embeds.shape[1]:
                raise ValueError(
                    f"<img> span of {width} slots but the vision tower gives {image_embeds.shape[1]} tokens: "
                    "the tokenizer's image span must equal the number of image tokens"
                )
            hidden[row, start + 1 : end] = image_embeds[index].to(hidden.dtype)
        return hidden
