"""The shared image reader: RGB conversion and errors the runner records uniformly for every family."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from PIL import Image

from monkeyeval.core.images import ImageLoadError, ImageNotFoundError, load_rgb
from monkeyeval.core.types import Sample
from monkeyeval.runner.data import describe_preprocess_error


def test_rgba_and_palette_images_become_rgb(tmp_path: Path) -> None:
    Image.new("RGBA", (3, 2), (10, 20, 30, 0)).save(tmp_path / "a.png")
    Image.new("P", (3, 2), 7).save(tmp_path / "p.png")
    assert load_rgb(tmp_path / "a.png").getpixel((0, 0)) == (10, 20, 30)
    assert load_rgb(tmp_path / "p.png").mode == "RGB"


def test_missing_image_is_a_file_not_found_error_named_by_the_runner(tmp_path: Path) -> None:
    sample = Sample(0, "1", "q", ["a"], "x.png", tmp_path / "x.png")
    with pytest.raises(ImageNotFoundError) as caught:
        load_rgb(tmp_path / "x.png")
    assert isinstance(caught.value, FileNotFoundError)
    assert (
        describe_preprocess_error(sample, caught.value)
        == f"missing image 'x.png': {tmp_path / 'x.png'} does not exist"
    )


def test_undecodable_image_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"not a png")
    sample = Sample(0, "1", "q", ["a"], "bad.png", tmp_path / "bad.png")
    with pytest.raises(ImageLoadError, match=r"bad\.png: cannot decode image") as caught:
        load_rgb(tmp_path / "bad.png")
    assert describe_preprocess_error(sample, caught.value).startswith("cannot decode image 'bad.png'")


def test_a_fifo_is_refused_at_once_instead_of_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "image.png"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            load_rgb(fifo)
        except BaseException as exc:  # the error is the result under test
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=20)
    assert not reader.is_alive(), "load_rgb blocked on a FIFO"
    assert isinstance(outcome[0], ImageLoadError) and "not a regular file" in str(outcome[0])
    with pytest.raises(ImageLoadError, match="not a regular file"):
        load_rgb(tmp_path)  # a folder
