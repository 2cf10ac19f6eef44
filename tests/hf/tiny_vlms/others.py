"""Idefics3 (SmolVLM), InternVL (images only), Mllama (Llama 3.2 Vision), Aya Vision and GOT-OCR 2."""

from __future__ import annotations

from pathlib import Path

from monkeyeval.models.hf_processors import images_only

from .common import QWEN_TEMPLATE, _chat_template, _llama, _qwen2, _save, _siglip_vision, _tokenizer

# ---- Idefics3 and SmolVLM

ROW_COL_TOKENS = tuple(f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6))


def _build_idefics3(out: Path) -> Path:
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessorPil,
        Idefics3Processor,
    )

    tokenizer = _tokenizer(
        out,
        (
            "<|end_of_text|>",
            "<|begin_of_text|>",
            "<end_of_utterance>",
            "<fake_token_around_image>",
            "<image>",
            "<global-img>",
            *ROW_COL_TOKENS,
        ),
        pad="<|end_of_text|>",
        eos="<end_of_utterance>",
        bos="<|begin_of_text|>",
        named={"image_token": "<image>"},
    )
    config = Idefics3Config(
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        text_config=_llama(tokenizer),
        image_token_id=int(tokenizer.image_token_id),
        scale_factor=2,
        pad_token_id=tokenizer.pad_token_id,  # type: ignore[call-arg]  # else Idefics3Config saves 128002
    )
    processor = Idefics3Processor(
        image_processor=Idefics3ImageProcessorPil(
            size={"longest_edge": 96}, max_image_size={"longest_edge": 32}, do_image_splitting=True
        ),
        tokenizer=tokenizer,
        image_seq_len=4,  # (32 / 8) ** 2 patches / scale_factor ** 2
        chat_template=_chat_template(
            begin="<|begin_of_text|>",
            turn_start="ROLE:",
            turn_end="<end_of_utterance>\n",
            image="<image>",
            generation="Assistant:",
        ).replace("{{ role }}", "{{ role | capitalize }}"),
    )
    return _save(
        out,
        "idefics3",
        Idefics3ForConditionalGeneration,
        config,
        tokenizer,
        processor,
        ["<end_of_utterance>"],
    )


# ---- InternVL


def _build_internvl(out: Path) -> Path:
    from transformers import (
        GotOcr2ImageProcessorPil,
        InternVLConfig,
        InternVLForConditionalGeneration,
        InternVLProcessor,
    )

    tokenizer = _tokenizer(
        out,
        ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<IMG_CONTEXT>", "<video>"),
        pad="<|endoftext|>",
        eos="<|im_end|>",
        named={
            "start_image_token": "<img>",
            "end_image_token": "</img>",
            "context_image_token": "<IMG_CONTEXT>",
            "video_token": "<video>",
        },
    )
    config = InternVLConfig(
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": [32, 32],
            "patch_size": [8, 8],
        },
        text_config=_qwen2(tokenizer),
        image_token_id=int(tokenizer.context_image_token_id),
        image_seq_length=4,
        downsample_ratio=0.5,
        tie_word_embeddings=False,
    )
    processor = images_only(InternVLProcessor)(
        image_processor=GotOcr2ImageProcessorPil(
            size={"height": 32, "width": 32}, crop_to_patches=True, min_patches=1, max_patches=4
        ),
        tokenizer=tokenizer,
        image_seq_length=4,  # (32 / 8) ** 2 patches * downsample_ratio ** 2
        chat_template=QWEN_TEMPLATE.replace("<|vision_start|><|image_pad|><|vision_end|>", "<IMG_CONTEXT>\n"),
    )
    return _save(
        out, "internvl", InternVLForConditionalGeneration, config, tokenizer, processor, ["<|im_end|>"]
    )


# ---- Mllama (Llama 3.2 Vision)


def _build_mllama(out: Path) -> Path:
    from transformers import (
        MllamaConfig,
        MllamaForConditionalGeneration,
        MllamaImageProcessorPil,
        MllamaProcessor,
    )

    tokenizer = _tokenizer(
        out,
        (
            "<|finetune_right_pad_id|>",
            "<|begin_of_text|>",
            "<|end_of_text|>",
            "<|eot_id|>",
            "<|start_header_id|>",
            "<|end_header_id|>",
            "<|image|>",
            "<|python_tag|>",
        ),
        pad="<|finetune_right_pad_id|>",
        eos="<|eot_id|>",
        bos="<|begin_of_text|>",
        named={"image_token": "<|image|>"},
    )
    config = MllamaConfig(
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_global_layers": 1,
            "attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
            "max_num_tiles": 4,
            "intermediate_layers_indices": [0],
            "vision_output_dim": 64,  # hidden_size * (1 + len(intermediate_layers_indices))
        },
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "cross_attention_layers": [1],
            "max_position_embeddings": 1024,
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        },
        image_token_index=int(tokenizer.image_token_id),
    )
    processor = MllamaProcessor(
        image_processor=MllamaImageProcessorPil(size={"height": 32, "width": 32}, max_image_tiles=4),
        tokenizer=tokenizer,
        chat_template=_chat_template(
            begin="<|begin_of_text|>",
            turn_start="<|start_header_id|>ROLE<|end_header_id|>\n\n",
            turn_end="<|eot_id|>",
            image="<|image|>",
            generation="<|start_header_id|>assistant<|end_header_id|>\n\n",
        ),
    )
    return _save(out, "mllama", MllamaForConditionalGeneration, config, tokenizer, processor, ["<|eot_id|>"])


# ---- Aya Vision


def _build_aya_vision(out: Path) -> Path:
    from transformers import (
        AyaVisionConfig,
        AyaVisionForConditionalGeneration,
        AyaVisionProcessor,
        Cohere2Config,
        GotOcr2ImageProcessorPil,
    )

    tokenizer = _tokenizer(
        out,
        (
            "<PAD>",
            "<BOS_TOKEN>",
            "<|END_OF_TURN_TOKEN|>",
            "<|START_OF_TURN_TOKEN|>",
            "<|USER_TOKEN|>",
            "<|CHATBOT_TOKEN|>",
            "<image>",
            "<|START_OF_IMG|>",
            "<|END_OF_IMG|>",
            "<|IMG_PATCH|>",
            "<|IMG_LINE_BREAK|>",
        ),
        pad="<PAD>",
        eos="<|END_OF_TURN_TOKEN|>",
        bos="<BOS_TOKEN>",
    )
    text_config = Cohere2Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        sliding_window=64,
        layer_types=["sliding_attention", "full_attention"],
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    config = AyaVisionConfig(
        vision_config=_siglip_vision(32, 8, vision_use_head=False),
        text_config=text_config,
        downsample_factor=2,
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        image_token_index=int(tokenizer.convert_tokens_to_ids("<|IMG_PATCH|>")),
        tie_word_embeddings=False,
    )
    processor = AyaVisionProcessor(
        image_processor=GotOcr2ImageProcessorPil(
            size={"height": 32, "width": 32}, crop_to_patches=True, min_patches=1, max_patches=4
        ),
        tokenizer=tokenizer,
        patch_size=8,
        img_size=32,
        downsample_factor=2,
        chat_template=_chat_template(
            begin="<BOS_TOKEN>",
            turn_start="<|START_OF_TURN_TOKEN|>ROLE",
            turn_end="<|END_OF_TURN_TOKEN|>",
            image="<image>",
            generation="<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>",
        ).replace("{{ role }}", "{{ '<|USER_TOKEN|>' if role == 'user' else '<|CHATBOT_TOKEN|>' }}"),
    )
    return _save(
        out,
        "aya_vision",
        AyaVisionForConditionalGeneration,
        config,
        tokenizer,
        processor,
        ["<|END_OF_TURN_TOKEN|>"],
    )


# ---- GOT-OCR 2


def _build_got_ocr2(out: Path) -> Path:
    from transformers import (
        GotOcr2Config,
        GotOcr2ForConditionalGeneration,
        GotOcr2ImageProcessorPil,
        GotOcr2Processor,
    )

    tokenizer = _tokenizer(
        out,
        ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<imgpad>"),
        pad="<|endoftext|>",
        eos="<|im_end|>",
    )
    config = GotOcr2Config(
        vision_config={
            "hidden_size": 16,
            "output_channels": 16,
            "num_hidden_layers": 2,
            "num_attention_heads": 1,
            "mlp_dim": 32,
            "image_size": 128,
            "patch_size": 2,
            "window_size": 8,
            "global_attn_indexes": [],  # window attention only: 4096 patches stay cheap
        },
        text_config=_qwen2(tokenizer),
        image_token_index=int(tokenizer.convert_tokens_to_ids("<imgpad>")),
        image_seq_length=256,
        tie_word_embeddings=False,
    )
    processor = GotOcr2Processor(
        image_processor=GotOcr2ImageProcessorPil(size={"height": 128, "width": 128}),
        tokenizer=tokenizer,
        chat_template=QWEN_TEMPLATE.replace(
            "<|vision_start|><|image_pad|><|vision_end|>", "<img><imgpad></img>\n"
        ),
    )
    return _save(
        out, "got_ocr2", GotOcr2ForConditionalGeneration, config, tokenizer, processor, ["<|im_end|>"]
    )
