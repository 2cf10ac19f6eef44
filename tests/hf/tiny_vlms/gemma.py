"""PaliGemma (SigLIP + Gemma; its processor adds the <loc>/<seg> tokens) and Gemma 3."""

from __future__ import annotations

from pathlib import Path

from .common import _chat_template, _save, _siglip_vision, _tokenizer


def _build_paligemma(out: Path) -> Path:
    from transformers import (
        GemmaConfig,
        PaliGemmaConfig,
        PaliGemmaForConditionalGeneration,
        PaliGemmaProcessor,
        SiglipImageProcessorPil,
    )

    tokenizer = _tokenizer(
        out,
        ("<pad>", "<eos>", "<bos>", "<image>"),
        pad="<pad>",
        eos="<eos>",
        bos="<bos>",
        named={"image_token": "<image>"},
    )
    image_processor = SiglipImageProcessorPil(size={"height": 32, "width": 32})
    image_processor.image_seq_length = 16  # type: ignore[attr-defined]  # (32 / 8) ** 2, for PaliGemmaProcessor
    # PaliGemmaProcessor adds its 1024 <locXXXX> and 128 <segXXX> tokens to the tokenizer: build it first.
    processor = PaliGemmaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        chat_template=_chat_template(turn_start="", turn_end="", image="<image>", generation=""),
    )
    text_config = GemmaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=1024,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    config = PaliGemmaConfig(
        vision_config=_siglip_vision(32, 8, vision_use_head=False),
        text_config=text_config,
        image_token_index=int(tokenizer.image_token_id),
        projection_dim=64,
        hidden_size=64,
        vocab_size=len(tokenizer),
        tie_word_embeddings=False,
    )
    return _save(out, "paligemma", PaliGemmaForConditionalGeneration, config, tokenizer, processor, ["<eos>"])


def _build_gemma3(out: Path) -> Path:
    from transformers import (
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3ImageProcessorPil,
        Gemma3Processor,
    )

    tokenizer = _tokenizer(
        out,
        (
            "<pad>",
            "<eos>",
            "<bos>",
            "<start_of_turn>",
            "<end_of_turn>",
            "<start_of_image>",
            "<end_of_image>",
            "<image_soft_token>",
        ),
        pad="<pad>",
        eos="<eos>",
        bos="<bos>",
        named={
            "boi_token": "<start_of_image>",
            "eoi_token": "<end_of_image>",
            "image_token": "<image_soft_token>",
        },
    )
    ids = tokenizer.convert_tokens_to_ids
    config = Gemma3Config(
        vision_config=_siglip_vision(32, 8, vision_use_head=False),
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 16,
            "query_pre_attn_scalar": 16,
            "sliding_window": 64,
            "layer_types": ["sliding_attention", "full_attention"],
            "max_position_embeddings": 1024,
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "tie_word_embeddings": False,
        },
        mm_tokens_per_image=4,  # 4 x 4 patches average-pooled to 2 x 2
        boi_token_index=int(ids("<start_of_image>")),
        eoi_token_index=int(ids("<end_of_image>")),
        image_token_index=int(ids("<image_soft_token>")),
        tie_word_embeddings=False,
    )
    processor = Gemma3Processor(
        image_processor=Gemma3ImageProcessorPil(size={"height": 32, "width": 32}),
        tokenizer=tokenizer,
        image_seq_length=4,
        chat_template=_chat_template(
            begin="<bos>",
            turn_start="<start_of_turn>ROLE\n",
            turn_end="<end_of_turn>\n",
            image="<start_of_image>",
            generation="<start_of_turn>model\n",
            assistant_role="model",
        ),
    )
    return _save(
        out,
        "gemma3",
        Gemma3ForConditionalGeneration,
        config,
        tokenizer,
        processor,
        ["<end_of_turn>", "<eos>"],
    )
