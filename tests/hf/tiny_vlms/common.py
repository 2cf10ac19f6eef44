"""Shared building blocks of the tiny checkpoints: tokenizer, chat template, randomization, save, configs.

`_tokenizer` writes a byte-level BPE tokenizer with no merges, `_chat_template` a small jinja template,
`_save` builds the model from its config with seeded random weights (`_randomize`) and writes model,
processor, generation config and README; `_llama`, `_qwen2`, `_clip_vision` and `_siglip_vision` are tiny
text and vision tower configs. `QWEN_TEMPLATE` is the ChatML template of the Qwen family, which InternVL and
GOT-OCR 2 reuse with their own image placeholder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

SEED = 20261121
WEIGHT_SCALE = 0.3
READABLE = frozenset("abcdefghijklmnopqrstuvwxyz0123456789 ")
README = """# Tiny {name} checkpoint: RANDOM WEIGHTS

Built by `tests/hf/tiny_vlms/` (`build("{name}", folder)`): a tiny `{model_class}` with **random weights**
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


def tiny_text_values(tokenizer: Any, **overrides: Any) -> dict[str, Any]:
    """The tiny language-model settings every builder starts from (2 layers, hidden 64), with overrides."""
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
    return values


def _llama(tokenizer: Any, **overrides: Any) -> Any:
    """A tiny Llama text config for `tokenizer`."""
    from transformers import LlamaConfig

    return LlamaConfig(**tiny_text_values(tokenizer, **overrides))


def _qwen2(tokenizer: Any, **overrides: Any) -> Any:
    """A tiny Qwen2 text config for `tokenizer`."""
    from transformers import Qwen2Config

    return Qwen2Config(**tiny_text_values(tokenizer, **overrides))


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


QWEN_TEMPLATE = _chat_template(
    turn_start="<|im_start|>ROLE\n",
    turn_end="<|im_end|>\n",
    image="<|vision_start|><|image_pad|><|vision_end|>",
    generation="<|im_start|>assistant\n",
)
