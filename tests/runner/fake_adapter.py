"""A fast, deterministic stand-in model for runner tests (no torch model).

Its answer depends on the sample and on the decoded pixels (so a wrong image or order would show), is the
gold answer for even dataset indices, and, with family option `batch_sensitive=true`, changes for every
third sample when it shares its batch with others (to exercise check-invariance). Family option `delay`
sleeps per batch (to kill a run mid-way); `fail_on=<index>` makes every batch holding that sample raise
(until the file named by `fail_unless=<path>` exists: a transient failure); `context=<n>` is its context
length (a prompt counts one token per character); `kill_worker_on=<index>` / `hang_on=<index>` make a
DataLoader worker preparing that sample die (SIGKILL) or hang (never in the main process). `fits=<n>`
raises torch's out-of-memory error for a batch of more than n samples; `batch_log=<path>` appends each
generate call's batch size to that file.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monkeyeval.core.types import Generation, Sample
from monkeyeval.models.base import DecodeSettings, LoadOptions, ModelAdapter, ModelInput

SPEC = "runner.fake_adapter:FakeAdapter"


@dataclass(frozen=True)
class FakePayload:
    """What the worker step prepares: the pixel digest (shown in wrong answers) and the prompt length."""

    digest: str
    n_tokens: int

    def __str__(self) -> str:
        return self.digest


@dataclass
class PixelDigest:
    """Worker step: decode the image and hash its pixels."""

    kill_worker_on: int | None = None
    hang_on: int | None = None

    def __call__(self, sample: Sample, prompt: str) -> FakePayload:
        from PIL import Image
        from torch.utils.data import get_worker_info

        if get_worker_info() is not None and sample.index == self.kill_worker_on:
            os.kill(os.getpid(), signal.SIGKILL)
        if get_worker_info() is not None and sample.index == self.hang_on:
            time.sleep(3600)

        if sample.image_path is None:
            raise FileNotFoundError(sample.error)
        with Image.open(sample.image_path) as image:
            image.load()
            return FakePayload(hashlib.sha256(image.tobytes()).hexdigest()[:8], len(prompt))


class FakeAdapter(ModelAdapter):
    """See the module docstring."""

    family = "fake"
    default_prompt_profile = ""

    def __init__(self, options: LoadOptions) -> None:
        self.options = options
        self.task_options: dict[str, Any] = {}
        self.folder = Path(options.checkpoint)

    @classmethod
    def load(cls, options: LoadOptions) -> FakeAdapter:
        return cls(options)

    @classmethod
    def detect(cls, config: dict[str, Any]) -> bool:
        return config.get("model_type") == "fake_vlm"

    def configure_task(self, options: dict[str, Any]) -> None:
        self.task_options = dict(options)

    def preprocessor(self) -> Callable[[Sample, str], Any]:
        kill, hang = self.task_options.get("kill_worker_on"), self.task_options.get("hang_on")
        return PixelDigest(None if kill is None else int(kill), None if hang is None else int(hang))

    def model_input_text(self, prompt: str) -> str:
        return f"<fake>{prompt}"

    def context_length(self) -> int | None:
        context = self.task_options.get("context")
        return None if context is None else int(context)

    def input_tokens(self, payload: Any) -> int | None:
        return int(payload.n_tokens)

    def generate(self, batch: Sequence[ModelInput], settings: DecodeSettings) -> list[Generation]:
        time.sleep(float(self.task_options.get("delay", 0)))
        log = self.task_options.get("batch_log")
        if log is not None:
            with open(str(log), "a", encoding="utf-8") as handle:
                handle.write(f"{len(batch)}\n")
        fits = self.task_options.get("fits")
        if fits is not None and len(batch) > int(fits):
            import torch

            raise torch.OutOfMemoryError(f"simulated: a batch of {len(batch)} does not fit (fits={fits})")
        poison = self.task_options.get("fail_on")
        healed = Path(str(self.task_options.get("fail_unless", "/nonexistent/marker"))).exists()
        if poison is not None and not healed and any(item.sample.index == poison for item in batch):
            raise RuntimeError(f"simulated out-of-memory on sample {poison}")
        out = []
        for item in batch:
            sample = item.sample
            gold = sample.answers[0] if sample.answers else f"guess {sample.id}"  # no answers: --predict-only
            answer = gold if sample.index % 2 == 0 else f"wrong {item.payload}"
            if self.task_options.get("batch_sensitive") and len(batch) > 1 and sample.index % 3 == 0:
                answer += " batched"
            text = answer[: settings.max_new_tokens]
            out.append(Generation(text, len(text), len(answer) >= settings.max_new_tokens))
        return out

    def fingerprint(self) -> dict[str, Any]:
        config = self.folder / "config.json"
        return {
            "family": "fake",
            "checkpoint": str(self.folder),
            "checkpoint_sha256": hashlib.sha256(config.read_bytes()).hexdigest(),
            "dtype": "fp32",
            "family_options": dict(self.options.family_options),
        }


def write_fake_checkpoint(folder: Path, seed: int = 0) -> Path:
    """A checkpoint folder the fake adapter accepts (config.json only)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "fake_vlm", "seed": seed}))
    return folder
