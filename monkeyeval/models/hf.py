"""The generic `hf` adapter: any transformers VLM through AutoModelForImageTextToText + AutoProcessor.

The processor's own chat template turns the final prompt into the model input (one user turn holding one
image and the prompt text). Workers decode the image and run the processor per sample; the main process
left-pads the token tensors into a batch and runs greedy `generate`. Remote code runs only with
`--trust-remote-code`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from monkeyeval.core.errors import UserError
from monkeyeval.core.types import Generation, Sample
from monkeyeval.models.base import DecodeSettings, LoadOptions, ModelAdapter, ModelInput
from monkeyeval.models.dtypes import resolve_dtype as resolve_dtype_named
from monkeyeval.models.options import reject_unknown
from monkeyeval.models.weights import (
    CheckpointError,
    check_weight_files,
    checkpoint_sha256,
    resolve_checkpoint,
)

# Token-aligned tensors (shape (1, seq_len)) that are left-padded; everything else is concatenated on dim 0.
SEQUENCE_KEYS_PAD: dict[str, str] = {"input_ids": "pad", "attention_mask": "zero"}
FINGERPRINT_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "processor_config.json",
    "preprocessor_config.json",
    "chat_template.jinja",
    "chat_template.json",
)


class HFAdapterError(UserError, RuntimeError):
    """A checkpoint or batch the generic adapter cannot handle."""


def chat_text(processor: Any, prompt: str) -> str:
    """The processor's chat template applied to one user turn: one image, then the prompt text."""
    if not getattr(processor, "chat_template", None):
        raise HFAdapterError(
            f"{type(processor).__name__} has no chat template; the hf adapter needs one to place the image. "
            "Use a checkpoint whose processor ships chat_template.jinja, or a family adapter (--model)."
        )
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    return str(processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))


@dataclass
class HFPreprocessor:
    """Worker-side step: decode the image exactly as stored, apply the chat template, run the processor."""

    processor: Any

    def __call__(self, sample: Sample, prompt: str) -> dict[str, torch.Tensor]:
        from PIL import Image

        if sample.image_path is None:
            raise HFAdapterError(sample.error or "sample has no image")
        image = Image.open(sample.image_path)
        image.load()  # decoded exactly as stored; the processor does its own conversion and resizing
        features = self.processor(
            images=[image], text=[chat_text(self.processor, prompt)], return_tensors="pt"
        )
        return {key: value for key, value in features.items() if isinstance(value, torch.Tensor)}


def left_pad_collate(payloads: Sequence[dict[str, torch.Tensor]], pad_id: int) -> dict[str, torch.Tensor]:
    """Batch per-sample processor outputs: token tensors left-padded, the rest concatenated along dim 0."""
    batch: dict[str, torch.Tensor] = {}
    length = max(int(p["input_ids"].shape[-1]) for p in payloads)
    for key in payloads[0]:
        values = [p[key] for p in payloads]
        is_sequence = key in SEQUENCE_KEYS_PAD or (
            values[0].dim() == 2 and values[0].shape == payloads[0]["input_ids"].shape
        )
        if is_sequence:
            fill = pad_id if SEQUENCE_KEYS_PAD.get(key) == "pad" else 0
            padded = [torch.nn.functional.pad(v, (length - v.shape[-1], 0), value=fill) for v in values]
            batch[key] = torch.cat(padded, dim=0)
            continue
        try:
            batch[key] = torch.cat(values, dim=0)
        except RuntimeError as exc:
            shapes = [tuple(v.shape) for v in values]
            raise HFAdapterError(
                f"cannot batch processor output {key!r} with per-sample shapes {shapes}; "
                "run this model with --batch-size 1"
            ) from exc
    return batch


def count_new_tokens(row: list[int], eos_ids: set[int], max_new_tokens: int) -> tuple[int, bool]:
    """(tokens up to and including the first eos, whether generation stopped at max_new_tokens)."""
    for position, token in enumerate(row):
        if token in eos_ids:
            return position + 1, False
    return len(row), len(row) >= max_new_tokens


def resolve_dtype(requested: str, device: str, config_dtype: Any) -> torch.dtype:
    """auto: fp32 on CPU; on GPU the config's bf16/fp16 when it names one, else fp32."""
    named = str(config_dtype or "").replace("torch.", "")
    on_gpu = {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(named, torch.float32)
    return resolve_dtype_named(requested, device, on_gpu)


def require_exact_load(folder: Path, info: dict[str, Any]) -> None:
    """Every checkpoint tensor used and every parameter filled (as the native families require); else a
    CheckpointError naming the keys, never a silently half-random model."""
    problems = [
        f"{len(info[key])} {label}: {', '.join(sorted(map(_loading_key, info[key]))[:6])}"
        for key, label in (
            ("missing_keys", "model tensors not in the checkpoint"),
            ("unexpected_keys", "checkpoint tensors the model does not use"),
            ("mismatched_keys", "tensors of the wrong shape"),
        )
        if info.get(key)
    ]
    if problems:
        raise CheckpointError(
            f"{folder}: the weights do not fit the model config.json describes: {'; '.join(problems)}"
        )


def _loading_key(entry: Any) -> str:
    """A key of transformers' loading info; a mismatch is (key, checkpoint shape, model shape)."""
    if isinstance(entry, tuple) and len(entry) == 3:
        key, found, wanted = entry
        return f"{key} (checkpoint {tuple(found)}, model {tuple(wanted)})"
    return str(entry)


class HFAdapter(ModelAdapter):
    """Any `AutoModelForImageTextToText` checkpoint, prompted through its processor's chat template."""

    family = "hf"
    default_prompt_profile = ""

    def __init__(self, model: Any, processor: Any, folder: Path, options: LoadOptions, dtype: torch.dtype):
        self.model = model
        self.processor = processor
        self.folder = folder
        self.options = options
        self.dtype = dtype
        tokenizer = processor.tokenizer
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        eos = model.generation_config.eos_token_id
        eos = eos if eos is not None else tokenizer.eos_token_id
        self.eos_ids = set(eos) if isinstance(eos, list) else {eos}
        self._checkpoint_sha256 = ""

    @classmethod
    def detect(cls, config: dict[str, Any]) -> bool:
        """Any model type or architecture transformers maps to image-text-to-text."""
        from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

        architectures = set(config.get("architectures") or [])
        known = set(MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES.values())
        return config.get("model_type") in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES or bool(
            architectures & known
        )

    @classmethod
    def _config(cls, folder: Path, options: LoadOptions) -> Any:
        """config.json through transformers' own validation; a value it refuses is a CheckpointError."""
        from huggingface_hub.errors import StrictDataclassError  # a config field of the wrong type
        from transformers import AutoConfig

        try:
            return AutoConfig.from_pretrained(folder, trust_remote_code=options.trust_remote_code)
        except (OSError, ValueError, TypeError, KeyError, StrictDataclassError) as exc:
            raise CheckpointError(
                f"{folder / 'config.json'}: transformers cannot build a model config from it "
                f"({type(exc).__name__}: {' '.join(str(exc).split())[:300]}); fix the value or use the "
                "checkpoint's original file"
            ) from None

    @classmethod
    def _processor(cls, folder: Path, options: LoadOptions) -> Any:
        from transformers import AutoProcessor

        try:
            processor = AutoProcessor.from_pretrained(folder, trust_remote_code=options.trust_remote_code)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise CheckpointError(
                f"{folder}: transformers cannot load the processor (tokenizer and image processor files: "
                f"tokenizer*.json, processor_config.json, ...): {type(exc).__name__}: {str(exc)[:300]}"
            ) from None
        if getattr(processor, "tokenizer", None) is None:
            raise CheckpointError(f"{folder}: the processor has no tokenizer; the hf family needs one")
        processor.tokenizer.padding_side = "left"
        return processor

    @classmethod
    def load(cls, options: LoadOptions) -> HFAdapter:
        """Load processor and model; weights in the requested dtype on the requested device."""
        from transformers import AutoModelForImageTextToText

        reject_unknown(cls.family, options.family_options, ())
        folder = resolve_checkpoint(options.checkpoint)
        config = cls._config(folder, options)
        dtype = resolve_dtype(options.dtype, options.device, getattr(config, "dtype", None))
        processor = cls._processor(folder, options)
        check_weight_files(folder)  # a missing, truncated or damaged weights file is named before loading
        from transformers.utils import logging as transformers_logging

        verbosity = transformers_logging.get_verbosity()
        transformers_logging.set_verbosity_error()  # its load report: require_exact_load says it in one line
        try:
            loaded: Any = AutoModelForImageTextToText.from_pretrained(
                folder,
                config=config,
                dtype=dtype,
                trust_remote_code=options.trust_remote_code,
                output_loading_info=True,
                ignore_mismatched_sizes=True,  # reported by require_exact_load, which refuses them
            )
        finally:
            transformers_logging.set_verbosity(verbosity)
        model, info = loaded
        require_exact_load(folder, info)
        model = model.to(options.device).eval()
        return cls(model, processor, folder, options, dtype)

    @classmethod
    def dry_run_preprocessor(cls, options: LoadOptions) -> Callable[[Sample, str], Any] | None:
        """The real processor (no weights): the dry run checks the chat template and image processing too."""
        return HFPreprocessor(cls._processor(resolve_checkpoint(options.checkpoint), options))

    def preprocessor(self) -> Callable[[Sample, str], Any]:
        """Picklable worker step (holds the processor only)."""
        return HFPreprocessor(self.processor)

    def model_input_text(self, prompt: str) -> str:
        """The chat-templated text (before the processor expands the image placeholder)."""
        return chat_text(self.processor, prompt)

    def context_length(self) -> int | None:
        """The language model's `max_position_embeddings` (text_config's for composite configs)."""
        config = self.model.config
        text_config = getattr(config, "text_config", None) or config
        value = getattr(text_config, "max_position_embeddings", None)
        return int(value) if isinstance(value, int) else None

    def input_tokens(self, payload: Any) -> int | None:
        """The processor's input_ids length (image placeholders expanded)."""
        return int(payload["input_ids"].shape[-1])

    @torch.inference_mode()
    def generate(self, batch: Sequence[ModelInput], settings: DecodeSettings) -> list[Generation]:
        """Left-padded batched greedy decoding."""
        inputs = left_pad_collate([item.payload for item in batch], self.pad_id)
        device = self.model.device
        moved = {
            key: value.to(device, dtype=self.dtype) if value.is_floating_point() else value.to(device)
            for key, value in inputs.items()
        }
        output = self.model.generate(
            **moved,
            max_new_tokens=settings.max_new_tokens,
            min_new_tokens=settings.min_new_tokens,
            do_sample=False,
            num_beams=1,
            pad_token_id=self.pad_id,
        )
        new_tokens = output[:, inputs["input_ids"].shape[1] :].tolist()
        generations = []
        for row in new_tokens:
            n_new, hit_max = count_new_tokens(row, self.eos_ids, settings.max_new_tokens)
            text = self.processor.tokenizer.decode(row[:n_new], skip_special_tokens=True).strip()
            generations.append(Generation(text=text, n_new_tokens=n_new, hit_max_new_tokens=hit_max))
        return generations

    def fingerprint(self) -> dict[str, Any]:
        """family, checkpoint, sha256 of config/tokenizer/processor/weight files, dtype, classes, options."""
        if not self._checkpoint_sha256:
            self._checkpoint_sha256 = checkpoint_sha256(self.folder, FINGERPRINT_FILES)
        return {
            "family": self.family,
            "checkpoint": self.options.checkpoint,
            "checkpoint_sha256": self._checkpoint_sha256,
            "dtype": str(self.dtype).replace("torch.", ""),
            "model_class": type(self.model).__name__,
            "processor_class": type(self.processor).__name__,
            "trust_remote_code": self.options.trust_remote_code,
            "family_options": dict(self.options.family_options),
        }
