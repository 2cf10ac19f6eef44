"""Which built-in family a config.json belongs to, from the config alone (no model code imported).

The native adapters' modules import torch and their tokenizers; detection runs before any of that, on every
start, so the family tests live here and the adapters' `detect` methods call them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

MINIMONKEY_ARCHITECTURE = "MiniMonkeyChatModel"


def is_textmonkey_config(config: Mapping[str, Any]) -> bool:
    """TextMonkey: its architecture / auto_map name, or a visual config with the window attention extras."""
    architectures = [str(a) for a in config.get("architectures") or []]
    auto_map = json.dumps(config.get("auto_map") or {}).lower()
    visual = config.get("visual") or {}
    return (
        "TextMonkeyLMHeadModel" in architectures
        or "textmonkey" in auto_map
        or (isinstance(visual, dict) and bool(visual.get("add_window")))
    )


def is_monkey_config(config: Mapping[str, Any]) -> bool:
    """Monkey / Monkey-Chat (and TextMonkey, which shares model_type `monkey`)."""
    architectures = [str(a) for a in config.get("architectures") or []]
    return config.get("model_type") == "monkey" or "MonkeyLMHeadModel" in architectures


def is_minimonkey_config(config: Mapping[str, Any]) -> bool:
    """True for a Mini-Monkey config.json (architecture MiniMonkeyChatModel, or remote code that names it)."""
    if MINIMONKEY_ARCHITECTURE in (config.get("architectures") or []):
        return True
    auto_map = config.get("auto_map") or {}
    return config.get("model_type") == "internvl_chat" and any(
        "minimonkey" in str(v).lower() for v in auto_map.values()
    )


def detects_textmonkey(config: Mapping[str, Any]) -> bool:
    """TextMonkey's detection: its markers on a Monkey (or Qwen-VL visual) config."""
    return is_textmonkey_config(config) and (is_monkey_config(config) or "visual" in config)


def detects_monkey(config: Mapping[str, Any]) -> bool:
    """Monkey's detection: a Monkey config that is not TextMonkey's."""
    return is_monkey_config(config) and not is_textmonkey_config(config)


BUILTIN_DETECTORS: Mapping[str, Callable[[Mapping[str, Any]], bool]] = {
    "textmonkey": detects_textmonkey,
    "monkey": detects_monkey,
    "minimonkey": is_minimonkey_config,
}
"""The native families in detection order: TextMonkey before Monkey (both are Qwen-VL checkpoints)."""
