"""Qwen2-VL, Qwen2.5-VL and Qwen3-VL: ChatML tokenizer and template, Qwen2-VL PIL image processor.

Their processors declare a video processor, so they are built with `images_only` (see the package docstring).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monkeyeval.models.hf_processors import images_only

from .common import QWEN_TEMPLATE, _save, _tokenizer, tiny_text_values

QWEN_SPECIALS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)


def _qwen_tokenizer(out: Path) -> Any:
    """Qwen2-VL-style specials; pad <|endoftext|>, eos <|im_end|>, no bos (as Qwen's tokenizer)."""
    return _tokenizer(
        out,
        QWEN_SPECIALS,
        pad="<|endoftext|>",
        eos="<|im_end|>",
        named={
            "image_token": "<|image_pad|>",
            "video_token": "<|video_pad|>",
            "vision_start_token": "<|vision_start|>",
            "vision_end_token": "<|vision_end|>",
        },
    )


def _qwen_ids(tokenizer: Any) -> dict[str, Any]:
    """The composite-config token ids of the Qwen VL family."""
    ids = tokenizer.convert_tokens_to_ids
    return {
        "image_token_id": int(ids("<|image_pad|>")),
        "video_token_id": int(ids("<|video_pad|>")),
        "vision_start_token_id": int(ids("<|vision_start|>")),
        "vision_end_token_id": int(ids("<|vision_end|>")),
    }


def _qwen_text(tokenizer: Any, interleaved: bool = False) -> dict[str, Any]:
    """Text-config values shared by the Qwen VL family (head_dim 16, so mrope_section sums to 8)."""
    rope: dict[str, Any] = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}
    if interleaved:
        rope["mrope_interleaved"] = True
    values = tiny_text_values(tokenizer, rope_parameters=rope, bos_token_id=None)
    del values["tie_word_embeddings"]  # set on the composite config
    return values


def _qwen_processor(processor_class: type[Any], tokenizer: Any, patch_size: int, **image: Any) -> Any:
    """The (image-only) processor with a Qwen2-VL PIL image processor: 1-4 merged tokens per image."""
    from transformers import Qwen2VLImageProcessorPil

    factor = patch_size * 2
    image_processor = Qwen2VLImageProcessorPil(
        size={"shortest_edge": factor * factor, "longest_edge": 4 * factor * factor},
        patch_size=patch_size,
        temporal_patch_size=2,
        merge_size=2,
        **image,
    )
    return images_only(processor_class)(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=QWEN_TEMPLATE
    )


def _build_qwen2_vl(out: Path) -> Path:
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor

    tokenizer = _qwen_tokenizer(out)
    config = Qwen2VLConfig(
        text_config=_qwen_text(tokenizer),
        vision_config={
            "depth": 2,
            "embed_dim": 32,
            "hidden_size": 64,
            "mlp_ratio": 2,
            "num_heads": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        **_qwen_ids(tokenizer),
    )
    processor = _qwen_processor(Qwen2VLProcessor, tokenizer, 14)
    return _save(
        out, "qwen2_vl", Qwen2VLForConditionalGeneration, config, tokenizer, processor, ["<|im_end|>"]
    )


def _build_qwen2_5_vl(out: Path) -> Path:
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor

    tokenizer = _qwen_tokenizer(out)
    config = Qwen2_5_VLConfig(
        text_config=_qwen_text(tokenizer),
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 64,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 56,
            "fullatt_block_indexes": [1],
        },
        **_qwen_ids(tokenizer),
    )
    processor = _qwen_processor(Qwen2_5_VLProcessor, tokenizer, 14)
    return _save(
        out, "qwen2_5_vl", Qwen2_5_VLForConditionalGeneration, config, tokenizer, processor, ["<|im_end|>"]
    )


def _build_qwen3_vl(out: Path) -> Path:
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor

    tokenizer = _qwen_tokenizer(out)
    text = _qwen_text(tokenizer, interleaved=True)
    text["head_dim"] = 16
    config = Qwen3VLConfig(
        text_config=text,
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 64,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "num_position_embeddings": 16,
            "deepstack_visual_indexes": [0],
        },
        **_qwen_ids(tokenizer),
    )
    processor = _qwen_processor(
        Qwen3VLProcessor, tokenizer, 16, image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5]
    )
    return _save(
        out, "qwen3_vl", Qwen3VLForConditionalGeneration, config, tokenizer, processor, ["<|im_end|>"]
    )
