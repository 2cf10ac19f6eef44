"""Where the built-in task YAMLs and metric plugins live (checkout or installed wheel)."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def builtin_dir(kind: str) -> Path:
    """The built-in `tasks` or `metrics` folder.

    In an installed wheel they are copied into `monkeyeval/_builtin/<kind>`; in a checkout (or an
    editable install) they are the repository's top-level `<kind>/` folder.
    """
    if kind not in ("tasks", "metrics"):
        raise ValueError(f"unknown built-in folder kind {kind!r}")
    packaged = _PACKAGE_DIR / "_builtin" / kind
    if packaged.is_dir():
        return packaged
    return _PACKAGE_DIR.parent / kind
