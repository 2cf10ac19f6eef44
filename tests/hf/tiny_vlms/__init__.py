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

The builders live in `common` (shared building blocks), `qwen`, `llava`, `gemma` (PaliGemma, Gemma 3)
and `others` (Idefics3, InternVL, Mllama, Aya Vision, GOT-OCR 2); this module holds the registry
(`ARCHITECTURES`, `NEEDS`, `build`) and `bare_generate`.

`bare_generate` is the reference "bare loop": plain transformers (the processor loaded as above), one user
turn per sample, one processor call per batch with left padding, `model.generate` with only
`max_new_tokens` and `do_sample=False` (the checkpoint's generation config supplies the rest).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PIL import Image

from monkeyeval.models.hf_processors import FLAT_IMAGE_LIST, load_processor

from .gemma import _build_gemma3, _build_paligemma
from .llava import _build_llava, _build_llava_next, _build_llava_onevision
from .others import _build_aya_vision, _build_got_ocr2, _build_idefics3, _build_internvl, _build_mllama
from .qwen import _build_qwen2_5_vl, _build_qwen2_vl, _build_qwen3_vl

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
