"""Each tiny random-weight VLM checkpoint builds, loads and answers through the bare transformers loop."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hf.tiny_vlms import ARCHITECTURES, NEEDS, bare_generate, build
from PIL import Image, ImageDraw

SIZES = ((40, 30), (64, 64), (50, 90))  # (width, height): different sizes and aspect ratios


def _images(seed: int = 0) -> list[Image.Image]:
    """Seeded colored rectangles on a colored background, one image per size."""
    rng = random.Random(seed)
    images = []
    for width, height in SIZES:
        color = tuple(rng.randrange(256) for _ in range(3))
        image = Image.new("RGB", (width, height), color)
        draw = ImageDraw.Draw(image)
        for _ in range(6):
            x, y = rng.randrange(width), rng.randrange(height)
            fill = tuple(rng.randrange(256) for _ in range(3))
            draw.rectangle([x, y, x + rng.randrange(1, width), y + rng.randrange(1, height)], fill=fill)
        images.append(image)
    return images


def test_every_architecture_has_a_note() -> None:
    assert set(NEEDS) == set(ARCHITECTURES)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_build_and_bare_generate(name: str, tmp_path: Path) -> None:
    folder = build(name, tmp_path / name)
    assert (folder / "config.json").is_file() and (folder / "chat_template.jinja").is_file()
    prompts = ["What is in the image?", "Describe it.", "Which color?"]
    answers = bare_generate(folder, _images(), prompts, batch_size=1, max_new_tokens=8)
    assert len(answers) == len(prompts)
    assert all(isinstance(answer, str) for answer in answers)
    assert any(answers), f"{name}: every answer is empty"
