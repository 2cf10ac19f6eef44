"""Generate the built-in `demo` task's data: tasks/demo/{demo.jsonl, images/*.png}.

Deterministic (fixed seed, Pillow's built-in bitmap font, nearest-neighbour scaling, no system fonts), so a
re-run is byte-identical. Usage: python scripts/make_demo_data.py [--out tasks/demo]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

SEED = 20261121
IMAGE_SIZE = (128, 64)
SCALE = 2
WORD_QUESTION = "What word is written in the image?"
NUMBER_QUESTION = "What number is written in the image?"
# (text drawn, accepted answers): a few items accept two spellings, to exercise list answers.
WORDS: list[tuple[str, list[str]]] = [
    ("monkey", ["monkey"]),
    ("banana", ["banana"]),
    ("jungle", ["jungle"]),
    ("vision", ["vision"]),
    ("text", ["text"]),
    ("pixel", ["pixel"]),
    ("grey", ["grey", "gray"]),
    ("colour", ["colour", "color"]),
    ("river", ["river"]),
    ("orange", ["orange"]),
    ("window", ["window"]),
    ("paper", ["paper"]),
    ("Invoice", ["invoice"]),
    ("TOTAL", ["total"]),
    ("exit", ["exit"]),
    ("coffee", ["coffee"]),
    ("garden", ["garden"]),
    ("STOP", ["stop"]),
    ("market", ["market"]),
    ("ticket", ["ticket"]),
    ("planet", ["planet"]),
    ("lemon", ["lemon"]),
    ("silver", ["silver"]),
    ("harbour", ["harbour", "harbor"]),
]
N_NUMBERS = 12
OUT_DEFAULT = Path(__file__).resolve().parent.parent / "tasks" / "demo"


def render(text: str, rng: random.Random) -> Image.Image:
    """Dark text on a plain light background, drawn with the bitmap default font and scaled 2x (nearest)."""
    font = ImageFont.load_default_imagefont()
    background = tuple(rng.randint(200, 255) for _ in range(3))
    ink = tuple(rng.randint(0, 80) for _ in range(3))
    left, top, right, bottom = font.getbbox(text)
    small = Image.new("RGB", (right - left + 2, bottom - top + 2), background)
    ImageDraw.Draw(small).text((1 - left, 1 - top), text, fill=ink, font=font)
    big = small.resize((small.width * SCALE, small.height * SCALE), Image.Resampling.NEAREST)
    canvas = Image.new("RGB", IMAGE_SIZE, background)
    x = rng.randint(0, max(0, IMAGE_SIZE[0] - big.width))
    y = rng.randint(0, max(0, IMAGE_SIZE[1] - big.height))
    canvas.paste(big, (x, y))
    return canvas


def build_items(rng: random.Random) -> list[tuple[str, str, list[str]]]:
    """(drawn text, question, answers) for every sample, in dataset order."""
    items = [(text, WORD_QUESTION, answers) for text, answers in WORDS]
    for _ in range(N_NUMBERS):
        number = str(rng.randint(0, 99999))
        items.append((number, NUMBER_QUESTION, [number]))
    rng.shuffle(items)
    return items


def make_demo_data(out: Path) -> list[Path]:
    """Write the images and demo.jsonl under `out`; returns the files written."""
    rng = random.Random(SEED)
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    lines: list[str] = []
    for index, (text, question, answers) in enumerate(build_items(rng)):
        name = f"images/{index:03d}.png"
        render(text, rng).save(out / name, format="PNG")
        written.append(out / name)
        answer: str | list[str] = answers[0] if len(answers) == 1 else answers
        row = {"image": name, "question": question, "answer": answer, "question_id": index}
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    (out / "demo.jsonl").write_text("".join(lines), encoding="utf-8")
    written.append(out / "demo.jsonl")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=OUT_DEFAULT, help="output folder (default: tasks/demo)")
    args = parser.parse_args()
    files = make_demo_data(args.out)
    print(f"wrote {len(files)} files under {args.out}")


if __name__ == "__main__":
    main()
