"""Where the built-in task YAMLs, metric plugins and demo checkpoint live (checkout or installed wheel)."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # monkeyeval/
BUILTIN_KINDS = ("tasks", "metrics", "demo")
DEMO_CHECKPOINT_ALIAS = "demo"


def builtin_dir(kind: str) -> Path:
    """The built-in `tasks`, `metrics` or `demo` folder.

    In an installed wheel they are copied into `monkeyeval/_builtin/<kind>`; in a checkout (or an
    editable install) they are the repository's top-level `<kind>/` folder.
    """
    if kind not in BUILTIN_KINDS:
        raise ValueError(f"unknown built-in folder kind {kind!r}; expected one of {', '.join(BUILTIN_KINDS)}")
    packaged = _PACKAGE_DIR / "_builtin" / kind
    if packaged.is_dir():
        return packaged
    return _PACKAGE_DIR.parent / kind


def expand_checkpoint_alias(checkpoint: str) -> str:
    """`demo` -> the bundled random-weight demo checkpoint, unless ./demo is itself a checkpoint folder.

    Any other value (a local folder, a hub id, a predictions file) is returned unchanged.
    """
    if checkpoint != DEMO_CHECKPOINT_ALIAS or (Path(checkpoint) / "config.json").is_file():
        return checkpoint
    return str(builtin_dir("demo") / "checkpoint")
