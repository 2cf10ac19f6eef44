"""Checkpoint digests computed once: reused while every file keeps its path, size, inode and times.

Hashing a 19 GB checkpoint at every start, on every rank, costs minutes; the model fingerprint needs the
digest, not a fresh read. `cached_digest` keys an entry by each file's resolved path, size, inode, mtime and
ctime (ctime changes on any write, even one that restores the mtime), so a changed file is always re-hashed.
Entries live in `$MONKEYEVAL_CACHE_DIR`, else `$XDG_CACHE_HOME/monkeyeval`, else `~/.cache/monkeyeval`,
under `checkpoint-hashes/`; each is one small JSON file written atomically, so ranks sharing the folder never
see half an entry. A cache that cannot be read or written is ignored (the digest is computed as before).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monkeyeval.core import jsontext
from monkeyeval.core.atomic import atomic_write_json, utf8

CACHE_ENV = "MONKEYEVAL_CACHE_DIR"
ENTRY_VERSION = 1


def cache_dir() -> Path:
    """Where digest entries are kept (see the module docstring)."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "monkeyeval"


def file_identity(path: Path) -> list[Any]:
    """What must stay the same for a file's bytes to count as unchanged."""
    info = os.stat(path)
    return [os.path.realpath(path), info.st_size, info.st_ino, info.st_mtime_ns, info.st_ctime_ns]


def cached_digest(kind: str, paths: list[Path], compute: Callable[[list[Path]], str]) -> str:
    """`compute(paths)`, or the digest stored for exactly these files in this state (`kind`: the rule)."""
    identity = {"version": ENTRY_VERSION, "kind": kind, "files": [file_identity(p) for p in sorted(paths)]}
    key = hashlib.sha256(utf8(json.dumps(identity, sort_keys=True))).hexdigest()
    entry_path = cache_dir() / "checkpoint-hashes" / f"{key}.json"
    try:
        entry = jsontext.loads(entry_path.read_text(encoding="utf-8"))
        if entry.get("identity") == identity and isinstance(entry.get("sha256"), str):
            return str(entry["sha256"])
    except (OSError, ValueError, AttributeError):
        pass  # no entry yet, or an unreadable one: compute
    digest = compute(paths)
    with contextlib.suppress(OSError):  # a read-only home or cache: the digest is right, only not remembered
        atomic_write_json(entry_path, {"identity": identity, "sha256": digest})
    return digest
