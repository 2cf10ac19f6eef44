"""The hf adapter on the bundled random-weight demo checkpoint; check-invariance; dry run; the demo script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from monkeyeval.cli.app import build_app
from runner.fake_adapter import SPEC
from runner.support import DEMO_CHECKPOINT, REPO_ROOT, TinyTask

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(build_app(), list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_demo_task_end_to_end(tmp_path: Path):
    code, out = invoke("run", "--task", "demo", "--ckpt", str(DEMO_CHECKPOINT), "--results", str(tmp_path))
    assert code == 0, out
    assert "anls_docvqa" in out and "demo: results in" in out
    run_dir = tmp_path / "demo__checkpoint" / "demo"
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 36 and [r["index"] for r in rows] == list(range(36))
    assert rows[0]["prompt"] == "USER: <image>\nWhat word is written in the image?\nASSISTANT:"
    assert all(r["error"] is None and 1 <= r["n_new_tokens"] <= 20 for r in rows)
    assert any(r["truncated"] for r in rows) and not all(r["truncated"] for r in rows)
    assert all(r["n_new_tokens"] == 20 for r in rows if r["truncated"])
    scores = json.loads((run_dir / "scores.json").read_text())
    assert scores["n"] == 36 and scores["n_truncated"] == sum(r["truncated"] for r in rows)
    model = scores["fingerprint"]["model"]
    assert model["family"] == "hf" and model["dtype"] == "float32" and len(model["checkpoint_sha256"]) == 64
    assert model["model_class"] == "LlavaForConditionalGeneration" and model["trust_remote_code"] is False


def test_demo_prompts_over_the_input_limit_are_per_sample_errors(tmp_path: Path):
    from monkeyeval.models.base import LoadOptions
    from monkeyeval.models.hf import HFAdapter

    adapter = HFAdapter.load(LoadOptions(str(DEMO_CHECKPOINT)))
    config = json.loads((DEMO_CHECKPOINT / "config.json").read_text(encoding="utf-8"))
    assert adapter.context_length() == config["text_config"]["max_position_embeddings"]
    args = ("run", "--task", "demo", "--ckpt", str(DEMO_CHECKPOINT), "--limit", "2")
    args += ("--results", str(tmp_path))
    assert invoke(*args)[0] == 0
    run_dir = tmp_path / "demo__checkpoint" / "demo"
    first = json.loads((run_dir / "predictions.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["error"] is None
    # the processor's input ids of that prompt (image placeholder expanded) are what the guard counts
    length = len(adapter.processor(text=[first["prompt"]], images=[_demo_image(0)])["input_ids"][0])
    code, out = invoke(*args, "--fresh", "--max-input-tokens", str(length - 1))
    assert code == 0, out
    retried = json.loads((run_dir / "predictions.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert retried["error"].startswith(
        f"input too long: the prompt is {length} tokens, over the limit of {length - 1} (--max-input-tokens)"
    )


def _demo_image(index: int) -> Any:
    from PIL import Image

    from monkeyeval.tasks.registry import TaskRegistry

    dataset = TaskRegistry.discover().get("demo").dataset
    row = json.loads(dataset.jsonl.read_text(encoding="utf-8").splitlines()[index])
    image = Image.open(dataset.image_root / row["image"])
    image.load()
    return image


@pytest.mark.slow
def test_every_output_file_is_readable_by_the_team_under_umask_022(tmp_path: Path):
    """run, report -o and gate --write-baseline in a process with umask 022: files 0644, folders 0755."""
    results = tmp_path / "results"
    commands = [
        [
            "run",
            "--task",
            "demo",
            "--ckpt",
            "demo",
            "--limit",
            "4",
            "--num-workers",
            "0",
            "--results",
            str(results),
        ],
        ["report", str(results), "--format", "html", "-o", str(results / "board.html")],
        ["gate", str(results), "--write-baseline", str(results / "baseline.json")],
    ]
    for command in commands:
        done = subprocess.run(
            [sys.executable, "-m", "monkeyeval", *command],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            preexec_fn=lambda: os.umask(0o022),
        )
        assert done.returncode == 0, done.stderr
    files = [p for p in results.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"predictions.jsonl", "scores.json", "run.json", "board.html", "baseline.json"} <= names
    assert {str(p.relative_to(results)): oct(p.stat().st_mode & 0o777) for p in files} == {
        str(p.relative_to(results)): "0o644" for p in files
    }
    folders = [p for p in results.rglob("*") if p.is_dir()]
    assert folders and all(p.stat().st_mode & 0o777 == 0o755 for p in folders)


def test_dry_run_loads_no_weights_and_remote_code_needs_the_flag(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    import transformers

    def no_weights(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the dry run must not load weights")

    seen: list[bool] = []
    real = transformers.AutoProcessor.from_pretrained

    def record(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["trust_remote_code"])
        return real(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", no_weights)
    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", record)
    base = ("run", "--task", "demo", "--ckpt", str(DEMO_CHECKPOINT), "--results", str(tmp_path), "--dry-run")
    code, out = invoke(*base)
    assert code == 0, out
    assert "36 samples, 0 with image problems" in out and "What word is written in the image?" in out
    code, out = invoke(*base, "--trust-remote-code")
    assert code == 0, out
    assert seen == [False, True]
    assert not any(tmp_path.iterdir())


def test_check_invariance_lists_batch_dependent_answers(tiny_task: Callable[..., TinyTask], fake_ckpt: Path):
    task = tiny_task(n=9)
    base = (
        "check-invariance",
        *task.args(),
        "--ckpt",
        str(fake_ckpt),
        "--model",
        SPEC,
        "--limit",
        "9",
        "--batch-size",
        "4",
        "--num-workers",
        "0",
    )
    code, out = invoke(*base, "--model-option", "batch_sensitive=true")
    assert code == 0, out
    assert "3 of 9 answers change between batch size 1 and 4" in out
    assert "'apple'" in out and "'apple batched'" in out  # sample 0 at batch 1 vs batch 4
    code, out = invoke(*base, "--model-option", "batch_sensitive=true", "--fail-on-change")
    assert code == 1
    code, out = invoke(*base, "--fail-on-change")
    assert code == 0 and "0 of 9 answers change" in out


def test_check_invariance_on_the_demo_model():
    code, out = invoke(
        "check-invariance",
        "--task",
        "demo",
        "--ckpt",
        str(DEMO_CHECKPOINT),
        "--limit",
        "12",
        "--batch-size",
        "6",
        "--num-workers",
        "0",
    )
    assert code == 0, out
    assert "0 of 12 answers change between batch size 1 and 6" in out


def _semantic_content(path: Path) -> Any:
    """What a checkpoint file means, not the bytes a library version writes: JSON without the writer's
    `transformers_version`, tensors by name (dtype, shape, values), other files as bytes."""
    if path.suffix == ".json":
        return _without_writer_version(json.loads(path.read_text(encoding="utf-8")))
    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        return {name: (a.dtype.str, a.shape, a.tobytes()) for name, a in sorted(load_file(path).items())}
    return path.read_bytes()


def _without_writer_version(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_writer_version(v) for k, v in value.items() if k != "transformers_version"}
    if isinstance(value, list):
        return [_without_writer_version(v) for v in value]
    return value


@pytest.mark.slow
def test_demo_checkpoint_script_reproduces_the_committed_checkpoint(tmp_path: Path):
    out = tmp_path / "ckpt"
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "make_demo_checkpoint.py"), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    committed = sorted(p.name for p in DEMO_CHECKPOINT.iterdir())
    assert sorted(p.name for p in out.iterdir()) == committed
    assert {"config.json", "model.safetensors"} <= set(committed)
    for name in committed:
        assert _semantic_content(out / name) == _semantic_content(DEMO_CHECKPOINT / name), name
    assert sum(p.stat().st_size for p in DEMO_CHECKPOINT.iterdir()) < 5 * 1024 * 1024
    assert "RANDOM WEIGHTS" in (DEMO_CHECKPOINT / "README.md").read_text()
