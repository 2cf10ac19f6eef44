"""Datasets that carry their images inside the file (VLMEvalKit TSV, Hugging Face parquet): the images are
written once, as their stored bytes (never re-encoded), to `<image_root>/images/<name>/`, and each sample
points at its file, so every model family reads them as it reads any image path.

* Names never depend on what is already on disk: a TSV row's image is `<index><ext>` (a row that refers to
  another row's image points at that row's file); a parquet row's is `<row:06d><ext>` (the 0-based row over
  all shards). `<ext>` comes from the magic bytes.
* A file already there with the same bytes is not rewritten; writes are atomic (concurrent ranks are safe).
* `<name>` is the dataset file's stem, a shard folder's name, or a glob's file part before its first
  wildcard (`validation-*.parquet` -> `validation`).
* A load that resolves no images writes nothing; `score` (ImageMode.names False) reads no parquet image bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monkeyeval.core.atomic import atomic_write_bytes
from monkeyeval.tasks.config import DatasetSpec
from monkeyeval.tasks.readers import (
    GLOB_CHARS,
    DatasetError,
    ImageMode,
    ItemStream,
    LineProblem,
    is_pattern,
    names_folder,
    shard_base,
)

MAGIC_EXTENSIONS: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, ".png"),
    (b"\xff\xd8\xff", 0, ".jpg"),
    (b"GIF87a", 0, ".gif"),
    (b"GIF89a", 0, ".gif"),
    (b"WEBP", 8, ".webp"),
    (b"II*\x00", 0, ".tif"),
    (b"MM\x00*", 0, ".tif"),
    (b"BM", 0, ".bmp"),
)
MAGIC_BYTES_NEEDED = 12
"""Enough leading bytes for every magic number above."""
IMAGE_KINDS = "PNG/JPEG/GIF/WEBP/TIFF/BMP"
UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.\-]+")
PARQUET_BATCH_ROWS = 64
"""Rows decoded at a time (images are large: a batch, not a whole shard, is in memory)."""


def sniff_image_extension(data: bytes) -> str | None:
    """File extension (with the dot) for image bytes, from their magic number; None when unknown."""
    for magic, offset, extension in MAGIC_EXTENSIONS:
        if data[offset : offset + len(magic)] == magic:
            if extension == ".webp" and data[:4] != b"RIFF":
                continue
            return extension
    return None


@dataclass
class ImageFolder:
    """Where extracted images go: `folder`, named for samples as `prefix + file name` (relative to the image
    root). With `write` False nothing is written (the names are still given)."""

    folder: Path
    prefix: str = ""
    write: bool = True
    n_written: int = 0
    n_unchanged: int = 0

    def store(self, file_name: str, data: bytes | None) -> str:
        """Write `data` as `file_name` unless the same bytes are there already; the sample's image name."""
        if self.write and data is not None:
            target = self.folder / file_name
            if _same_bytes(target, data):
                self.n_unchanged += 1
            else:
                atomic_write_bytes(target, data)
                self.n_written += 1
        return self.prefix + file_name


def _same_bytes(target: Path, data: bytes) -> bool:
    try:
        return target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data
    except OSError:
        return False


def extraction_name(path: Path) -> str:
    """The `<name>` of `images/<name>/` for a dataset path (see the module docstring)."""
    if is_pattern(path):
        if GLOB_CHARS.isdisjoint(path.name):
            name = path.stem  # the wildcard is in a folder part
        else:
            name = re.split(r"[*?\[]", path.name, maxsplit=1)[0].rstrip("-_. ") or shard_base(path).name
    elif names_folder(path):
        name = path.name
    else:
        name = path.stem
    return UNSAFE_NAME_CHARS.sub("_", name).strip(".") or "dataset"


def image_folder(spec: DatasetSpec, write: bool) -> ImageFolder:
    """The extraction folder of a task's dataset: `<image_root>/images/<name>/`."""
    name = extraction_name(spec.jsonl)
    return ImageFolder(spec.image_root / "images" / name, f"images/{name}/", write)


def tsv_items(tsv: Path, folder: ImageFolder, mode: ImageMode, problems: list[LineProblem]) -> ItemStream:
    """A VLMEvalKit TSV's rows as items (`convert.vlmevalkit` rules); a bad row is listed and skipped."""
    from monkeyeval.convert.vlmevalkit import ConvertError, TsvReader

    reader = TsvReader(tsv, folder, strict=False)
    try:
        reader.read()
    except ConvertError as exc:
        raise DatasetError(str(exc)) from None
    problems.extend(LineProblem(line, message) for line, message in reader.problems)
    row_of_line = {row.line: row.number for row in reader.rows}
    return ItemStream(((row.line, row.record) for row in reader.finished_rows()), row_of_line.__getitem__)


class _BadRow(Exception):
    """A parquet row whose image cannot be used (the message says why)."""


def parquet_items(
    files: list[Path], image_field: str, folder: ImageFolder, mode: ImageMode, problems: list[LineProblem]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of parquet shards in order as items, `(1-based row over all shards, row)`, read a batch at a time.

    The image column (`fields.image`) may be a struct `{bytes, path}` (Hugging Face `Image`), binary, or a
    path string (kept as is: a path inside the image root). Other binary columns are dropped.
    """
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:  # a declared dependency; only a broken install lacks it
        raise DatasetError(f"reading parquet needs pyarrow ({exc}); `pip install pyarrow`") from None
    row = 0
    for path in files:
        try:
            shard = pq.ParquetFile(path)
            names = shard.schema_arrow.names
            if image_field not in names:
                raise DatasetError(
                    f"{path}: no column {image_field!r} (fields.image); its columns: {', '.join(names)}; set "
                    "fields.image (and fields.question, fields.answer, fields.id) to this file's column names"
                )
            columns = names if mode.names else [name for name in names if name != image_field]
            for batch in shard.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=columns):
                for item in batch.to_pylist():
                    row += 1
                    try:
                        item[image_field] = _image_name(item.get(image_field), row - 1, folder, mode)
                    except _BadRow as bad:
                        problems.append(LineProblem(row, str(bad)))
                        continue
                    yield row, _without_binary(item, image_field)
        except (OSError, pa.ArrowException) as exc:
            raise DatasetError(f"{path}: not a readable parquet file ({type(exc).__name__}: {exc})") from None


def _image_name(value: Any, row: int, folder: ImageFolder, mode: ImageMode) -> str:
    if not mode.names:
        return ""
    if isinstance(value, dict):
        data, path = value.get("bytes"), value.get("path")
        if data is None:
            if isinstance(path, str) and path:
                return path  # an image stored by path only: resolved inside the image root
            raise _BadRow("the image cell has neither bytes nor a path")
        value = data
    if isinstance(value, str):
        return value
    if not isinstance(value, bytes):
        raise _BadRow(f"the image cell is {type(value).__name__}, not image bytes or a path")
    extension = sniff_image_extension(value[:MAGIC_BYTES_NEEDED])
    if extension is None:
        raise _BadRow(f"the image bytes are not a {IMAGE_KINDS} file (first bytes {value[:8]!r})")
    return folder.store(f"{row:06d}{extension}", value)


def _without_binary(item: dict[str, Any], image_field: str) -> dict[str, Any]:
    """The row without other image-like cells (bytes, `{bytes, path}` structs), which samples cannot carry."""
    binary = [
        key
        for key, value in item.items()
        if key != image_field and (isinstance(value, bytes) or (isinstance(value, dict) and "bytes" in value))
    ]
    for key in binary:
        del item[key]
    return item
