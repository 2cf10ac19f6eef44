"""Helpers shared by the Mini-Monkey parity tests."""

from __future__ import annotations

from collections.abc import Callable

VIT_TOL = 1e-5
LOGIT_TOL = 1e-4


def labelled(label: str) -> Callable[[str], str]:
    """An assert_close `msg` callback that prefixes the case (and step) to torch's message."""
    return lambda message: f"{label}: {message}"
