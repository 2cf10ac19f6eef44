"""Tiny RANDOM-WEIGHT checkpoints of the VLM architectures people evaluate with transformers, built locally.

Each `build(name, out)` writes a folder that `AutoModelForImageTextToText.from_pretrained` loads with no
remote code and no network: a tiny config (hidden sizes 16-64, 1-2 layers, 28-64 px images, few tiles), seeded
random weights, a byte-level BPE tokenizer with no merges (one token per byte + the special tokens the
architecture's processor needs), a PIL-backend image processor (never a torchvision one), a small jinja chat
template that places the image where the processor expects it, and a generation config with eos/pad/bos.

The weights are random on purpose: the point is to exercise the real transformers code paths of each
architecture (its processor's placeholder expansion, tiling and padding, its model's vision tower, merger and
position ids, `generate` with left padding) in seconds on a CPU, without downloading gigabytes of real
weights. The answers are gibberish: the output head keeps only lowercase letters, digits, space and the
end-of-sequence tokens, so they are readable, vary with the image, and some stop before `max_new_tokens`.

Processors that declare a video processor (Qwen2-VL, Qwen2.5-VL, Qwen3-VL, LLaVA-OneVision, InternVL) cannot
be built or loaded by transformers without torchvision. `AutoProcessor.from_pretrained` asks
`AutoVideoProcessor` for one: OSError "Can't load video processor for ..." where the folder has no
video_preprocessor_config.json (these checkpoints), ImportError "<X>VideoProcessor requires the Torchvision
library ..." where it has one (real checkpoints). Building the class with `video_processor=None` (or leaving
it out) fails too: AttributeError "type object 'VIDEO_PROCESSOR_MAPPING' has no attribute '_extra_content'".
Those are built with `monkeyeval.models.hf_processors.images_only` (the same class minus its video
attribute; it saves the real class name) and loaded with monkeyeval's `load_processor`, which falls back to
it when torchvision is missing: plain `AutoProcessor` otherwise.

`bare_generate` is the reference "bare loop": plain transformers (the processor loaded as above), one user
turn per sample, one processor call per batch with left padding, `model.generate` with only
`max_new_tokens` and `do_sample=False` (the checkpoint's generation config supplies the rest).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from monkeyeval.models.hf_processors import FLAT_IMAGE_LIST, images_only, load_processor

SEED = 20261121
WEIGHT_SCALE = 0.3
READABLE = frozenset("abcdefghijklmnopqrstuvwxyz0123456789 ")
README = """# Tiny {name} checkpoint: RANDOM WEIGHTS

Built by `tests/hf/tiny_vlms.py` (`build("{name}", folder)`): a tiny `{model_class}` with **random weights**
from a fixed seed and a byte-level tokenizer. Its answers are gibberish by design; it exists to exercise the
transformers code path of this architecture in tests, on a CPU, with no downloads.
"""


# ---- building blocks


def _tokenizer(
    out: Path,
    specials: Sequence[str],
    *,
    pad: str,
    eos: str,
    bos: str | None = None,
    named: dict[str, str] | None = None,
) -> Any:
    """A byte-level BPE tokenizer with no merges (specials first, then 256 byte tokens), saved and reloaded.

    `named` become tokenizer attributes (`tokenizer.image_token`, `tokenizer.image_token_id`, ...), which many
    processors read. Every special is an added special token, so the tokenizer never splits it into bytes.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    ordered = list(dict.fromkeys(specials))
    vocab = {token: index for index, token in enumerate(ordered)}
    for symbol in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[symbol] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=None))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token=pad,
        eos_token=eos,
        bos_token=bos,
        extra_special_tokens=dict(named or {}),
        padding_side="left",
    )
    tokenizer.add_special_tokens(
        {"additional_special_tokens": [t for t in ordered if t not in (pad, eos, bos)]}
    )
    tokenizer.save_pretrained(out)
    return AutoTokenizer.from_pretrained(out)


def _lit(text: str) -> str:
    """Literal template text; newlines as jinja expressions (transformers renders with trim_blocks)."""
    return text.replace("\n", "{{ '\\n' }}")


def _chat_template(
    *,
    begin: str = "",
    turn_start: str,
    turn_end: str,
    image: str,
    generation: str,
    assistant_role: str = "assistant",
) -> str:
    """A jinja chat template: `begin`, then per message `turn_start` (ROLE = the role), content, `turn_end`.

    `{"type": "image"}` items become `image` (the processor's placeholder), text items their text; the
    generation prompt is `generation`.
    """
    role = f"{{% set role = '{assistant_role}' if message['role'] == 'assistant' else message['role'] %}}"
    start = _lit(turn_start).replace("ROLE", "{{ role }}")
    return (
        _lit(begin)
        + "{% for message in messages %}"
        + role
        + start
        + "{% if message['content'] is string %}{{ message['content'] }}"
        + "{% else %}{% for item in message['content'] %}"
        + f"{{% if item['type'] == 'image' %}}{_lit(image)}"
        + "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
        + "{% endfor %}{% endif %}"
        + _lit(turn_end)
        + "{% endfor %}"
        + f"{{% if add_generation_prompt %}}{_lit(generation)}{{% endif %}}"
    )


def _is_norm(module: Any) -> bool:
    """LayerNorm / RMSNorm / GroupNorm-like modules (left at their identity initialization)."""
    return "norm" in type(module).__name__.lower()


def _randomize(model: Any, tokenizer: Any, eos_ids: Sequence[int]) -> None:
    """Seeded N(0, 0.3) weights; norms stay at their identity init (weight 1, or 0 for Gemma's 1 + w).

    The output head keeps only rows for lowercase letters, digits, space and the end-of-sequence tokens, so
    the gibberish answers are readable and some stop early (others hit max_new_tokens).
    """
    import torch

    generator = torch.Generator().manual_seed(SEED)
    norm_params = {
        f"{module_name}.{name}" if module_name else name
        for module_name, module in model.named_modules()
        if _is_norm(module)
        for name, _ in module.named_parameters(recurse=False)
    }
    keep = [i for i in range(len(tokenizer)) if tokenizer.decode([i]) in READABLE] + list(eos_ids)
    with torch.no_grad():
        for name, parameter in sorted(model.named_parameters()):
            if name in norm_params:
                continue
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * WEIGHT_SCALE)
        head = model.get_output_embeddings().weight
        mask = torch.zeros(head.shape[0], dtype=torch.bool)
        mask[keep] = True
        head[~mask] = 0.0


def _save(
    out: Path,
    name: str,
    model_class: Any,
    config: Any,
    tokenizer: Any,
    processor: Any,
    eos: Sequence[str],
) -> Path:
    """Build the model from `config` (seeded), randomize it, set generation ids, save model + processor."""
    import torch

    eos_ids = [int(tokenizer.convert_tokens_to_ids(token)) for token in eos]
    torch.manual_seed(SEED)
    model = model_class(config).eval()
    head, embeddings = model.get_output_embeddings().weight, model.get_input_embeddings().weight
    if head.data_ptr() == embeddings.data_ptr():  # restricting the head would zero most input embeddings
        raise ValueError(f"{name}: tied word embeddings; set tie_word_embeddings=False in its config")
    _randomize(model, tokenizer, eos_ids)
    generation = model.generation_config
    generation.pad_token_id = tokenizer.pad_token_id
    generation.eos_token_id = eos_ids[0] if len(eos_ids) == 1 else eos_ids
    generation.bos_token_id = tokenizer.bos_token_id
    model.save_pretrained(out)
    processor.save_pretrained(out)
    (out / "README.md").write_text(
        README.format(name=name, model_class=model_class.__name__), encoding="utf-8"
    )
    return out


def _llama(tokenizer: Any, **overrides: Any) -> Any:
    """A tiny Llama text config for `tokenizer`."""
    from transformers import LlamaConfig

    values: dict[str, Any] = {
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 1024,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "tie_word_embeddings": False,
    }
    values.update(overrides)
    return LlamaConfig(**values)


def _qwen2(tokenizer: Any, **overrides: Any) -> Any:
    """A tiny Qwen2 text config for `tokenizer`."""
    from transformers import Qwen2Config

    values: dict[str, Any] = {
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 1024,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "tie_word_embeddings": False,
    }
    values.update(overrides)
    return Qwen2Config(**values)


def _clip_vision(image_size: int, patch_size: int) -> Any:
    """A tiny CLIP vision tower config."""
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=image_size,
        patch_size=patch_size,
        projection_dim=32,
    )


def _siglip_vision(image_size: int, patch_size: int, **overrides: Any) -> Any:
    """A tiny SigLIP vision tower config."""
    from transformers import SiglipVisionConfig

    values: dict[str, Any] = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": image_size,
        "patch_size": patch_size,
    }
    values.update(overrides)
    return SiglipVisionConfig(**values)


# ---- Qwen family

QWEN_SPECIALS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
QWEN_TEMPLATE = _chat_template(
    turn_start="<|im_start|>ROLE\n",
    turn_end="<|im_end|>\n",
    image="<|vision_start|><|image_pad|><|vision_end|>",
    generation="<|im_start|>assistant\n",
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
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 1024,
        "rope_parameters": rope,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": None,
        "eos_token_id": tokenizer.eos_token_id,
    }


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


# ---- LLaVA family

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


# ---- PaliGemma, Gemma 3


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


# ---- public API

_BUILDERS: dict[str, Callable[[Path], Path]] = {
    "qwen2_vl": _build_qwen2_vl,
    "qwen2_5_vl": _build_qwen2_5_vl,
    "qwen3_vl": _build_qwen3_vl,
    "llava": _build_llava,
    "llava_next": _build_llava_next,
    "llava_onevision": _build_llava_onevision,
    "idefics3": _build_idefics3,
    "paligemma": _build_paligemma,
    "gemma3": _build_gemma3,
    "internvl": _build_internvl,
    "mllama": _build_mllama,
    "aya_vision": _build_aya_vision,
    "got_ocr2": _build_got_ocr2,
}
ARCHITECTURES: tuple[str, ...] = tuple(_BUILDERS)
NO_VIDEO = "AutoProcessor needs torchvision for its video processor: loaded without it (images only)"
NEEDS: dict[str, str] = {
    "qwen2_vl": f"Qwen2VLImageProcessorPil (28-56 px, 1-4 merged tokens); {NO_VIDEO}",
    "qwen2_5_vl": f"Qwen2VLImageProcessorPil (28-56 px), window attention; {NO_VIDEO}",
    "qwen3_vl": f"Qwen2VLImageProcessorPil (patch 16, 32-64 px), deepstack; {NO_VIDEO}",
    "llava": "CLIPImageProcessorPil (32 px); plain AutoProcessor",
    "llava_next": "LlavaNextImageProcessorPil (anyres 32-64 px pinpoints); plain AutoProcessor",
    "llava_onevision": f"LlavaOnevisionImageProcessorPil (anyres 32-64 px); {NO_VIDEO}",
    "idefics3": "Idefics3ImageProcessorPil (32 px tiles, up to 3x3 + global); plain AutoProcessor",
    "paligemma": "SiglipImageProcessorPil (32 px) + image_seq_length attribute; processor adds bos and "
    "<loc>/<seg> tokens; plain AutoProcessor",
    "gemma3": "Gemma3ImageProcessorPil (32 px, no pan-and-scan); plain AutoProcessor",
    "internvl": f"GotOcr2ImageProcessorPil (32 px tiles, up to 4 + thumbnail); {NO_VIDEO}",
    "mllama": "MllamaImageProcessorPil (32 px tiles, up to 4), cross-attention LM; plain AutoProcessor",
    "aya_vision": "GotOcr2ImageProcessorPil (32 px tiles, up to 4 + global), Cohere2 LM; plain AutoProcessor",
    "got_ocr2": "GotOcr2ImageProcessorPil (128 px, 256 image tokens: the processor's fixed count); "
    "images as a flat list, not nested; plain AutoProcessor",
}


def build(name: str, out: Path) -> Path:
    """Write the tiny random-weight checkpoint of architecture `name` into `out`; deterministic."""
    if name not in _BUILDERS:
        raise KeyError(f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return _BUILDERS[name](out)


def bare_generate(
    folder: Path,
    images: list[Image.Image],
    prompts: list[str],
    batch_size: int,
    max_new_tokens: int,
) -> list[str]:
    """Reference loop: plain processor + model (float32, CPU), left padding, greedy generate per batch."""
    import torch
    from transformers import AutoModelForImageTextToText

    processor = load_processor(folder)  # left padding
    model = AutoModelForImageTextToText.from_pretrained(folder, dtype=torch.float32).eval()
    flat = type(processor).__name__ in FLAT_IMAGE_LIST
    answers: list[str] = []
    for start in range(0, len(images), batch_size):
        batch_images = images[start : start + batch_size]
        texts = [
            processor.apply_chat_template(
                [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}],
                add_generation_prompt=True,
                tokenize=False,
            )
            for prompt in prompts[start : start + batch_size]
        ]
        inputs = processor(
            images=list(batch_images) if flat else [[image] for image in batch_images],
            text=texts,
            padding=True,
            return_tensors="pt",
        )
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        prompt_length = inputs["input_ids"].shape[1]
        answers += [
            processor.tokenizer.decode(row[prompt_length:], skip_special_tokens=True).strip() for row in out
        ]
    return answers
