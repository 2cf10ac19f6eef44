"""Software versions and the monkeyeval git commit, recorded in every score fingerprint.

Versions come from installed package metadata, so nothing heavy (torch, transformers) is imported.
"""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # monkeyeval/


def package_version(name: str) -> str | None:
    """The installed version of a distribution, or None when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def monkeyeval_version() -> str:
    """This package's version ("0+unknown" when run from a tree that was never installed)."""
    return package_version("monkeyeval") or "0+unknown"


def git_commit(start: Path = _PACKAGE_DIR) -> str | None:
    """The HEAD commit of the git checkout that holds `start` (the monkeyeval sources), or None.

    None when monkeyeval is installed from a wheel, git is missing, or the folder is not in a checkout.
    """
    if not any((parent / ".git").exists() for parent in (start, *start.parents)):
        return None
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=start,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def software_versions() -> dict[str, str | None]:
    """monkeyeval version, git commit, Python, torch and transformers versions (fingerprint fields)."""
    return {
        "monkeyeval_version": monkeyeval_version(),
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "torch": package_version("torch"),
        "transformers": package_version("transformers"),
    }
