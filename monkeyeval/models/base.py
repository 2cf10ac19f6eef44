"""The model adapter contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from monkeyeval.core.types import Generation, Sample
from monkeyeval.models.options import reject_unknown


@dataclass(frozen=True)
class LoadOptions:
    """How to load a checkpoint (from the command line)."""

    checkpoint: str
    device: str = "cpu"
    dtype: str = "auto"  # "auto" = the family's default (bf16 on GPU when the config says so, fp32 on CPU)
    trust_remote_code: bool = False
    family_options: dict[str, Any] = field(default_factory=dict)  # e.g. {"padding_aware_positions": True}


@dataclass(frozen=True)
class DecodeSettings:
    """Decoding settings shared by every adapter (greedy only: evaluation is deterministic)."""

    max_new_tokens: int
    min_new_tokens: int | None = None  # None: the family's upstream rule (Monkey 1, Mini-Monkey and hf none)
    max_input_tokens: int | None = None  # longer prompts are per-sample errors (None: the model's context)


INPUT_TOO_LONG = "input too long"  # the error prefix of a prompt over the input limit


def input_limit(context_length: int | None, settings: DecodeSettings) -> tuple[int | None, str]:
    """The longest prompt (tokens) allowed, and where the bound comes from; (None, "") for no bound."""
    if settings.max_input_tokens is not None:
        return settings.max_input_tokens, "--max-input-tokens"
    if context_length is None:
        return None, ""
    return context_length - settings.max_new_tokens, (
        f"the model's context of {context_length} tokens minus max_new_tokens {settings.max_new_tokens}"
    )


def too_long_error(length: int, limit: int, source: str) -> str:
    """The per-sample error of a prompt over the input limit."""
    return (
        f"{INPUT_TOO_LONG}: the prompt is {length} tokens, over the limit of {limit} ({source}); "
        "it was not generated (raise --max-input-tokens where the model allows)"
    )


@dataclass
class ModelInput:
    """One sample as an adapter receives it: the final prompt text plus the preprocessed image payload.

    `payload` is whatever the adapter's `preprocess` returned for this sample (computed in DataLoader
    worker processes); None when the sample has an error.
    """

    sample: Sample
    prompt: str
    payload: Any


class ModelAdapter(ABC):
    """A model family: load once, then preprocess samples (in workers) and generate in batches."""

    family: str = ""
    default_prompt_profile: str = ""
    runs_a_model: bool = True  # False (replay): answers come from a file; no images, no device

    @classmethod
    @abstractmethod
    def load(cls, options: LoadOptions) -> ModelAdapter:
        """Load the checkpoint (local folder or hub id)."""

    @classmethod
    def detect(cls, config: dict[str, Any]) -> bool:
        """True when a checkpoint's config.json belongs to this family (used without `--model`)."""
        return False

    @abstractmethod
    def preprocessor(self) -> Callable[[Sample, str], Any]:
        """A small picklable callable `(sample, prompt) -> payload` that decodes and preprocesses the image.

        It runs in DataLoader worker processes, so it must not hold the model's weights. It raises on a
        missing or undecodable image; the runner records the error against the sample and goes on.
        """

    @classmethod
    def dry_run_preprocessor(cls, options: LoadOptions) -> Callable[[Sample, str], Any] | None:
        """The preprocessor for `monkeyeval run --dry-run`, built WITHOUT loading weights.

        Return a picklable `(sample, prompt) -> payload` (e.g. image transforms built from config.json only),
        or None (the default): the dry run then only checks that every image decodes with PIL.
        """
        return None

    def configure_task(self, options: dict[str, Any]) -> None:
        """Per-task family options (the task's `family_options[family]` merged with `--model-option`).

        Called by the runner before each task's samples are preprocessed or generated (e.g. Mini-Monkey's
        tile budget differs per task). Default: the family takes no options, so any key is an OptionError.
        """
        reject_unknown(self.family, options, ())

    def model_input_text(self, prompt: str) -> str:
        """The exact text the model sees for `prompt` (after any chat template); stored per sample."""
        return prompt

    def context_length(self) -> int | None:
        """The most positions (prompt + generated tokens) the model takes; None when unknown."""
        return None

    def input_tokens(self, payload: Any) -> int | None:
        """The prompt length in tokens of a preprocessed sample (its `preprocessor()` output); None: unknown.

        The runner refuses a prompt over the context (minus max_new_tokens) or over --max-input-tokens as a
        per-sample error before it reaches `generate`, so one huge question cannot stall a batch. An adapter
        that learns the length only when it builds the batch returns None here and refuses such a sample in
        `generate` instead (a `Generation` with `error=too_long_error(...)`).
        """
        return None

    def cost(self, sample: Sample, prompt: str) -> int | None:
        """An estimate of one sample's prefill tokens, made WITHOUT decoding its image; None: no estimate.

        The runner sorts a share's samples by it (most expensive first) so that batches hold samples of
        similar length (less padding) and ranks claiming batches finish together (runner/schedule.py). It
        runs in the main process on every rank: read at most an image's header (PIL `Image.open(path).size`,
        after `core.images.require_regular_file`), and return the same value on every rank for the same
        files, since the ranks form their batch lists independently. A sample whose image is unreadable may
        cost its prompt alone (its worker records the error). None (the default) keeps dataset-order batches:
        return it when answers depend on which samples share a batch, or when no estimate exists.
        """
        del sample, prompt
        return None

    @abstractmethod
    def generate(self, batch: Sequence[ModelInput], settings: DecodeSettings) -> list[Generation]:
        """Greedy generation for a batch (left padding where needed); one Generation per input, in order."""

    @abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """family, checkpoint id, hash of config and weight files, dtype, and family options."""
