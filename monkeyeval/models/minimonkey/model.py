"""MiniMonkeyForCausalLM: InternViT -> pixel shuffle (0.5) -> mlp1 -> InternLM2, loaded from upstream files.

`extract_feature` turns (N, 3, 448, 448) tiles into (N, 256, C_llm) embeddings in tile order;
`embed_with_images` writes them over the `<IMG_CONTEXT>` positions (tile-major, then token-major);
`scm_kept_positions` is the optional scale compression mechanism (upstream eval never enables it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from monkeyeval.core import jsontext
from monkeyeval.models.detection import MINIMONKEY_ARCHITECTURE
from monkeyeval.models.dtypes import resolve_dtype
from monkeyeval.models.minimonkey.internlm2 import (
    InternLM2Config,
    InternLM2DecoderLayer,
    InternLM2ForCausalLM,
)
from monkeyeval.models.minimonkey.vit import InternVisionConfig, InternVisionModel
from monkeyeval.models.weights import CheckpointError, load_streaming

ARCHITECTURE = MINIMONKEY_ARCHITECTURE
MODEL_TYPE = "internvl_chat"
SCM_KEEP_RATIO = 0.5


@dataclass(frozen=True)
class MiniMonkeyConfig:
    """The top-level `InternVLChatConfig` fields the eval path reads."""

    vision: InternVisionConfig
    llm: InternLM2Config
    image_size: int = 448
    downsample_ratio: float = 0.5
    ps_version: str = "v2"
    select_layer: int = -1
    template: str = "internlm2-chat"
    system_message: str | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config.json") -> MiniMonkeyConfig:
        """Parse a checkpoint's config.json; errors name the file and the offending field."""
        llm_raw = raw.get("llm_config") or {}
        architectures = llm_raw.get("architectures") or ["InternLM2ForCausalLM"]
        if architectures[0] != "InternLM2ForCausalLM":
            raise CheckpointError(
                f"{source}: llm_config.architectures is {architectures}; the native Mini-Monkey supports "
                "InternLM2ForCausalLM only"
            )
        try:
            vision = InternVisionConfig.from_dict(raw["vision_config"])
            llm = InternLM2Config.from_dict(llm_raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"{source}: invalid Mini-Monkey config ({type(exc).__name__}: {exc})"
            ) from exc
        config = cls(
            vision=vision,
            llm=llm,
            image_size=int(raw.get("force_image_size") or vision.image_size),
            downsample_ratio=float(raw.get("downsample_ratio", 0.5)),
            ps_version=str(raw.get("ps_version", "v2")),
            select_layer=int(raw.get("select_layer", -1)),
            template=str(raw.get("template", "internlm2-chat")),
            system_message=raw.get("system_message"),
        )
        if config.downsample_ratio != 0.5:
            raise CheckpointError(
                f"{source}: downsample_ratio {config.downsample_ratio}; only 0.5 is supported"
            )
        if config.ps_version != "v2":
            raise CheckpointError(f"{source}: ps_version {config.ps_version!r}; only 'v2' is supported")
        return config

    @classmethod
    def from_folder(cls, folder: Path) -> MiniMonkeyConfig:
        """Read `<folder>/config.json`."""
        path = folder / "config.json"
        try:
            raw = jsontext.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{path}: cannot read the checkpoint config ({exc})") from exc
        return cls.from_dict(raw, source=str(path))

    @property
    def tokens_per_tile(self) -> int:
        """Image tokens per tile after the pixel shuffle (256 for 448 px, patch 14, ratio 0.5)."""
        grid = self.image_size // self.vision.patch_size
        return int(grid * grid * self.downsample_ratio**2)


def pixel_shuffle_v2(tokens: torch.Tensor) -> torch.Tensor:
    """(N, S*S, C) patch grid -> (N, S*S/4, 4C), ps_version v2.

    Output token i*(S/2)+j is [F(2i,2j), F(2i,2j+1), F(2i+1,2j), F(2i+1,2j+1)] for the row-major grid F.
    """
    count, length, width = tokens.shape
    side = round(length**0.5)
    if side * side != length or side % 2:
        raise ValueError(f"pixel shuffle needs an even square patch grid, got {length} tokens")
    half = side // 2
    grid = tokens.reshape(count, half, 2, half, 2, width)  # (N, i, row offset, j, col offset, C)
    return grid.permute(0, 1, 3, 2, 4, 5).reshape(count, half * half, 4 * width)


class MiniMonkeyForCausalLM(nn.Module):
    """The Mini-Monkey chat model; upstream names (`vision_model.*`, `mlp1.*`, `language_model.*`)."""

    def __init__(self, config: MiniMonkeyConfig) -> None:
        super().__init__()
        self.config = config
        vit_width = config.vision.hidden_size * 4
        llm_width = config.llm.hidden_size
        self.vision_model = InternVisionModel(config.vision)
        self.mlp1 = nn.Sequential(
            nn.LayerNorm(vit_width),
            nn.Linear(vit_width, llm_width),
            nn.GELU(),
            nn.Linear(llm_width, llm_width),
        )
        self.language_model = InternLM2ForCausalLM(config.llm)

    @classmethod
    def from_pretrained(cls, folder: Path, device: str = "cpu", dtype: str = "auto") -> MiniMonkeyForCausalLM:
        """Build from `folder` (config.json + weights): every tensor consumed, every parameter filled.

        Built on the meta device in the target dtype; each tensor is then materialised on `device` straight
        from its shard (`weights.load_streaming`), so no float32 copy and no whole host copy is ever made.
        """
        config = MiniMonkeyConfig.from_folder(folder)
        with torch.device("meta"):
            model = cls(config).to(resolve_dtype(dtype, device, torch.bfloat16))
        load_streaming(model, folder, device, source=str(folder))
        return model.eval()

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the weights (and activations)."""
        return self.language_model.output.weight.dtype

    @property
    def device(self) -> torch.device:
        """Where the weights live."""
        return self.language_model.output.weight.device

    def extract_feature(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(N, 3, 448, 448) tiles -> (N, 256, C_llm) image embeddings (cls dropped, pixel shuffle, mlp1)."""
        tokens = self.vision_model(pixel_values.to(self.device, self.dtype), self.config.select_layer)
        return self.mlp1(pixel_shuffle_v2(tokens[:, 1:, :]))

    def embed_with_images(
        self, input_ids: torch.Tensor, vit_embeds: torch.Tensor | None, img_context_id: int
    ) -> torch.Tensor:
        """Token embeddings (L, C) of one sequence, `<IMG_CONTEXT>` rows replaced by `vit_embeds` in order."""
        embeds = self.language_model.embed(input_ids.to(self.device))
        selected = input_ids.to(self.device) == img_context_id
        count = int(selected.sum())
        supplied = 0 if vit_embeds is None else vit_embeds.shape[0] * vit_embeds.shape[1]
        if count != supplied:
            raise ValueError(
                f"the prompt has {count} <IMG_CONTEXT> tokens but the image gives {supplied} embeddings "
                f"({self.config.tokens_per_tile} per tile)"
            )
        if vit_embeds is not None:
            embeds[selected] = vit_embeds.reshape(-1, embeds.shape[-1]).to(embeds.dtype)
        return embeds

    def scm_kept_positions(self, embeds: torch.Tensor, image_start: int, high: int) -> torch.Tensor:
        """SCM: the positions of a (L, C) sequence kept for generation (upstream `use_scm=True` semantics).

        Layer 1's causal attention of every query after the first `high` image tokens onto those tokens is
        averaged over queries, then heads; the top int(high * 0.5) image positions are kept in order. The
        token right after those `high` positions is dropped too, as upstream does.
        """
        layers = self.language_model.model.layers
        if len(layers) < 2:
            raise ValueError("SCM needs a language model with at least two layers")
        length = embeds.shape[0]
        if image_start + high >= length:
            raise ValueError(
                f"SCM: image block {image_start}+{high} reaches the end of the {length}-token prompt"
            )
        hidden = embeds[None]
        positions = torch.arange(length, device=embeds.device)[None]
        context = self.language_model.context(positions, hidden.dtype)
        hidden = layers[0](hidden, 0, context)
        second = layers[1]
        assert isinstance(second, InternLM2DecoderLayer)
        probs = second.attention.causal_probs(
            second.attention_norm(hidden), context.cos, context.sin, image_start + high
        )
        scores = probs[0, :, :, image_start : image_start + high].mean(1).mean(0)
        kept = scores.topk(int(high * SCM_KEEP_RATIO)).indices.sort().values + image_start
        device = embeds.device
        return torch.cat(
            [
                torch.arange(image_start, device=device),
                kept,
                torch.arange(image_start + high + 1, length, device=device),
            ]
        )
