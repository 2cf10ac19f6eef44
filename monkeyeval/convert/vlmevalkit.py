"""VLMEvalKit `<DATASET>.tsv` -> monkeyeval `<DATASET>.jsonl` plus `images/<DATASET>/` (lossless).

TSV facts (VLMEvalKit `vlmeval/dataset/image_base.py`, `vlmeval/smp/{file,misc,vlm}.py`):

* tab-separated, header row, read with pandas' defaults (double-quote quoting), one row per question;
* `index` identifies the row; `image` holds the base64 file bytes, or (64 characters or fewer) the `index`
  of another row whose image it shares; a row with an empty `image` is dropped (`skip_noimg`);
* `answer` is a plain string, or a Python list literal (`"['a', 'b']"`) for multi-answer sets (TextVQA);
* multiple-choice rows put option texts in single-letter columns `A`..`Z` (an empty or NA-like cell means
  "no such option", as pandas reads it) and may carry a `hint`; any other column is metadata.

Output line: `{"question_id", "image", "question", "answer": [..], "options"?: {letter: text}, ...other
columns}`. Images are written exactly as decoded (no re-encoding), named `<index><ext>` with the extension
sniffed from the magic bytes; rows that reference another row's image point at that row's file.

`TsvReader` is the one parser: `convert_tsv` uses it strictly (a bad row stops the conversion), and a task
with `dataset.format: tsv` uses it through `monkeyeval.tasks.embedded` (a bad row is listed and skipped).
"""

from __future__ import annotations

import ast
import base64
import binascii
import csv
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from monkeyeval.core.atomic import atomic_write_jsonl
from monkeyeval.core.errors import UserError
from monkeyeval.tasks.dataset import jsonl_sha256
from monkeyeval.tasks.embedded import IMAGE_KINDS, ImageFolder, sniff_image_extension

ProgressFn = Callable[[int, int], None]
"""`(bytes read so far, total bytes)`, called as rows are read."""

REFERENCE_MAX_LEN = 64
"""VLMEvalKit treats an `image` cell of at most 64 characters as another row's index."""
PANDAS_NA_STRINGS = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>"}
    | {"N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)
"""Cells pandas reads as NaN by default; VLMEvalKit's prompt builder skips such options and hints."""
OPTION_COLUMN_RE = re.compile(r"^[A-Z]$")
SAFE_NAME_RE = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]*$")
CORE_COLUMNS = ("index", "image", "question", "answer")


class ConvertError(UserError, ValueError):
    """The TSV cannot be converted; the message names the file, the line and the row's index."""


@dataclass(frozen=True)
class ConvertResult:
    """What `convert_tsv` wrote."""

    jsonl: Path
    image_dir: Path
    sha256: str
    n_rows: int
    n_images: int
    n_images_unchanged: int
    n_references: int
    n_skipped_no_image: int
    warnings: list[str] = field(default_factory=list)


def parse_answer(cell: str) -> list[str]:
    """A TSV answer cell -> answer list: a Python list literal becomes its items (as strings), else [cell].

    Parsed with `ast.literal_eval` (never `eval`); VLMEvalKit reads the cell the same way (`istype`).
    """
    text = cell.strip()
    if len(text) > 1 and text[0] == "[" and text[-1] == "]":
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return [cell]
        if isinstance(value, list):
            return [str(item) for item in value]
    return [cell]


def convert_tsv(
    tsv: Path, out_dir: Path, dataset: str | None = None, progress: ProgressFn | None = None
) -> ConvertResult:
    """Convert `tsv` into `out_dir/<dataset>.jsonl` and `out_dir/images/<dataset>/` (dataset: TSV stem).

    Images are written atomically and only when their bytes changed; the jsonl is written atomically last,
    so an interrupted conversion never leaves a half-written jsonl. Raises ConvertError for malformed rows.
    """
    tsv = Path(tsv)
    name = dataset or tsv.stem
    if not SAFE_NAME_RE.match(name):
        raise ConvertError(f"dataset name {name!r} must be letters, digits, '_', '-' or '.' (it names files)")
    image_dir = Path(out_dir) / "images" / name
    jsonl = Path(out_dir) / f"{name}.jsonl"
    reader = TsvReader(tsv, ImageFolder(image_dir))
    reader.read(progress)
    atomic_write_jsonl(jsonl, (row.record for row in reader.finished_rows()))
    return ConvertResult(
        jsonl=jsonl,
        image_dir=image_dir,
        sha256=jsonl_sha256(jsonl),
        n_rows=len(reader.rows),
        n_images=reader.images.n_written,
        n_images_unchanged=reader.images.n_unchanged,
        n_references=len(reader.references),
        n_skipped_no_image=reader.n_skipped,
        warnings=reader.warnings,
    )


@dataclass
class TsvRow:
    """A row with an image: where it starts (`line`), its 0-based position among the data rows (`number`),
    its index and its record (the jsonl line `convert vlmevalkit` writes)."""

    line: int
    number: int
    index: str
    record: dict[str, Any]


@dataclass
class TsvReader:
    """One pass over a VLMEvalKit TSV (the parser `convert vlmevalkit` and `dataset.format: tsv` share).

    Each image is stored in `images` as it is read; `strict` (convert) raises ConvertError for a bad row,
    otherwise (a task reading the TSV) the row is listed in `problems` as (line, why) and skipped. A
    duplicate index, a malformed file or a bad header always raise.
    """

    tsv: Path
    images: ImageFolder
    strict: bool = True
    header: list[str] = field(default_factory=list)
    rows: list[TsvRow] = field(default_factory=list)
    image_of: dict[str, str] = field(default_factory=dict)
    references: dict[int, str] = field(default_factory=dict)
    line_of: dict[str, int] = field(default_factory=dict)
    problems: list[tuple[int, str]] = field(default_factory=list)
    n_data_rows: int = 0
    n_skipped: int = 0
    n_no_answer: int = 0
    warnings: list[str] = field(default_factory=list)

    def read(self, progress: ProgressFn | None = None) -> None:
        """Read every row (storing images), then point rows that refer to another row's image at its file."""
        if not self.tsv.is_file():
            raise ConvertError(f"{self.tsv}: TSV file not found")
        with open(self.tsv, "rb") as handle:
            self._read(handle, progress)
        self._resolve_references()

    def _read(self, handle: IO[bytes], progress: ProgressFn | None) -> None:
        total = self.tsv.stat().st_size
        counter = _ByteCounter(handle)
        previous_limit = csv.field_size_limit()
        csv.field_size_limit(sys.maxsize)  # base64 images exceed csv's 128 KiB default; restored below
        try:
            reader = csv.reader(counter.lines(), delimiter="\t", quotechar='"', doublequote=True, strict=True)
            start = 1
            try:
                for cells in reader:
                    if not self.header:
                        self._set_header(cells)
                    elif cells:
                        self._add_row(start, cells)
                    start = reader.line_num + 1
                    if progress is not None:
                        progress(counter.done, total)
            except csv.Error as exc:
                raise ConvertError(f"{self.tsv}:{start}: malformed TSV ({exc})") from None
            except UnicodeDecodeError as exc:
                raise ConvertError(f"{self.tsv}:{start}: not UTF-8 text ({exc.reason})") from None
        finally:
            csv.field_size_limit(previous_limit)
        if not self.header:
            raise ConvertError(f"{self.tsv}: empty file (expected a header row: index, image, question, ...)")
        if not self.rows and not self.problems:
            raise ConvertError(f"{self.tsv}: no rows with an image (header only, or every image cell empty)")
        if self.n_skipped:
            self.warnings.append(f"{self.n_skipped} rows without an image were skipped (as VLMEvalKit does)")
        if self.n_no_answer:
            self.warnings.append(
                f"{self.n_no_answer} rows have no answer (test split?): they cannot be scored and "
                "`monkeyeval` skips them when it loads the jsonl"
            )

    def _set_header(self, cells: list[str]) -> None:
        header = [cell.lstrip("\ufeff") for cell in cells]
        missing = [name for name in ("index", "question") if name not in header]
        if missing:
            raise ConvertError(
                f"{self.tsv}:1: header lacks column(s) {', '.join(missing)}; is this a VLMEvalKit TSV? "
                f"(header: {', '.join(header[:12])})"
            )
        if "image" not in header:
            raise ConvertError(
                f"{self.tsv}:1: no 'image' column: TSVs whose images ship separately (image_path only) are "
                "not supported; use a TSV with base64 images"
            )
        duplicated = sorted({name for name in header if header.count(name) > 1})
        if duplicated:
            raise ConvertError(f"{self.tsv}:1: column(s) {', '.join(duplicated)} appear twice in the header")
        self.header = header

    def _bad_row(self, line: int, reason: str) -> None:
        """Raise (strict) or list the row as a problem."""
        if self.strict:
            raise ConvertError(f"{self.tsv}:{line}: {reason}")
        self.problems.append((line, reason))

    def _add_row(self, line: int, cells: list[str]) -> None:
        number = self.n_data_rows
        self.n_data_rows += 1
        if len(cells) != len(self.header):
            return self._bad_row(
                line,
                f"row has {len(cells)} columns but the header has {len(self.header)} "
                "(an unquoted tab or quote inside a field?)",
            )
        values = dict(zip(self.header, cells, strict=True))
        index = values["index"].strip()
        if not index:
            return self._bad_row(line, "empty 'index' cell; every row needs a unique index")
        if index in self.line_of:
            first = self.line_of[index]
            where = f"{self.tsv}:{line}: row index {index!r}"
            raise ConvertError(f"{where}: duplicate index (first on line {first})")
        self.line_of[index] = line
        image_cell = values["image"].strip()
        if not image_cell:
            self.n_skipped += 1
            return None
        try:
            record = self._record(values, index)
            if len(image_cell) > REFERENCE_MAX_LEN:
                record["image"] = self.image_of[index] = self._store_image(index, image_cell, len(self.rows))
        except _RowProblem as problem:
            return self._bad_row(line, f"row index {index!r}: {problem}")
        if len(image_cell) <= REFERENCE_MAX_LEN:
            self.references[len(self.rows)] = image_cell
        self.rows.append(TsvRow(line, number, index, record))
        return None

    def _record(self, values: dict[str, str], index: str) -> dict[str, Any]:
        record: dict[str, Any] = {"question_id": index, "image": "", "question": values["question"]}
        if "answer" in values and values["answer"] != "":
            record["answer"] = parse_answer(values["answer"])
        else:
            self.n_no_answer += 1
        options = {
            column: text
            for column, text in values.items()
            if OPTION_COLUMN_RE.match(column) and text not in PANDAS_NA_STRINGS
        }
        if options:
            record["options"] = dict(sorted(options.items()))
        for column, text in values.items():
            if column in CORE_COLUMNS or OPTION_COLUMN_RE.match(column) or text == "":
                continue
            if column == "hint" and text in PANDAS_NA_STRINGS:
                continue
            if column in record:
                raise _RowProblem(f"column {column!r} clashes with an output key; rename it")
            record[column] = text
        return record

    def _store_image(self, index: str, cell: str, position: int) -> str:
        if cell.startswith("[") and cell.endswith("]"):
            raise _RowProblem("several images in one row are not supported (monkeyeval samples hold one)")
        try:
            data = base64.b64decode(cell, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise _RowProblem(f"'image' is not valid base64 ({exc})") from None
        extension = sniff_image_extension(data)
        if extension is None:
            raise _RowProblem(f"decoded 'image' is not a {IMAGE_KINDS} file (first bytes {data[:8]!r})")
        stem = index if SAFE_NAME_RE.match(index) else f"row{position:06d}"
        return self.images.store(f"{stem}{extension}", data)

    def _resolve_references(self) -> None:
        kept: list[TsvRow] = []
        for position, row in enumerate(self.rows):
            target = self.references.get(position)
            if target is not None:
                file_name = self.image_of.get(target)
                if file_name is None:
                    reason = (
                        "that row has no image of its own"
                        if target in self.line_of
                        else "no row has that index (or its image cell is empty)"
                    )
                    refers = f"'image' refers to row index {target!r}, but {reason}"
                    self._bad_row(row.line, f"row index {row.index!r}: {refers}")
                    continue
                row.record["image"] = file_name
            kept.append(row)
        self.rows = kept

    def finished_rows(self) -> list[TsvRow]:
        """The rows; `question_id` an int where every index is a canonical integer (as `convert` writes)."""
        if all(_is_canonical_int(row.index) for row in self.rows):
            for row in self.rows:
                row.record["question_id"] = int(row.index)
        return self.rows


class _RowProblem(Exception):
    """Why one row cannot be used."""


def _is_canonical_int(text: str) -> bool:
    return re.fullmatch(r"-?(0|[1-9][0-9]*)", text) is not None


class _ByteCounter:
    """Yields a binary file's lines as text while counting the bytes read (for the progress bar)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.done = 0

    def lines(self) -> Iterator[str]:
        for raw in self.handle:
            self.done += len(raw)
            yield raw.decode("utf-8")
