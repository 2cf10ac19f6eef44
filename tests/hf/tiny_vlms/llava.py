"""LLaVA, LLaVA-NeXT (anyres pinpoints) and LLaVA-OneVision (images only: it declares a video processor)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monkeyeval.models.hf_processors import images_only

from .common import _chat_template, _clip_vision, _llama, _qwen2, _save, _siglip_vision, _tokenizer

LLAVA_SPECIALS = ("<pad>", "<s>", "</s>", "<image>")


def _llava_tokenizer(out: Path) -> Any:
    """The demo checkpoint's tokenizer: <pad>, <s>, </s> and the <image> placeholder."""
    return _tokenizer(
        out, LLAVA_SPECIALS, pad="<pad>", eos="</s>", bos="<s>", named={"image_token": "<image>"}
    )


def _build_llava(out: Path) -> Path:
    from transformers import CLIPImageProcessorPil, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    tokenizer = _llava_tokenizer(out)
    config = LlavaConfig(
        vision_config=_clip_vision(32, 8),
        text_config=_llama(tokenizer),
        image_token_index=int(tokenizer.image_token_id),
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessorPil(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
        ),
        tokenizer=tokenizer,
        patch_size=8,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=_chat_template(
            turn_start="{{ role | upper }}: ", turn_end="\n", image="<image>\n", generation="ASSISTANT:"
        ),
    )
    return _save(out, "llava", LlavaForConditionalGeneration, config, tokenizer, processor, ["</s>"])


PINPOINTS = [[32, 32], [32, 64], [64, 32], [64, 64]]


def _build_llava_next(out: Path) -> Path:
    from transformers import (
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextImageProcessorPil,
        LlavaNextProcessor,
    )

    tokenizer = _tokenizer(
        out,
        (*LLAVA_SPECIALS, "[INST]", "[/INST]"),
        pad="<pad>",
        eos="</s>",
        bos="<s>",
        named={"image_token": "<image>"},
    )
    config = LlavaNextConfig(
        vision_config=_clip_vision(32, 8),
        text_config=_llama(tokenizer),
        image_token_index=int(tokenizer.image_token_id),
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
        image_grid_pinpoints=PINPOINTS,
        image_seq_length=16,
    )
    processor = LlavaNextProcessor(
        image_processor=LlavaNextImageProcessorPil(
            size={"shortest_edge": 32},
            crop_size={"height": 32, "width": 32},
            image_grid_pinpoints=PINPOINTS,
        ),
        tokenizer=tokenizer,
        patch_size=8,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=_chat_template(
            begin="<s>", turn_start="[INST] ", turn_end=" [/INST]", image="<image>\n", generation=""
        ),
    )
    return _save(out, "llava_next", LlavaNextForConditionalGeneration, config, tokenizer, processor, ["</s>"])


def _build_llava_onevision(out: Path) -> Path:
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessorPil,
        LlavaOnevisionProcessor,
    )

    tokenizer = _tokenizer(
        out,
        ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"),
        pad="<|endoftext|>",
        eos="<|im_end|>",
        named={"image_token": "<image>", "video_token": "<video>"},
    )
    config = LlavaOnevisionConfig(
        vision_config=_siglip_vision(32, 8, vision_use_head=False),
        text_config=_qwen2(tokenizer),
        image_token_index=int(tokenizer.image_token_id),
        video_token_index=int(tokenizer.video_token_id),
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        image_grid_pinpoints=PINPOINTS,
        vision_aspect_ratio="anyres_max_9",
    )
    processor = images_only(LlavaOnevisionProcessor)(
        image_processor=LlavaOnevisionImageProcessorPil(
            size={"height": 32, "width": 32}, image_grid_pinpoints=PINPOINTS
        ),
        tokenizer=tokenizer,
        num_image_tokens=16,
        vision_feature_select_strategy="full",
        vision_aspect_ratio="anyres_max_9",
        chat_template=_chat_template(
            turn_start="<|im_start|>ROLE ",
            turn_end="<|im_end|>",
            image="<image>\n",
            generation="<|im_start|>assistant\n",
        ),
    )
    return _save(
        out,
        "llava_onevision",
        LlavaOnevisionForConditionalGeneration,
        config,
        tokenizer,
        processor,
        ["<|im_end|>"],
    )
