"""Model adapter registry: built-in families, third-party entry points, and family detection from config.json.

Adapters are registered by import path ("module:Class") and imported only when used, so a family whose
module is missing or broken fails only when someone asks for it. Third-party packages register adapters
under the entry-point group `monkeyeval.models` (name = family, value = "module:Class").

Detection (no `--model`): a predictions file (`*.jsonl`) selects `replay`; otherwise the checkpoint's
config.json is offered to the native families' config tests (`models/detection.py`, which import no model
code), then to third-party adapters' `detect(config)`, then to the generic `hf` adapter last (it accepts any
architecture transformers maps to image-text-to-text).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from monkeyeval.core import jsontext
from monkeyeval.core.errors import UserError
from monkeyeval.models.base import ModelAdapter
from monkeyeval.models.detection import BUILTIN_DETECTORS

ENTRY_POINT_GROUP = "monkeyeval.models"

BUILTIN_ADAPTERS: Mapping[str, str] = {
    "textmonkey": "monkeyeval.models.monkey.adapter:TextMonkeyAdapter",
    "monkey": "monkeyeval.models.monkey.adapter:MonkeyAdapter",
    "minimonkey": "monkeyeval.models.minimonkey.adapter:MiniMonkeyAdapter",
    "hf": "monkeyeval.models.hf:HFAdapter",
    "replay": "monkeyeval.models.replay:ReplayAdapter",
}
GENERIC_FAMILIES: tuple[str, ...] = ("hf",)


class AdapterError(UserError, RuntimeError):
    """An adapter that cannot be found, imported or chosen."""


@dataclass
class AdapterRegistry:
    """Family name -> "module:Class" import path."""

    specs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def discover(cls, extra: Mapping[str, str] | None = None) -> AdapterRegistry:
        """Built-ins, then entry points of group `monkeyeval.models` (which cannot shadow built-ins)."""
        specs = dict(BUILTIN_ADAPTERS)
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            specs.setdefault(entry.name, entry.value)
        specs.update(extra or {})
        return cls(specs)

    def families(self) -> list[str]:
        """Every registered family name, sorted."""
        return sorted(self.specs)

    def get(self, family: str) -> type[ModelAdapter]:
        """Import and return the adapter class of `family` (or of an explicit "module:Class" path)."""
        spec = self.specs.get(family) or (family if ":" in family else None)
        if spec is None:
            raise AdapterError(
                f"unknown model family {family!r}; known families: {', '.join(self.families())}"
            )
        module_name, _, class_name = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
            adapter = getattr(module, class_name)
        except (ImportError, AttributeError) as exc:
            raise AdapterError(
                f"model family {family!r} is registered as {spec} but cannot be imported "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        if not (isinstance(adapter, type) and issubclass(adapter, ModelAdapter)):
            raise AdapterError(f"{spec} (family {family!r}) is not a ModelAdapter subclass")
        return adapter

    def detect(self, checkpoint: str) -> str:
        """The family of a checkpoint (local folder or hub id); raises AdapterError listing the families."""
        if checkpoint.endswith(".jsonl") and Path(checkpoint).is_file():
            return "replay"
        config = read_checkpoint_config(checkpoint)
        third_party = [name for name in self.families() if name not in BUILTIN_ADAPTERS]
        unavailable: list[str] = []
        for family in (*BUILTIN_DETECTORS, *third_party, *GENERIC_FAMILIES):
            if family not in self.specs:
                continue
            if self.specs[family] == BUILTIN_ADAPTERS.get(family) and family in BUILTIN_DETECTORS:
                if BUILTIN_DETECTORS[family](config):  # no adapter import for a config test
                    return family
                continue
            try:
                adapter = self.get(family)
            except AdapterError:
                unavailable.append(family)
                continue
            if adapter.detect(config):
                return family
        described = config.get("model_type"), config.get("architectures")
        note = f" (could not import: {', '.join(unavailable)})" if unavailable else ""
        raise AdapterError(
            f"{checkpoint}: cannot tell the model family from config.json (model_type={described[0]!r}, "
            f"architectures={described[1]!r}). Pass --model FAMILY; known families: "
            f"{', '.join(self.families())}{note}"
        )


def read_checkpoint_config(checkpoint: str) -> dict[str, Any]:
    """config.json of a checkpoint (local folder, or hub id through the hub cache / download)."""
    from monkeyeval.models.weights import resolve_checkpoint

    folder = resolve_checkpoint(checkpoint)
    path = folder / "config.json"
    if not path.is_file():
        raise AdapterError(f"{folder}: no config.json, so the model family cannot be detected; pass --model")
    try:
        config = jsontext.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise AdapterError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(config, dict):
        raise AdapterError(f"{path}: expected a JSON object")
    return config
