"""The generic `hf` adapter: any transformers VLM through AutoModelForImageTextToText + AutoProcessor.

The processor's own chat template turns the final prompt into the model input (one user turn holding one
image and the prompt text). Per sample (in workers when there are any): decode the image, apply the chat
template. Per batch: one processor call (left padding) and one `generate`, as a bare transformers loop does.

Decoding is what `model.generate` does with the checkpoint's `generation_config`, made greedy (`do_sample`
off, one beam; the sampling settings cleared so they neither warn nor act): its eos ids stop generation (the
tokenizer's eos when it names none), its other settings (repetition penalty, ...) apply, and
`min_new_tokens` is set only when the config or the run asks for it. Remote code runs only with
`--trust-remote-code`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from monkeyeval.core.types import Generation, Sample
from monkeyeval.models.base import (
    DecodeSettings,
    LoadOptions,
    ModelAdapter,
    ModelInput,
    input_limit,
    too_long_error,
)
from monkeyeval.models.dtypes import resolve_dtype as resolve_dtype_named
from monkeyeval.models.hf_processors import (
    HFAdapterError,
    HFRow,
    HFSample,
    batch_features,
    chat_text,
    collated_features,
    load_processor,
    prompt_lengths,
)
from monkeyeval.models.options import reject_unknown
from monkeyeval.models.weights import (
    CheckpointError,
    check_weight_files,
    checkpoint_sha256,
    resolve_checkpoint,
)

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
SAMPLING_SETTINGS = ("temperature", "top_p", "top_k", "min_p", "typical_p")  # inert under greedy decoding


@dataclass
class HFPreprocessor:
    """Worker-side steps: per sample, decode the image and apply the chat template; per batch (`collate`),
    the one processor call, so resizing, normalising and padding stay out of the main process too.

    `check_processor` (the dry run) also runs the processor on the sample, so a template or image the
    processor refuses is found without loading weights.
    """

    processor: Any
    check_processor: bool = False

    def __call__(self, sample: Sample, prompt: str) -> HFSample:
        from PIL import Image

        if sample.image_path is None:
            raise HFAdapterError(sample.error or "sample has no image")
        image = Image.open(sample.image_path)
        image.load()  # decoded exactly as stored; the processor does its own conversion and resizing
        ready = HFSample(image, chat_text(self.processor, prompt))
        if self.check_processor:
            batch_features(self.processor, [ready])
        return ready

    def collate(self, samples: list[HFSample]) -> list[HFRow]:
        """The batch's processor call (left padding), as a bare loop makes it; each sample becomes its row."""
        features = batch_features(self.processor, samples)
        return [HFRow(features, row) for row in range(len(samples))]


def count_new_tokens(row: list[int], eos_ids: set[int], max_new_tokens: int) -> tuple[int, bool]:
    """(tokens up to and including the first eos, whether generation stopped at max_new_tokens)."""
    for position, token in enumerate(row):
        if token in eos_ids:
            return position + 1, False
    return len(row), len(row) >= max_new_tokens


def greedy_generation_config(base: Any, eos_ids: list[int], pad_id: int, settings: DecodeSettings) -> Any:
    """The checkpoint's generation config made greedy, bounded by the task's max_new_tokens."""
    config = copy.deepcopy(base)
    config.do_sample = False
    config.num_beams = 1
    for name in SAMPLING_SETTINGS:
        if hasattr(config, name):
            setattr(config, name, None)
    config.max_new_tokens = settings.max_new_tokens
    config.max_length = None
    config.eos_token_id = eos_ids
    config.pad_token_id = pad_id
    if settings.min_new_tokens is not None:
        config.min_new_tokens = settings.min_new_tokens
    return config


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
        self.eos_ids = list(eos) if isinstance(eos, list) else [eos]
        self._checkpoint_sha256 = ""
        self._generation_configs: dict[DecodeSettings, Any] = {}

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
    def load(cls, options: LoadOptions) -> HFAdapter:
        """Load processor and model; weights in the requested dtype on the requested device."""
        from transformers import AutoModelForImageTextToText

        reject_unknown(cls.family, options.family_options, ())
        folder = resolve_checkpoint(options.checkpoint)
        config = cls._config(folder, options)
        dtype = resolve_dtype(options.dtype, options.device, getattr(config, "dtype", None))
        processor = load_processor(folder, options.trust_remote_code)
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
        folder = resolve_checkpoint(options.checkpoint)
        return HFPreprocessor(load_processor(folder, options.trust_remote_code), check_processor=True)

    def preprocessor(self) -> Callable[[Sample, str], Any]:
        """Picklable worker step (holds the processor only)."""
        return HFPreprocessor(self.processor)

    def model_input_text(self, prompt: str) -> str:
        """The chat-templated text (before the processor expands the image placeholder)."""
        return chat_text(self.processor, prompt)

    def input_tokens(self, payload: Any) -> int | None:
        """A collated row's prompt length (image tokens included, padding not); None before the batch step."""
        if isinstance(payload, HFRow):
            return prompt_lengths(payload.features)[payload.row]
        return None

    def context_length(self) -> int | None:
        """The language model's `max_position_embeddings` (text_config's for composite configs)."""
        config = self.model.config
        text_config = getattr(config, "text_config", None) or config
        value = getattr(text_config, "max_position_embeddings", None)
        return int(value) if isinstance(value, int) else None

    @torch.inference_mode()
    def generate(self, batch: Sequence[ModelInput], settings: DecodeSettings) -> list[Generation]:
        """One processor call (the worker's, when the batch arrives as it was collated) and one greedy
        `generate` for the batch; prompts over the limit refused."""
        features = collated_features([item.payload for item in batch])
        samples: list[HFSample] | None = None
        if features is None:
            samples = self._samples(batch)
            features = batch_features(self.processor, samples)
        limit, source = input_limit(self.context_length(), settings)
        refused = {
            i: too_long_error(n, limit, source)
            for i, n in enumerate(prompt_lengths(features))
            if limit is not None and n > limit
        }
        if refused:  # rebuild the batch without them (rare: the runner bounds most prompts beforehand)
            samples = samples if samples is not None else self._samples(batch)
            kept = [sample for i, sample in enumerate(samples) if i not in refused]
            answers = iter(self._generate(batch_features(self.processor, kept), settings) if kept else [])
            return [
                Generation("", 0, False, error=refused[i]) if i in refused else next(answers)
                for i in range(len(samples))
            ]
        return self._generate(features, settings)

    def _samples(self, batch: Sequence[ModelInput]) -> list[HFSample]:
        """The batch's samples before the batch step: a collated row is prepared again from its sample
        (only for a batch the runner trimmed or split, so image decoding stays in the workers)."""
        again = self.preprocessor()
        return [
            item.payload if isinstance(item.payload, HFSample) else again(item.sample, item.prompt)
            for item in batch
        ]

    def _generation_config(self, settings: DecodeSettings) -> Any:
        """The greedy config for `settings`, built once (generate works on a copy of what it is given)."""
        if settings not in self._generation_configs:
            base = self.model.generation_config
            config = greedy_generation_config(base, self.eos_ids, self.pad_id, settings)
            self._generation_configs[settings] = config
        return self._generation_configs[settings]

    def _generate(self, features: dict[str, torch.Tensor], settings: DecodeSettings) -> list[Generation]:
        device = self.model.device
        moved = {
            key: value.to(device, dtype=self.dtype) if value.is_floating_point() else value.to(device)
            for key, value in features.items()
        }
        output = self.model.generate(**moved, generation_config=self._generation_config(settings))
        new_tokens = output[:, features["input_ids"].shape[1] :].tolist()
        eos_ids = set(self.eos_ids)
        generations = []
        for row in new_tokens:
            n_new, hit_max = count_new_tokens(row, eos_ids, settings.max_new_tokens)
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

    def cost(self, sample: Sample, prompt: str) -> int | None:
        """None: keep dataset-order batches.

        A batch is one processor call (left padding) and one `model.generate`; answers can depend on the
        batch: padded rows run through kernels whose float rounding changes with the batch's length (bf16 and
        fp16 most), some processors pad images or patch grids to the batch's largest, and some models build
        positions from the padded length. What a bare transformers loop over the dataset gives is what this
        family reproduces, and its image-token count depends on each processor's own resizing, which cannot
        be read from config.json generically.
        """
        del sample, prompt
        return None
