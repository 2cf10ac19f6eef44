"""The data-location keys of a task YAML: `dataset:` (file, format, image root, checksum, annotations,
what relative paths resolve against) and `fields:` (which keys of an item hold each part of a sample)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monkeyeval.tasks.config import ID_PLACEHOLDER, DatasetSpec, FieldMap
from monkeyeval.tasks.readers import EMBEDDED_FORMATS, FORMATS, infer_format, shard_base
from monkeyeval.tasks.yaml_source import RawTask, did_you_mean

if TYPE_CHECKING:
    from monkeyeval.tasks.loader import DataRoot

DATASET_KEYS = ("jsonl", "file", "format", "image_root", "sha256", "relative_to", "annotations")
FIELD_KEYS = ("question", "answer", "id", "image")
RELATIVE_TO_CHOICES = ("data_root", "yaml_dir")


def dataset_spec(raw: RawTask, root: DataRoot) -> DatasetSpec:
    """The `dataset:` mapping -> a DatasetSpec, paths resolved against the data root or the YAML's folder."""
    spec = raw.required("dataset", dict)
    for key in spec:
        if key not in DATASET_KEYS:
            raise raw.error(
                f"dataset.{key}",
                f"unknown key{did_you_mean(str(key), DATASET_KEYS)}; known: {', '.join(DATASET_KEYS)}",
            )
    given_paths = [key for key in ("jsonl", "file") if key in spec]  # `file`: an alias of `jsonl`
    if len(given_paths) != 1:
        raise raw.error(
            "dataset",
            "give the dataset path once, as 'dataset.jsonl' or its alias 'dataset.file', not both"
            if given_paths
            else "missing required key 'dataset.jsonl' (path of the dataset file; alias 'dataset.file')",
        )
    fmt = spec.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise raw.error(
            "dataset.format",
            f"must be one of {', '.join(FORMATS)}, got {fmt!r}{did_you_mean(str(fmt), FORMATS)} "
            "(leave it out to tell by the file's suffix)",
        )
    relative_to = spec.get("relative_to", "data_root")
    if relative_to not in RELATIVE_TO_CHOICES:
        raise raw.error(
            "dataset.relative_to",
            f"must be one of {', '.join(RELATIVE_TO_CHOICES)}, got {relative_to!r}"
            f"{did_you_mean(str(relative_to), RELATIVE_TO_CHOICES)}",
        )

    def resolve(key: str, value: Any) -> tuple[Path, str]:
        raw.check_type(f"dataset.{key}", value, str)
        given = Path(value).expanduser()
        if given.is_absolute():
            return given, f"absolute path in {raw.origin('dataset.' + key).file}"
        if relative_to == "yaml_dir":
            folder = raw.origin(f"dataset.{key}").file.parent
            return (
                folder / given
            ).resolve(), f"folder of {raw.origin('dataset.' + key).file} (relative_to: yaml_dir)"
        return (root.path / given).resolve(), root.describe()

    jsonl, note = resolve(given_paths[0], spec[given_paths[0]])
    if "image_root" not in spec and (fmt or infer_format(jsonl)) in EMBEDDED_FORMATS:
        image_root = shard_base(jsonl)  # embedded images are written to <image_root>/images/<name>/
    else:
        image_root, _ = resolve("image_root", spec.get("image_root", "."))
    annotations = (
        resolve("annotations", spec["annotations"])[0] if spec.get("annotations") is not None else None
    )
    sha256 = spec.get("sha256")
    if sha256 is not None:
        raw.check_type("dataset.sha256", sha256, str)
        if not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
            raise raw.error(
                "dataset.sha256", f"expected 64 hex digits (sha256sum of the jsonl), got {sha256!r}"
            )
        sha256 = sha256.lower()
    return DatasetSpec(
        jsonl=jsonl,
        image_root=image_root,
        sha256=sha256,
        root_note=note,
        annotations=annotations,
        data_root=root.path if relative_to == "data_root" else None,
        format=fmt,
    )


def field_map(raw: RawTask) -> FieldMap:
    """The `fields:` mapping (which keys hold question, answer, id, image) -> a FieldMap."""
    fields = raw.optional("fields", dict, {})
    for key, value in fields.items():
        if key not in FIELD_KEYS:
            raise raw.error(
                f"fields.{key}",
                f"unknown field{did_you_mean(str(key), FIELD_KEYS)}; known: {', '.join(FIELD_KEYS)}",
            )
        raw.check_type(f"fields.{key}", value, str)
    leftover = ID_PLACEHOLDER.sub("", fields.get("id", FieldMap.id))
    if "{" in leftover or "}" in leftover:
        raise raw.error(
            "fields.id",
            f"{fields['id']!r} is not an id rule: write a key (question_id) or keys in braces joined by "
            "text, e.g. '{dataset_name}/{id}', or '{#row}' for the row number (no attribute access, "
            "indexes or format specs)",
        )
    return FieldMap(**fields)
