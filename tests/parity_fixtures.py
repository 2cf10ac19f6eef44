"""Where the parity fixtures are (importable at collection time): the env override, else the repo's copy."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def parity_root() -> Path:
    """The parity fixture folder (monkey/, textmonkey/, minimonkey/, tokenizer/ in the upstream layout)."""
    env = os.environ.get("MONKEYEVAL_PARITY_FIXTURES")
    root = Path(env) if env else REPO_ROOT.parent / "shared" / "fixtures" / "parity"
    if not root.is_dir():
        raise FileNotFoundError(
            f"parity fixtures not found at {root}: set MONKEYEVAL_PARITY_FIXTURES to the folder that holds "
            "monkey/, textmonkey/, minimonkey/ and tokenizer/"
        )
    return root
