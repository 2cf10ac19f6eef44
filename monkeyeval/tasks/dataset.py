"""A task's dataset file (jsonl, JSON array, VLMEvalKit TSV, parquet shards) -> `Sample`s, with per-line
problems recorded instead of crashing. The file formats are read in `monkeyeval.tasks.readers`."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monkeyeval.core import jsontext
from monkeyeval.core.gcpause import collection_paused
from monkeyeval.core.types import Sample
from monkeyeval.tasks.config import DatasetSpec, TaskConfig
from monkeyeval.tasks.readers import (
    EMBEDDED_FORMATS,
    DatasetError,
    ImageMode,
    LineProblem,
    dataset_files,
    dataset_format,
    dataset_sha256,
    is_pattern,
    line_to_row,
    open_items,
)

__all__ = ["DatasetError", "DatasetLoad", "LineProblem", "jsonl_sha256", "load_samples", "resolve_image"]


@dataclass
class DatasetLoad:
    """The valid samples in dataset order, and the lines that were skipped.

    `line_of` maps each sample id to its line (item, row) number; `row_of` turns a line number into the
    0-based row of the file (`#row`), so `ids_by_row` can match positional ids (lmms-eval's `doc_id`).
    """

    samples: list[Sample]
    problems: list[LineProblem] = field(default_factory=list)
    path: Path | None = None
    limit: int | None = None  # the `limit` it was read with
    line_of: dict[str, int] = field(default_factory=dict)
    row_of: Callable[[int], int] = field(default=line_to_row)

    @property
    def skipped_lines(self) -> tuple[int, ...]:
        """The 1-based numbers of the lines (items of a JSON array) that were not valid samples."""
        return tuple(problem.line_no for problem in self.problems)

    def ids_by_row(self) -> dict[int, str]:
        """0-based row of the dataset file(s) -> the id of the sample read from it."""
        return {self.row_of(line_no): sample_id for sample_id, line_no in self.line_of.items()}


def jsonl_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (hex); for a folder or glob of parquet shards, of their listing (see
    `readers.dataset_sha256`)."""
    return dataset_sha256(path)


@collection_paused()
def load_samples(
    task: TaskConfig,
    limit: int | None = None,
    check_image_root: bool = True,
    require_answers: bool = True,
    resolve_images: bool = True,
    image_names: bool = True,
) -> DatasetLoad:
    """Read the task's dataset file into `Sample`s (at most `limit` valid ones).

    Malformed lines and lines missing a key are recorded in `.problems` and skipped. A missing file, a
    `dataset.sha256` mismatch, duplicate ids or a dataset without any valid sample raise DatasetError.
    Answers may be a string or a list. The id field may be absent: then the sample's position is its id
    (the id rule `{#row}` makes the file's row the id explicitly).
    Image paths must stay inside the image root (checked after resolving symlinks). The image root must
    exist (skip with `check_image_root=False`, e.g. to score predictions without the images); single images
    are not checked here (the runner's workers do that). `require_answers=False` (`run --predict-only`, a
    test split without answers) keeps samples whose answer is absent or empty, with `answers == []`.
    `resolve_images=False` (scoring, replay, merge: nothing opens an image) leaves `image_path` None.
    Images stored inside a TSV or parquet file are written to files when images are resolved (see
    `monkeyeval.tasks.embedded`); `image_names=False` (score) leaves such samples' `image` empty, so no
    image bytes are read at all.
    """
    spec = task.dataset
    path = spec.jsonl
    fmt = dataset_format(spec)
    files = dataset_files(path, fmt)
    if not files:
        raise DatasetError(_missing_file_message(task, path, "dataset file") + _format_hint(path, fmt))
    if spec.sha256 is not None:
        actual = jsonl_sha256(path)
        if actual != spec.sha256:
            raise DatasetError(
                f"{path}: checksum mismatch for task {task.name!r}: expected sha256 {spec.sha256} "
                f"(dataset.sha256 in {task.source}), actual {actual}; the file changed or is another version"
            )
    embedded = fmt in EMBEDDED_FORMATS  # its images are written under the image root, made if need be
    if check_image_root and not embedded and not spec.image_root.is_dir():
        raise DatasetError(_missing_file_message(task, spec.image_root, "image root"))
    with_annotations = spec.annotations is not None and (require_answers or spec.annotations.is_file())
    answers_by_id = _read_annotations(task) if with_annotations else None
    resolve = ImageResolver(spec.image_root) if resolve_images else _unresolved
    samples: list[Sample] = []
    problems: list[LineProblem] = []
    first_line_of: dict[str, int] = {}
    mode = ImageMode(write=resolve_images, names=resolve_images or image_names)
    stream = open_items(spec, files, task.fields.image, problems, mode)
    builder = SampleBuilder(task, resolve, answers_by_id, problems, require_answers, stream.row_of)
    for line_no, item in stream.items:
        sample = builder.build(item, len(samples), line_no)
        if sample is None:
            continue
        if sample.id in first_line_of:
            raise DatasetError(
                f"{path}: duplicate id {sample.id!r} on lines {first_line_of[sample.id]} and {line_no} "
                f"(fields.id {task.fields.id!r}); ids must be unique"
            )
        first_line_of[sample.id] = line_no
        samples.append(sample)
        if limit is not None and len(samples) >= limit:
            break
    if not samples:
        detail = f"; first problems: {_summarise(problems)}" if problems else ""
        answerless = require_answers and any(f"{task.fields.answer!r}" in p.message for p in problems)
        hint = "; a test split without answers runs with `monkeyeval run --predict-only`" * answerless
        raise DatasetError(
            f"{path}: no valid samples for task {task.name!r} ({len(problems)} bad lines){detail}{hint}"
        )
    return DatasetLoad(samples, problems, path, limit, first_line_of, stream.row_of)


def _missing_file_message(task: TaskConfig, path: Path, what: str) -> str:
    spec = task.dataset
    against = spec.root_note or "its YAML"
    hint = _data_root_hint(spec)
    return f"{what} {path} for task {task.name!r} does not exist (resolved against {against}){hint}"


def _format_hint(path: Path, fmt: str) -> str:
    """Why a folder or glob matched nothing as a dataset file of format `fmt`."""
    if fmt == "parquet" and (path.is_dir() or is_pattern(path)):
        return "; a parquet folder or glob must hold *.parquet files"
    if path.is_dir() or is_pattern(path):
        return f"; it is read as {fmt}: a folder or glob of shards needs `dataset.format: parquet`"
    return ""


def _data_root_hint(spec: DatasetSpec) -> str:
    """': set --data-root or MONKEYEVAL_DATA to the folder that holds data/' (when a data root was used)."""
    if spec.data_root is None:
        return ""
    folders = [spec.jsonl.parent, spec.image_root]
    for folder in folders:
        if folder.is_relative_to(spec.data_root) and folder != spec.data_root:
            first = folder.relative_to(spec.data_root).parts[0]
            return f": set --data-root or MONKEYEVAL_DATA to the folder that holds {first}/"
    return (
        ": set --data-root or MONKEYEVAL_DATA to the folder that holds the task's data (see tasks/README.md)"
    )


def _summarise(problems: list[LineProblem], n: int = 3) -> str:
    return "; ".join(f"line {p.line_no}: {p.message}" for p in problems[:n])


class SkippedLine(Exception):
    """Raised while building a sample: the line is skipped, for the reason given."""


@dataclass
class SampleBuilder:
    """Turns one task's dataset items into `Sample`s, recording why a line is skipped in `problems`.

    What every line needs (required keys, the keys kept out of `extra`) is worked out once per load; the
    common line (a dict with string fields and answers) takes the shortest path.
    """

    task: TaskConfig
    resolve: Callable[[str], tuple[Path | None, str | None]]
    answers_by_id: dict[str, list[str]] | None
    problems: list[LineProblem]
    require_answers: bool = True
    row_of: Callable[[int], int] = field(default=line_to_row)
    required: tuple[tuple[str, str], ...] = field(init=False)
    required_keys: frozenset[str] = field(init=False)
    used: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        fields = self.task.fields
        self.required = tuple(_required_fields(self.task, self.require_answers))
        self.required_keys = frozenset(name for _, name in self.required)
        used = {fields.question, fields.answer, fields.image}
        if not fields.composite_id:
            used.add(fields.id)  # a composite id's parts stay in `extra` (OCRBench's dataset_name, say)
        self.used = frozenset(used)

    def build(self, item: Any, index: int, line_no: int) -> Sample | None:
        """The sample of dataset item `item` (at position `index`), or None when the line is skipped."""
        try:
            return self._build(item, index, line_no)
        except SkippedLine as skipped:
            self.problems.append(LineProblem(line_no, str(skipped)))
            return None

    def _build(self, item: Any, index: int, line_no: int) -> Sample:
        fields = self.task.fields
        if not isinstance(item, dict):
            raise SkippedLine(f"expected a JSON object, got {type(item).__name__}")
        if not item.keys() >= self.required_keys:
            missing = [f"{name!r} (fields.{role})" for role, name in self.required if name not in item]
            raise SkippedLine(f"missing key {', '.join(missing)}")
        question, image = item[fields.question], item[fields.image]
        if not isinstance(question, str) or not isinstance(image, str):
            raise SkippedLine(f"{fields.question!r} and {fields.image!r} must be strings")
        sample_id = self._sample_id(item, index, line_no)
        answers = self._answers(item, sample_id)
        image_path, error = self.resolve(image)
        extra = {key: value for key, value in item.items() if key not in self.used}
        return Sample(index, sample_id, question, answers, image, image_path, extra, error)

    def _sample_id(self, item: dict[str, Any], index: int, line_no: int) -> str:
        fields = self.task.fields
        if fields.composite_id:
            raw_id = fields.make_id(item, self.row_of(line_no) if fields.uses_row else None)
            if raw_id is None:
                keys = ", ".join(repr(key) for key in fields.item_keys)
                raise SkippedLine(
                    f"id rule {fields.id!r} (fields.id) needs the keys {keys} as strings or numbers"
                )
        else:
            raw_id = item.get(fields.id, index)
        if type(raw_id) is str:
            return raw_id
        if raw_id is None or isinstance(raw_id, (dict, list)):
            raise SkippedLine(f"id field {fields.id!r} must be a string or number, got {raw_id!r}")
        return str(raw_id)

    def _answers(self, item: dict[str, Any], sample_id: str) -> list[str]:
        """The sample's answers ([] for a blank one under --predict-only)."""
        field_name = self.task.fields.answer
        raw_answers = item.get(field_name)
        answers = _answers(raw_answers)
        if self.answers_by_id is not None and sample_id in self.answers_by_id:
            answers = self.answers_by_id[sample_id]
        blank = answers is not None and not "".join(answers).strip()
        if not self.require_answers and (blank or raw_answers is None or raw_answers == []):
            return []  # --predict-only: a sample without an answer is still generated
        if answers is None:
            raise SkippedLine(f"answer field {field_name!r} must be a string or a list of strings")
        if blank:
            raise SkippedLine(f"answer field {field_name!r} is empty: nothing to score against")
        return answers


def _required_fields(task: TaskConfig, require_answers: bool = True) -> list[tuple[str, str]]:
    fields = task.fields
    required = [("question", fields.question), ("image", fields.image)]
    if require_answers and task.dataset.annotations is None:
        required.append(("answer", fields.answer))
    return required


def _answers(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [str(value)]
    if isinstance(value, list) and value and all(isinstance(v, (str, int, float)) for v in value):
        return [str(v) for v in value]
    return None


class ImageResolver:
    """Resolves image fields inside one image root (symlinks followed), caching each folder's real path.

    The cache keeps big datasets fast: one `lstat` per image instead of a full `realpath` walk.
    """

    def __init__(self, image_root: Path) -> None:
        self.root = os.path.realpath(image_root)
        self._prefix = self.root.rstrip(os.sep) + os.sep
        self._real_dirs: dict[str, tuple[str, Path]] = {}

    def __call__(self, image: str) -> tuple[Path | None, str | None]:
        """(resolved path, None), or (None, reason) when the path is absolute or escapes the root."""
        if not image:
            return None, "empty image path"
        if os.path.isabs(image):
            return None, f"image path escapes the image root: {image!r} is absolute (image root {self.root})"
        joined = os.path.join(self.root, image)
        folder, name = os.path.split(joined)
        if name in ("", ".", ".."):
            real = os.path.realpath(joined)
        else:
            cached = self._real_dirs.get(folder)
            if cached is None:
                real_dir = os.path.realpath(folder)
                cached = self._real_dirs[folder] = (real_dir, Path(real_dir))
            real = os.path.join(cached[0], name)
            if not os.path.islink(real):
                if real.startswith(self._prefix):
                    return cached[1] / name, None  # common case: the folder's Path is reused
            else:
                real = os.path.realpath(real)
        if real != self.root and not real.startswith(self._prefix):
            return (
                None,
                f"image path escapes the image root: {image!r} resolves to {real}, outside {self.root}",
            )
        return Path(real), None


def _unresolved(image: str) -> tuple[Path | None, str | None]:
    """The resolver of a load that opens no image."""
    return None, None


def resolve_image(image: str, image_root: Path) -> tuple[Path | None, str | None]:
    """(resolved path, None), or (None, reason) when `image` is absolute or escapes `image_root`.

    Symlinks are followed, so a link inside the root that points outside it is rejected too. Existence is
    not checked.
    """
    return ImageResolver(image_root)(image)


def _read_annotations(task: TaskConfig) -> dict[str, list[str]]:
    """VQA-API annotations ({"annotations": [{"question_id", "answers": [{"answer"}]}]}) -> id -> answers."""
    path = task.dataset.annotations
    assert path is not None
    if not path.is_file():
        raise DatasetError(_missing_file_message(task, path, "annotation file"))
    try:
        data = jsontext.loads(path.read_text(encoding="utf-8"))
        return {
            str(entry["question_id"]): [str(a["answer"]) for a in entry["answers"]]
            for entry in data["annotations"]
        }
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise DatasetError(
            f"{path}: not a VQA-API annotation file ({type(exc).__name__}: {exc}); expected "
            '{"annotations": [{"question_id": ..., "answers": [{"answer": ...}]}]}'
        ) from None
