"""`monkeyeval data check` and a group `run`: every missing or mismatching data file at once."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from typer.testing import CliRunner

from monkeyeval.cli.app import build_app


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), list(args), catch_exceptions=False)
    return result.exit_code, result.output


def write_group(root: Path) -> Path:
    """Tasks ok, nofile, noimages (sha256 declared, wrong) and noann in group g; data under root/data."""
    tasks = root / "tasks"
    tasks.mkdir()
    (root / "data" / "images").mkdir(parents=True)
    for name in ("ok", "noimages"):
        (root / "data" / f"{name}.jsonl").write_text(
            '{"question_id": 1, "image": "a.png", "question": "q", "answer": "a"}\n'
        )
    wrong = hashlib.sha256(b"another version").hexdigest()
    specs = {
        "ok": "jsonl: data/ok.jsonl\n  image_root: data/images",
        "nofile": "jsonl: data/nofile.jsonl\n  image_root: data/images",
        "noimages": f"jsonl: data/noimages.jsonl\n  image_root: data/no_images\n  sha256: {wrong}",
        "noann": "jsonl: data/ok.jsonl\n  image_root: data/images\n  annotations: data/ann.json",
    }
    for name, dataset in specs.items():
        (tasks / f"{name}.yaml").write_text(
            f"task: {name}\ngroup: g\ndataset:\n  {dataset}\nmetric: exact_match_qwen\nmax_new_tokens: 4\n"
        )
    return tasks


def test_data_check_lists_every_problem_of_a_group(tmp_path: Path) -> None:
    tasks = write_group(tmp_path)
    args = ("--tasks-dir", str(tasks), "--data-root", str(tmp_path))
    code, out = invoke("data", "check", "g", *args, "--json")
    assert code == 2
    problems = json.loads(out)
    found = {
        (p["task"], p["role"], Path(p["path"]).relative_to(tmp_path).as_posix(), p["problem"][:7])
        for p in problems
    }
    assert found == {
        ("nofile", "dataset file", "data/nofile.jsonl", "missing"),
        ("noimages", "dataset file", "data/noimages.jsonl", "sha256 "),
        ("noimages", "image root", "data/no_images", "missing"),
        ("noann", "annotation file", "data/ann.json", "missing"),
    }
    code, out = invoke("data", "check", "ok", *args)
    assert code == 0 and "1 of 1 tasks have every file in place" in out
    code, out = invoke("data", "check", "g", *args)
    assert code == 2 and "4 data problems" in out and "1 of 4 tasks have every file in place" in out


def test_a_group_run_names_every_missing_file_before_loading_anything(tmp_path: Path) -> None:
    tasks = write_group(tmp_path)
    code, out = invoke(
        "run", "--task", "g", "--ckpt", "demo", "--tasks-dir", str(tasks), "--data-root", str(tmp_path),
        "--results", str(tmp_path / "results"),
    )  # fmt: skip
    assert code == 2
    assert "3 data file(s) of 3 of 4 tasks are not in place" in out  # sha256 is checked when a file is read
    for line in ("nofile: dataset file data/nofile.jsonl (missing)", "noimages: image root data/no_images",
                 "noann: annotation file data/ann.json (missing)"):  # fmt: skip
        assert line in out
    assert "monkeyeval data check" in out and not (tmp_path / "results").exists()
