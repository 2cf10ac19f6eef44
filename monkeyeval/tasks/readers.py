"""Dataset files in the shapes publishers ship them -> `(line number, item)` pairs for `SampleBuilder`.

Formats (`dataset.format`, else told by the file name: `.json`, `.tsv`, `.parquet`, anything else jsonl):

* `jsonl`: one JSON object per line; the line number is the physical line.
* `json`: a JSON array of objects (MultimodalOCR's OCRBench.json, ChartQA's test_human.json); the item number.
* `tsv`: a VLMEvalKit `<DATASET>.tsv` with base64 images (`monkeyeval.convert.vlmevalkit` rules); the line the
  row starts on. Images are extracted (see `monkeyeval.tasks.embedded`).
* `parquet`: one parquet file, a folder of `*.parquet` shards or a glob of them (shards in name order), as the
  Hugging Face hub ships a split; the row number over all shards. Images are extracted too.

`#row` in an id rule is an item's 0-based position in the file (all shards in order); see `ItemStream`.
"""

from __future__ import annotations

import glob
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monkeyeval.core import jsontext
from monkeyeval.core.errors import UserError
from monkeyeval.tasks.config import DatasetSpec

FORMATS = ("jsonl", "json", "tsv", "parquet")
EMBEDDED_FORMATS = frozenset({"tsv", "parquet"})
"""Formats whose images are stored inside the file and written out as image files when a run reads them."""
SUFFIX_FORMATS = {".json": "json", ".tsv": "tsv", ".parquet": "parquet"}
DATASET_SUFFIXES = frozenset({*SUFFIX_FORMATS, ".jsonl"})
GLOB_CHARS = frozenset("*?[")


class DatasetError(UserError, ValueError):
    """The dataset cannot be used at all (missing file, checksum mismatch, duplicate ids, no samples)."""


@dataclass(frozen=True)
class LineProblem:
    """A line that was skipped: 1-based line number (item number of a JSON array, row of a parquet set)."""

    line_no: int
    message: str


@dataclass
class ItemStream:
    """A dataset file's items as `(line number, item)` pairs, and each line number's 0-based row (`#row`)."""

    items: Iterator[tuple[int, Any]]
    row_of: Callable[[int], int]


@dataclass(frozen=True)
class ImageMode:
    """What a load does with embedded images: `write` extracts them (runs); `names` gives each sample its
    extracted file's name (False for `score`: nothing renders a prompt, so no image bytes are read)."""

    write: bool = True
    names: bool = True


def infer_format(path: Path) -> str:
    """The format a dataset path implies by its suffix (jsonl when it names none of the others)."""
    return SUFFIX_FORMATS.get(path.suffix.lower(), "jsonl")


def dataset_format(spec: DatasetSpec) -> str:
    """The format of a task's dataset: `dataset.format`, else inferred from `dataset.jsonl`'s suffix."""
    return spec.format or infer_format(spec.jsonl)


def is_pattern(path: Path) -> bool:
    """True when `path` holds glob wildcards (`*`, `?`, `[`)."""
    return any(char in GLOB_CHARS for char in str(path))


def names_folder(path: Path) -> bool:
    """True when a dataset path names a folder of shards: no glob, no dataset suffix, and not a file (decided
    by the name where the path does not exist yet, so a task's settings do not change once data arrives)."""
    return not is_pattern(path) and path.suffix.lower() not in DATASET_SUFFIXES and not path.is_file()


def shard_base(path: Path) -> Path:
    """The folder a dataset path lives in: a file's parent, a folder itself, a glob's part before its first
    wildcard component (what `dataset.image_root` defaults to for tsv and parquet)."""
    if is_pattern(path):
        parts = path.parts
        first = next(i for i, part in enumerate(parts) if any(char in GLOB_CHARS for char in part))
        return Path(*parts[:first]) if first else Path(".")
    return path if names_folder(path) else path.parent


def dataset_files(path: Path, fmt: str) -> list[Path]:
    """The files of a dataset path: the file itself, or for parquet the `*.parquet` files of a folder or the
    matches of a glob, sorted by name. Empty when nothing is there."""
    if fmt == "parquet" and is_pattern(path):
        return sorted(Path(match) for match in glob.glob(str(path)) if Path(match).is_file())
    if fmt == "parquet" and path.is_dir():
        return sorted(child for child in path.glob("*.parquet") if child.is_file())
    return [path] if path.is_file() else []


def dataset_exists(path: Path) -> bool:
    """True when `path` is a file, a folder holding `*.parquet` files, or a glob with a match."""
    return bool(dataset_files(path, "parquet"))


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dataset_sha256(path: Path) -> str:
    """SHA-256 of a file; of a folder or glob of parquet shards, the SHA-256 of their `sha256sum` listing
    (`<hex>  <name>` lines, names relative to the shards' folder, in name order): in a shell,
    `cd DIR && sha256sum validation-*.parquet | sha256sum`."""
    if path.is_file():
        return file_sha256(path)
    files = dataset_files(path, "parquet")
    if not files:
        raise DatasetError(f"{path}: no such file, and no parquet shards match it")
    base = shard_base(path).resolve()
    names = [file.resolve().relative_to(base).as_posix() for file in files]
    listing = "".join(f"{file_sha256(file)}  {name}\n" for file, name in zip(files, names, strict=True))
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()


def open_items(
    spec: DatasetSpec, files: list[Path], image_field: str, problems: list[LineProblem], mode: ImageMode
) -> ItemStream:
    """The items of a task's dataset files in its format (`dataset_format`); bad lines go to `problems`."""
    fmt = dataset_format(spec)
    if fmt == "jsonl":
        return ItemStream(_jsonl_items(files[0], problems), line_to_row)
    if fmt == "json":
        return ItemStream(_json_items(files[0]), line_to_row)
    from monkeyeval.tasks import embedded

    folder = embedded.image_folder(spec, mode.write)
    if fmt == "tsv":
        return embedded.tsv_items(files[0], folder, mode, problems)
    return ItemStream(embedded.parquet_items(files, image_field, folder, mode, problems), line_to_row)


def line_to_row(line_no: int) -> int:
    """The 0-based row of a 1-based line (item) number, where each line holds one item."""
    return line_no - 1


def _json_items(path: Path) -> Iterator[tuple[int, Any]]:
    try:
        items = jsontext.loads(path.read_text(encoding="utf-8-sig"))  # a byte-order mark is accepted
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(
            f"{path}: not a valid JSON file ({exc}); expected a JSON array of objects"
        ) from None
    if not isinstance(items, list):
        raise DatasetError(f"{path}: expected a JSON array of objects, got {type(items).__name__}")
    yield from enumerate(items, start=1)


def _jsonl_items(path: Path, problems: list[LineProblem]) -> Iterator[tuple[int, Any]]:
    with open(path, "rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                yield line_no, jsontext.loads(raw.decode("utf-8-sig" if line_no == 1 else "utf-8"))
            except UnicodeDecodeError as exc:
                problems.append(LineProblem(line_no, f"not UTF-8 text ({exc.reason})"))
            except json.JSONDecodeError as exc:
                problems.append(LineProblem(line_no, f"malformed JSON ({exc.msg} at column {exc.colno})"))
