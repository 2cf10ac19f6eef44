"""The built wheel ships the built-in task YAMLs and metric plugins (not only a checkout)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from monkeyeval.paths import builtin_dir

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_contains_builtin_tasks_and_metrics(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("monkeyeval-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for kind in ("tasks", "metrics"):
        shipped = {n.split(f"monkeyeval/_builtin/{kind}/", 1)[1] for n in names if f"_builtin/{kind}/" in n}
        in_repo = {
            str(p.relative_to(REPO / kind))
            for p in (REPO / kind).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }
        assert in_repo, f"no files under {kind}/"
        assert in_repo <= shipped, f"{kind} files missing from the wheel: {sorted(in_repo - shipped)[:5]}"


def test_checkout_builtin_dirs_are_the_top_level_folders() -> None:
    assert builtin_dir("tasks") == REPO / "tasks"
    assert builtin_dir("metrics") == REPO / "metrics"
    with pytest.raises(ValueError):
        builtin_dir("models")
