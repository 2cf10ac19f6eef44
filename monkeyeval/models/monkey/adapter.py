"""Adapters for the native Monkey / Monkey-Chat (`monkey`) and TextMonkey (`textmonkey`) families.

Loads upstream checkpoint folders as they are (config.json, qwen.tiktoken, safetensors or bin weights) with
no remote code. The prompt keeps upstream's bytes (the jsonl image path inside `<img></img>` is byte-encoded
into the span and then overwritten by the image tokens); the image itself is read by the runner's DataLoader
workers from `sample.image_path` (already confined to the dataset's image root), never from the prompt.

Family options (`--model-option key=value`, or a task's `family_options`):

- `padding_aware_positions` (default false): false reproduces upstream exactly (RoPE/NTK/logn on raw
  indices of the left-padded batch, so answers depend slightly on batch composition); true makes every
  row's positions and NTK alpha its own, so answers do not depend on the batch. See `qwen.py`. It also
  decides the batches: false keeps upstream's dataset-order batches (the paper's numbers need the same
  batches); true lets the runner sort samples by prompt length (`MonkeyAdapter.cost`, runner/schedule.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import torch

from monkeyeval.core import jsontext
from monkeyeval.core.errors import UserError
from monkeyeval.core.types import Generation, Sample
from monkeyeval.models.base import DecodeSettings, LoadOptions, ModelAdapter, ModelInput
from monkeyeval.models.detection import detects_monkey, detects_textmonkey
from monkeyeval.models.dtypes import resolve_dtype as resolve_dtype_named
from monkeyeval.models.monkey.generate import greedy_generate
from monkeyeval.models.monkey.image import MonkeyImagePreprocessor
from monkeyeval.models.monkey.model import MonkeyForCausalLM
from monkeyeval.models.monkey.textmonkey_vision import TextMonkeyVisual
from monkeyeval.models.monkey.tokenizer import ENDOFTEXT, MONKEY_IMAGE_SPAN, QwenTokenizer
from monkeyeval.models.monkey.vision import MonkeyVisual
from monkeyeval.models.options import parse_flag, reject_unknown
from monkeyeval.models.weights import checkpoint_sha256, resolve_checkpoint

TOKENIZER_FILE = "qwen.tiktoken"
UPSTREAM_MIN_NEW_TOKENS = 1  # evaluate_vqa.py passes min_new_tokens=1 to generate (eod blocked at step 0)


class MonkeyAdapterError(UserError, RuntimeError):
    """A checkpoint, option or sample the Monkey adapters cannot handle."""


@dataclass(frozen=True)
class MonkeyOptions:
    """The family options of `monkey` and `textmonkey`, validated."""

    padding_aware_positions: bool = False

    @classmethod
    def parse(cls, family: str, raw: Mapping[str, Any]) -> MonkeyOptions:
        """Unknown keys and non-boolean values raise OptionError naming `family`."""
        reject_unknown(family, raw, [f.name for f in fields(cls)])
        value = raw.get("padding_aware_positions", cls.padding_aware_positions)
        return cls(padding_aware_positions=parse_flag(family, "padding_aware_positions", value))


def resolve_device(requested: str) -> str:
    """'auto' = cuda when available, else cpu; anything else as given."""
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def resolve_dtype(requested: str, device: str, config: dict[str, Any]) -> torch.dtype:
    """auto: fp32 on CPU; on GPU bf16/fp16 when config.json says so (upstream's precision), else fp32."""
    on_gpu = torch.bfloat16 if config.get("bf16") else torch.float16 if config.get("fp16") else torch.float32
    return resolve_dtype_named(requested, device, on_gpu)


def read_config(folder: Path) -> dict[str, Any]:
    """config.json of a checkpoint folder, with a clear error when absent or malformed."""
    path = folder / "config.json"
    try:
        config = jsontext.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MonkeyAdapterError(f"{folder}: no config.json (is this a Monkey checkpoint folder?)") from None
    except json.JSONDecodeError as exc:
        raise MonkeyAdapterError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(config, dict) or not isinstance(config.get("visual"), dict):
        raise MonkeyAdapterError(f"{path}: expected a Monkey config with a 'visual' section")
    return config


def invalid_config(folder: Path, exc: BaseException) -> MonkeyAdapterError:
    """The error for a config.json whose values the model cannot be built from."""
    return MonkeyAdapterError(
        f"{folder / 'config.json'}: invalid Monkey config ({type(exc).__name__}: {exc}); compare it with the "
        "config.json published with the checkpoint"
    )


def decode_answer(tokenizer: QwenTokenizer, new_ids: Sequence[int], remove_literal_endoftext: bool) -> str:
    """decode(skip specials).strip(); TextMonkey's eval then removes any literal `<|endoftext|>` text."""
    text = tokenizer.decode(new_ids, skip_special_tokens=True).strip()
    return text.replace(ENDOFTEXT, "") if remove_literal_endoftext else text


@dataclass(frozen=True)
class MonkeyPreprocessor:
    """Worker step: prompt -> input ids, sample.image_path -> normalised pixels. Holds no weights."""

    tokenizer: QwenTokenizer
    images: MonkeyImagePreprocessor

    def __call__(self, sample: Sample, prompt: str) -> dict[str, Any]:
        ids = self.tokenizer.encode(prompt)
        spans = ids.count(self.tokenizer.img_start_id)
        if spans == 0:
            return {"input_ids": ids, "pixel_values": None}
        if spans > 1:
            raise MonkeyAdapterError(
                f"sample {sample.id}: the prompt has {spans} <img> spans but a sample carries one image"
            )
        if sample.image_path is None:
            raise MonkeyAdapterError(f"sample {sample.id}: {sample.error or 'no image path'}")
        return {"input_ids": ids, "pixel_values": self.images(sample.image_path)}


class MonkeyAdapter(ModelAdapter):
    """Monkey and Monkey-Chat (QWen-7B + Qwen-VL ViT with per-window LoRA), native implementation."""

    family = "monkey"
    default_prompt_profile = "monkey_vqa"
    vision_tower: ClassVar[type[MonkeyVisual | TextMonkeyVisual]] = MonkeyVisual
    strips_literal_endoftext: ClassVar[bool] = False  # Monkey's eval keeps a literal "<|endoftext|>" text

    def __init__(
        self,
        model: MonkeyForCausalLM,
        tokenizer: QwenTokenizer,
        folder: Path,
        options: LoadOptions,
        dtype: torch.dtype,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.folder = folder
        self.options = options
        self.dtype = dtype
        self.device = torch.device(resolve_device(options.device))
        family_options = MonkeyOptions.parse(self.family, options.family_options)
        self.padding_aware_positions = family_options.padding_aware_positions
        self._checkpoint_sha256 = ""

    # ---- family detection and construction -------------------------------------------------------------

    @classmethod
    def detect(cls, config: dict[str, Any]) -> bool:
        """model_type `monkey` / architecture `MonkeyLMHeadModel`, and not TextMonkey."""
        return detects_monkey(config)

    @classmethod
    def image_span(cls, config: dict[str, Any]) -> int:
        """Ids per `<img>` span: Monkey's tokenizer hard-codes 1280."""
        del config
        return MONKEY_IMAGE_SPAN

    @classmethod
    def build_tokenizer(cls, folder: Path, config: dict[str, Any]) -> QwenTokenizer:
        """The checkpoint's qwen.tiktoken with this family's image span."""
        path = folder / TOKENIZER_FILE
        if not path.is_file():
            raise MonkeyAdapterError(f"{folder}: no {TOKENIZER_FILE} (the QWen vocabulary) in the checkpoint")
        return QwenTokenizer.from_file(path, image_span=cls.image_span(config))

    @classmethod
    def build_preprocessor(cls, folder: Path, config: dict[str, Any]) -> MonkeyPreprocessor:
        """Tokenizer + image preprocessing from the checkpoint folder (no weights)."""
        visual = config["visual"]
        size = visual.get("image_size", 896)
        size = int(size[0] if isinstance(size, list) else size)
        return MonkeyPreprocessor(cls.build_tokenizer(folder, config), MonkeyImagePreprocessor(size))

    @classmethod
    def build_model(
        cls, config: dict[str, Any], device: torch.device, dtype: torch.dtype
    ) -> MonkeyForCausalLM:
        """The full model in `dtype`: left on the meta device when `device` is meta (fill it with
        `load_checkpoint_weights`), else uninitialised on `device` (random-weight benches)."""
        with torch.device("meta"):
            model = MonkeyForCausalLM(config, cls.vision_tower.from_visual_config(config["visual"]))
        model = model.to(dtype)  # on meta: floating tensors take `dtype`, nothing is allocated
        if device.type != "meta":
            model = model.to_empty(device=device)
        return model.eval()

    @classmethod
    def load(cls, options: LoadOptions) -> MonkeyAdapter:
        """Read config, tokenizer and every weight tensor strictly (no remote code is ever run)."""
        MonkeyOptions.parse(cls.family, options.family_options)  # fail before loading weights
        folder = resolve_checkpoint(options.checkpoint)
        config = read_config(folder)
        device_name = resolve_device(options.device)
        dtype = resolve_dtype(options.dtype, device_name, config)
        device = torch.device(device_name)
        tokenizer = cls.build_tokenizer(folder, config)
        try:
            model = cls.build_model(config, torch.device("meta"), dtype)
        except (TypeError, ValueError, KeyError) as exc:  # a config value the model cannot be built from
            raise invalid_config(folder, exc) from exc
        model.load_checkpoint_weights(folder, device)  # each tensor placed on `device` from its shard
        return cls(model, tokenizer, folder, options, dtype)

    @classmethod
    def dry_run_preprocessor(cls, options: LoadOptions) -> Callable[[Sample, str], Any] | None:
        """The real worker step, built from config.json and qwen.tiktoken only."""
        folder = resolve_checkpoint(options.checkpoint)
        try:
            return cls.build_preprocessor(folder, read_config(folder))
        except (TypeError, ValueError, KeyError) as exc:
            raise invalid_config(folder, exc) from exc

    def configure_task(self, options: dict[str, Any]) -> None:
        """Per-task family options (e.g. padding_aware_positions), already merged by the runner."""
        self.padding_aware_positions = MonkeyOptions.parse(self.family, options).padding_aware_positions

    # ---- running --------------------------------------------------------------------------------------

    def preprocessor(self) -> Callable[[Sample, str], Any]:
        """Picklable worker step: tokenizer + image preprocessing."""
        return self.build_preprocessor(self.folder, self.model.config)

    def answer_text(self, new_ids: Sequence[int]) -> str:
        """The upstream eval answer for this family (see `decode_answer`)."""
        return decode_answer(self.tokenizer, new_ids, remove_literal_endoftext=self.strips_literal_endoftext)

    def context_length(self) -> int | None:
        """config.json's `max_position_embeddings` (Qwen-VL: 8192; positions past `seq_length` use NTK)."""
        value = self.model.config.get("max_position_embeddings")
        return int(value) if isinstance(value, int) else None

    def input_tokens(self, payload: Any) -> int | None:
        """Prompt ids, the image span's ids included."""
        return len(payload["input_ids"])

    @torch.inference_mode()
    def generate(self, batch: Sequence[ModelInput], settings: DecodeSettings) -> list[Generation]:
        """Left-pad (eod), encode every image once, greedy-decode the batch."""
        results: list[Generation | None] = [None] * len(batch)
        live = [i for i, item in enumerate(batch) if item.payload is not None]
        for i in set(range(len(batch))) - set(live):
            results[i] = Generation(text="", n_new_tokens=0, hit_max_new_tokens=False)
        if live:
            payloads = [batch[i].payload for i in live]
            padded = self.tokenizer.pad_left([p["input_ids"] for p in payloads])
            input_ids = torch.tensor(padded.input_ids, dtype=torch.long, device=self.device)
            attention_mask = torch.tensor(padded.attention_mask, dtype=torch.long, device=self.device)
            pixels = [p["pixel_values"] for p in payloads if p["pixel_values"] is not None]
            image_embeds = self.model.encode_images(torch.stack(pixels).to(self.device)) if pixels else None
            output = greedy_generate(
                self.model,
                input_ids,
                attention_mask,
                image_embeds,
                eod_id=self.tokenizer.eod_id,
                max_new_tokens=settings.max_new_tokens,
                min_new_tokens=UPSTREAM_MIN_NEW_TOKENS
                if settings.min_new_tokens is None
                else settings.min_new_tokens,
                padding_aware_positions=self.padding_aware_positions,
            )
            for row, index in enumerate(live):
                results[index] = Generation(
                    text=self.answer_text(output.new_ids[row]),
                    n_new_tokens=output.n_new_tokens[row],
                    hit_max_new_tokens=output.hit_max_new_tokens[row],
                )
        return [r for r in results if r is not None]

    def fingerprint(self) -> dict[str, Any]:
        """family, checkpoint, sha256 of config/tokenizer/weights, dtype, image span, position mode."""
        if not self._checkpoint_sha256:
            self._checkpoint_sha256 = checkpoint_sha256(self.folder, ("config.json", TOKENIZER_FILE))
        return {
            "family": self.family,
            "checkpoint": self.options.checkpoint,
            "checkpoint_sha256": self._checkpoint_sha256,
            "dtype": str(self.dtype).replace("torch.", ""),
            "image_span": self.tokenizer.image_span,
            "padding_aware_positions": self.padding_aware_positions,
            "family_options": dict(self.options.family_options),
        }

    def cost(self, sample: Sample, prompt: str) -> int | None:
        """None in the default parity mode; with `padding_aware_positions`, the prompt's ids (its `<img>` span
        holds the image's tokens, a fixed count per family), read from the prompt alone.

        Parity mode (`padding_aware_positions` false) applies RoPE/NTK/logn on the raw indices of the
        left-padded batch, as upstream does, so an answer depends on which samples share its batch; upstream
        batches in dataset order, and reproducing the paper's numbers needs those same batches, so the runner
        must not sort. With padding-aware positions each row's answer is its own and sorting is safe. A prompt
        the tokenizer refuses costs 0 (its worker records the error).
        """
        del sample
        if not self.padding_aware_positions:
            return None
        try:
            return len(self.tokenizer.encode(prompt))
        except (ValueError, TypeError):  # the errors upstream's tokenizer raises for a bad span
            return 0


class TextMonkeyAdapter(MonkeyAdapter):
    """TextMonkey (shifted-window attention + token resampler; span = config.visual.n_queries)."""

    family = "textmonkey"
    default_prompt_profile = "textmonkey_vqa"
    vision_tower = TextMonkeyVisual
    strips_literal_endoftext = True  # TextMonkey's eval removes it from the answer

    @classmethod
    def detect(cls, config: dict[str, Any]) -> bool:
        """architecture `TextMonkeyLMHeadModel` (or window-attention visual config) on a Monkey config."""
        return detects_textmonkey(config)

    @classmethod
    def image_span(cls, config: dict[str, Any]) -> int:
        """TextMonkey sets the tokenizer's span to config.visual.n_queries (remain + 256)."""
        try:
            return int(config["visual"]["n_queries"])
        except KeyError:
            raise MonkeyAdapterError("TextMonkey config.visual lacks n_queries (the image span)") from None
