"""Build the bundled demo checkpoint: a tiny RANDOM-WEIGHT Llava-style VLM (no downloads, deterministic).

    python scripts/make_demo_checkpoint.py            # writes demo/checkpoint/
    python scripts/make_demo_checkpoint.py --out DIR  # anywhere else (the tests build it in a temp dir)

The model is a `LlavaForConditionalGeneration` (tiny CLIP vision tower + tiny Llama LM) that
`AutoModelForImageTextToText` and `AutoProcessor` load with no remote code. Its tokenizer is a byte-level BPE
with no merges (one token per byte) built locally with the `tokenizers` library. The weights are random
(fixed seed): answers are gibberish and scores are near zero by design. It exists to exercise the harness
end to end (`monkeyeval run --task demo --ckpt demo`) in seconds on a CPU.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

SEED = 20261121
WEIGHT_SCALE = 0.3
IMAGE_TOKEN = "<image>"
SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", IMAGE_TOKEN)
IMAGE_SIZE = 32
PATCH_SIZE = 8
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ message['role'] | upper }}: "
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<image>\n{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}{{ '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
README = """# Demo checkpoint: RANDOM WEIGHTS

This folder is a tiny Llava-style vision-language model (`LlavaForConditionalGeneration`: a 2-layer CLIP
vision tower and a 2-layer Llama language model, byte-level tokenizer) with **random weights** drawn from a
fixed seed by `scripts/make_demo_checkpoint.py`. It knows nothing: its answers are gibberish and its scores
are near zero **by design**. It exists so that

    monkeyeval run --task demo --ckpt demo

runs the whole harness (Hugging Face adapter, DataLoader workers, batching, scoring, results store) in
seconds on a laptop CPU with no downloads. Regenerate it (byte-identical) with

    python scripts/make_demo_checkpoint.py
"""


def build_tokenizer(out: Path) -> None:
    """A byte-level BPE tokenizer with no merges (256 byte tokens + specials), saved as a fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    byte_alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS)}
    for symbol in sorted(byte_alphabet):
        vocab[symbol] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=None))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        extra_special_tokens={"image_token": IMAGE_TOKEN},
        padding_side="left",
    )
    tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    tokenizer.save_pretrained(out)


def randomize(model: Any, tokenizer: Any) -> None:
    """Seeded N(0, 0.3) weights (norms at identity) so answers vary with the image and question.

    The output head keeps only rows for lowercase letters, digits, space and the end-of-sequence token, so
    the gibberish answers are readable and some stop early (others hit max_new_tokens).
    """
    import torch

    generator = torch.Generator().manual_seed(SEED)
    readable = set("abcdefghijklmnopqrstuvwxyz0123456789 ")
    keep = [i for i in range(len(tokenizer)) if tokenizer.decode([i]) in readable] + [tokenizer.eos_token_id]
    with torch.no_grad():
        for name, parameter in sorted(model.named_parameters()):
            if "norm" in name:
                parameter.fill_(1.0) if name.endswith("weight") else parameter.zero_()
                continue
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * WEIGHT_SCALE)
        head = model.get_output_embeddings().weight
        mask = torch.zeros(head.shape[0], dtype=torch.bool)
        mask[keep] = True
        head[~mask] = 0.0


def build(out: Path) -> None:
    """Write config, random weights, tokenizer, image processor and chat template into `out`."""
    import torch
    from transformers import (
        AutoTokenizer,
        CLIPImageProcessorPil,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    out.mkdir(parents=True, exist_ok=True)
    build_tokenizer(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    vocab_size = len(tokenizer)
    image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)

    text_config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    vision_config = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=IMAGE_SIZE,
        patch_size=PATCH_SIZE,
        projection_dim=32,
    )
    config = LlavaConfig(
        vision_config=vision_config,
        text_config=text_config,
        image_token_index=int(image_token_id),  # type: ignore[arg-type]
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
        pad_token_id=tokenizer.pad_token_id,  # type: ignore[call-arg]
    )
    torch.manual_seed(SEED)
    model = LlavaForConditionalGeneration(config).eval()
    randomize(model, tokenizer)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.save_pretrained(out)

    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE},
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=PATCH_SIZE,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=CHAT_TEMPLATE,
    )
    processor.save_pretrained(out)
    (out / "README.md").write_text(README, encoding="utf-8")


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    default_out = Path(__file__).resolve().parent.parent / "demo" / "checkpoint"
    parser.add_argument(
        "--out", type=Path, default=default_out, help="output folder (default: demo/checkpoint)"
    )
    args = parser.parse_args()
    build(args.out)
    print(f"wrote the random-weight demo checkpoint to {args.out}")


if __name__ == "__main__":
    main()
