"""Family options (`--model-option key=value`, a task's `family_options`): the shared checks.

Each family declares its options as a typed, frozen dataclass and parses them once with these helpers, so an
unknown key or a bad value is the same `OptionError` on every family.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from monkeyeval.core.errors import UserError

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


class OptionError(UserError, ValueError):
    """A family option with an unknown key or a bad value; the message lists what is accepted."""


def reject_unknown(family: str, raw: Mapping[str, Any], known: Iterable[str]) -> None:
    """Raise OptionError when `raw` holds a key the family does not know."""
    names = tuple(known)
    unknown = sorted(set(raw) - set(names))
    if unknown:
        accepted = ", ".join(names) if names else "none (this family takes no options)"
        raise OptionError(
            f"unknown {family} option(s) {unknown} (from --model-option or the task's family_options); "
            f"known: {accepted}"
        )


def parse_flag(family: str, name: str, value: Any) -> bool:
    """A boolean option given as a bool or a command-line word (true/false, yes/no, 1/0, on/off)."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS | FALSE_WORDS:
        return word in TRUE_WORDS
    raise OptionError(f"{family} option {name}={value!r}: expected true or false")
