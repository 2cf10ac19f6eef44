"""The architecture matrix: `monkeyeval run` with the hf family answers as the bare transformers loop does.

Each tiny random-weight checkpoint of `hf.tiny_vlms` runs through the real CLI on a task of images of
different sizes and aspect ratios (so batches are really left-padded) at batch 1 and 4; the predictions must
equal `bare_generate` at the same batch size, sample for sample.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hf.tiny_vlms import ARCHITECTURES, NEEDS, bare_generate, build
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from monkeyeval.cli.app import build_app

SIZES = ((40, 30), (64, 64), (50, 90), (33, 47), (90, 40))  # (width, height)
QUESTIONS = ("What is in the image?", "Describe it.", "Which color?", "How many boxes?", "Read it.")
MAX_NEW_TOKENS = 8


def write_task(root: Path) -> tuple[Path, list[Image.Image]]:
    """A task folder with seeded drawings; returns it and the images as the bare loop reads them."""
    rng = random.Random(7)
    images_dir = root / "data" / "images"
    images_dir.mkdir(parents=True)
    rows, images = [], []
    for index, ((width, height), question) in enumerate(zip(SIZES, QUESTIONS, strict=True)):
        image = Image.new("RGB", (width, height), tuple(rng.randrange(256) for _ in range(3)))
        draw = ImageDraw.Draw(image)
        for _ in range(5):
            x, y = rng.randrange(width), rng.randrange(height)
            fill = tuple(rng.randrange(256) for _ in range(3))
            draw.rectangle([x, y, x + rng.randrange(1, width), y + rng.randrange(1, height)], fill=fill)
        image.save(images_dir / f"{index}.png")
        with Image.open(images_dir / f"{index}.png") as stored:
            images.append(stored.copy())
        rows.append({"question_id": index, "question": question, "answer": "x", "image": f"{index}.png"})
    (root / "data" / "matrix.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (root / "matrix.yaml").write_text(
        "task: matrix\ndataset:\n  relative_to: yaml_dir\n  jsonl: data/matrix.jsonl\n"
        "  image_root: data/images\n"
        f"metric: exact_match_qwen\nmax_new_tokens: {MAX_NEW_TOKENS}\nprompt: '{{question}}'\n",
        encoding="utf-8",
    )
    return root, images


def run_predictions(checkpoint: Path, tasks: Path, results: Path, batch_size: int) -> list[dict]:
    args = ["run", "--task", "matrix", "--ckpt", str(checkpoint), "--tasks-dir", str(tasks)]
    args += ["--batch-size", str(batch_size), "--results", str(results), "--num-workers", "0"]
    outcome = CliRunner().invoke(build_app(), args, catch_exceptions=False)
    assert outcome.exit_code == 0, outcome.output
    [predictions] = results.glob("*/matrix/predictions.jsonl")
    return [json.loads(line) for line in predictions.read_text(encoding="utf-8").splitlines()]


def test_every_architecture_says_what_it_needs() -> None:
    assert set(NEEDS) == set(ARCHITECTURES)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_run_equals_the_bare_loop_at_batch_1_and_4(name: str, tmp_path: Path) -> None:
    checkpoint = build(name, tmp_path / "ckpt")
    tasks, images = write_task(tmp_path / "tasks")
    for batch_size in (1, 4):
        rows = run_predictions(checkpoint, tasks, tmp_path / f"results{batch_size}", batch_size)
        assert [row["error"] for row in rows] == [None] * len(SIZES)
        expected = bare_generate(checkpoint, images, list(QUESTIONS), batch_size, MAX_NEW_TOKENS)
        assert [row["prediction"] for row in rows] == expected, f"{name} at batch {batch_size}"
    assert any(expected), f"{name}: every answer is empty; the check would be vacuous"


def test_a_video_capable_processor_loads_without_torchvision_and_pickles(tmp_path: Path) -> None:
    """Qwen2-VL's processor declares a video processor (torchvision); without it, images work the same."""
    import pickle

    from transformers.utils import is_torchvision_available

    from monkeyeval.models.hf_processors import HFSample, batch_features, chat_text, load_processor

    assert not is_torchvision_available(), "this environment is meant to have no torchvision"
    checkpoint = build("qwen2_vl", tmp_path / "ckpt")
    processor = load_processor(checkpoint)
    assert type(processor).__name__ == "Qwen2VLProcessor" and not hasattr(processor, "video_processor")
    _, images = write_task(tmp_path / "tasks")
    samples = [HFSample(image, chat_text(processor, "Read it.")) for image in images[:2]]
    features = batch_features(processor, samples)
    copied = pickle.loads(pickle.dumps(processor))  # what a DataLoader worker under spawn receives
    again = batch_features(copied, samples)
    assert set(features) == set(again) and {"pixel_values", "image_grid_thw"} <= set(features)
    assert all(features[key].equal(again[key]) for key in features)
