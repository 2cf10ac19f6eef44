"""Processors for the `hf` family: loading (with an image-only fallback) and one call per batch.

Processors of video-capable models (Qwen2-VL, Qwen2.5-VL, Qwen3-VL, LLaVA-OneVision, InternVL, ...) declare
a video processor, and transformers' video processors need torchvision. Without torchvision,
`AutoProcessor.from_pretrained` fails on such a checkpoint: ImportError "<X>VideoProcessor requires the
Torchvision library" where the folder has a video_preprocessor_config.json, OSError "Can't load video
processor" where it has none; building the class with `video_processor=None` fails as well. Evaluation here
is images only, so such a processor is rebuilt from its own class with the video attribute left out: the
same image processor, tokenizer and chat template, hence the same inputs for images.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from monkeyeval.core.errors import UserError
from monkeyeval.models.weights import CheckpointError

PROCESSOR_CLASS_FILES = ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json")
FLAT_IMAGE_LIST = frozenset({"GotOcr2Processor"})  # processors that refuse `[[image], ...]` (one per text)


class HFAdapterError(UserError, RuntimeError):
    """A checkpoint or batch the generic adapter cannot handle."""


@dataclass(frozen=True)
class HFSample:
    """One sample ready for the processor: the image decoded exactly as stored and the chat-templated text."""

    image: Any  # a loaded PIL image; the processor does its own conversion and resizing
    text: str


@dataclass(frozen=True)
class HFRow:
    """A sample after the worker's batch step: row `row` of `features`, the one processor call of its batch
    (every row of the batch holds the same dict, so it travels from the worker once). The decoded image
    stays in the worker: a batch the runner trims or splits is prepared again from its samples."""

    features: dict[str, torch.Tensor]
    row: int


def collated_features(payloads: Sequence[Any]) -> dict[str, torch.Tensor] | None:
    """The features the worker built for exactly these rows, in order; None when they must be built again
    (uncollated samples, or a batch trimmed or split after its batch step)."""
    if not payloads or not all(isinstance(payload, HFRow) for payload in payloads):
        return None
    features = payloads[0].features
    whole = int(features["input_ids"].shape[0]) == len(payloads)
    in_order = all(p.features is features and p.row == k for k, p in enumerate(payloads))
    return features if whole and in_order else None


def chat_text(processor: Any, prompt: str) -> str:
    """The processor's chat template applied to one user turn: one image, then the prompt text."""
    if not getattr(processor, "chat_template", None):
        raise HFAdapterError(
            f"{type(processor).__name__} has no chat template; the hf adapter needs one to place the image. "
            "Use a checkpoint whose processor ships chat_template.jinja, or a family adapter (--model)."
        )
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    return str(processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))


def batch_features(processor: Any, samples: Sequence[HFSample]) -> dict[str, torch.Tensor]:
    """One processor call for a batch (as a bare loop makes it): one image per text, left padding."""
    flat = type(processor).__name__ in FLAT_IMAGE_LIST
    features = processor(
        images=[sample.image if flat else [sample.image] for sample in samples],
        text=[sample.text for sample in samples],
        padding=True,
        return_tensors="pt",
    )
    return {key: value for key, value in features.items() if isinstance(value, torch.Tensor)}


def prompt_lengths(features: dict[str, torch.Tensor]) -> list[int]:
    """Each row's prompt length in tokens (image placeholders expanded, padding excluded)."""
    ids = features["input_ids"]
    mask = features.get("attention_mask")
    if mask is None:
        return [int(ids.shape[-1])] * int(ids.shape[0])
    return [int(n) for n in mask.sum(dim=-1).tolist()]


def load_processor(folder: Path, trust_remote_code: bool = False) -> Any:
    """The checkpoint's processor, tokenizer padding on the left; CheckpointError when there is none."""
    from transformers import AutoProcessor, ProcessorMixin

    try:
        processor = AutoProcessor.from_pretrained(folder, trust_remote_code=trust_remote_code)
    except (OSError, ImportError, ValueError, TypeError, KeyError) as exc:
        processor = _image_only_processor(folder)
        if processor is None:
            raise CheckpointError(
                f"{folder}: transformers cannot load the processor (tokenizer and image processor files: "
                f"tokenizer*.json, processor_config.json, ...): {type(exc).__name__}: {str(exc)[:300]}"
            ) from None
    if not isinstance(processor, ProcessorMixin) or getattr(processor, "tokenizer", None) is None:
        raise CheckpointError(
            f"{folder}: no multimodal processor could be built (transformers found "
            f"{type(processor).__name__}); the hf family needs the checkpoint's processor_config.json or "
            "preprocessor_config.json with its image processor, and a tokenizer"
        )
    processor.tokenizer.padding_side = "left"
    return processor


def processor_class_name(folder: Path) -> str | None:
    """The `processor_class` the checkpoint's own files name, if any."""
    for name in PROCESSOR_CLASS_FILES:
        try:
            value = json.loads((folder / name).read_text(encoding="utf-8")).get("processor_class")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(value, str) and value:
            return value
    return None


def _image_only_processor(folder: Path) -> Any:
    """The checkpoint's processor without its video processor; None unless torchvision is what is missing."""
    import transformers
    from transformers.utils import is_torchvision_available

    base = getattr(transformers, processor_class_name(folder) or "", None)
    if is_torchvision_available() or not (
        isinstance(base, type) and issubclass(base, transformers.ProcessorMixin)
    ):
        return None
    if not any("video" in name for name in base.get_attributes()):
        return None
    try:
        return images_only(base).from_pretrained(folder)
    except (OSError, ImportError, ValueError, TypeError, KeyError):
        return None


def images_only(base: Any) -> Any:
    """`base` (a ProcessorMixin subclass) with every video attribute removed.

    It keeps `base`'s name, so `save_pretrained` writes the real `processor_class` and fingerprints name the
    real class; instances pickle through `_restore_images_only` (DataLoader workers may receive them).
    """

    class ImagesOnly(base):
        @classmethod
        def get_attributes(cls) -> list[str]:
            return [name for name in super().get_attributes() if "video" not in name]

        def __reduce__(self) -> tuple[Any, ...]:
            return (_restore_images_only, (base, self.__dict__.copy()))

    ImagesOnly.__name__ = ImagesOnly.__qualname__ = base.__name__
    return ImagesOnly


def _restore_images_only(base: Any, state: dict[str, Any]) -> Any:
    """Unpickle an `images_only(base)` instance (the class is made at run time, so pickle cannot name it)."""
    processor: Any = object.__new__(images_only(base))
    processor.__dict__.update(state)
    return processor
