"""Task YAML files -> validated `TaskConfig`s: safe parsing, `include` resolution, validation, data roots.

Format reference: `tasks/README.md`. Every error names the file, the key and (where YAML gives it) the line.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from monkeyeval.core.atomic import utf8
from monkeyeval.tasks.config import ID_PLACEHOLDER, BreakdownSpec, DatasetSpec, FieldMap, TaskConfig
from monkeyeval.tasks.prompts import PROFILES
from monkeyeval.tasks.yaml_source import RawTask, did_you_mean, resolve_includes

DATA_ROOT_ENV = "MONKEYEVAL_DATA"

TOP_LEVEL_KEYS = (
    "task",
    "include",
    "group",
    "tag",
    "dataset",
    "fields",
    "metric",
    "metric_list",
    "max_new_tokens",
    "prompt",
    "profiles",
    "family_options",
    "family_max_new_tokens",
    "description",
    "metadata",
    "breakdown",
)
BREAKDOWN_KEYS = ("field", "groups")
DATASET_KEYS = ("jsonl", "image_root", "sha256", "relative_to", "annotations")
FIELD_KEYS = ("question", "answer", "id", "image")
METRIC_ENTRY_KEYS = ("metric",)
RELATIVE_TO_CHOICES = ("data_root", "yaml_dir")
TASK_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class MetricLookup(Protocol):
    """What the loader needs from the metric registry: `get(name)` -> a Metric (KeyError if unknown)."""

    def get(self, name: str) -> Any: ...


@dataclass(frozen=True)
class DataRoot:
    """The folder relative dataset paths resolve against, and where that choice came from."""

    path: Path
    source: str

    def describe(self) -> str:
        """E.g. "data root /data (from $MONKEYEVAL_DATA)"."""
        return f"data root {self.path} (from {self.source})"


def resolve_data_root(data_root: Path | None = None) -> DataRoot:
    """`data_root` (the --data-root option), else $MONKEYEVAL_DATA, else the current directory (recorded)."""
    if data_root is not None:
        return DataRoot(Path(data_root).expanduser().resolve(), "--data-root")
    env = os.environ.get(DATA_ROOT_ENV)
    if env:
        return DataRoot(Path(env).expanduser().resolve(), f"${DATA_ROOT_ENV}")
    return DataRoot(Path.cwd().resolve(), f"the current directory: no --data-root or ${DATA_ROOT_ENV} given")


# --------------------------------------------------------------------------- validation


def is_template(path: Path) -> bool:
    """Files whose name starts with `_` are include-only templates, never tasks."""
    return path.name.startswith("_")


def load_task_file(
    path: Path, data_root: DataRoot | None = None, metrics: MetricLookup | None = None
) -> TaskConfig:
    """Load, resolve and validate one task YAML into a `TaskConfig` (metric names made canonical)."""
    raw = resolve_includes(Path(path))
    root = data_root or resolve_data_root()
    if metrics is None:
        from monkeyeval.metrics.registry import load_metric_registry

        metrics = load_metric_registry()
    return build_task_config(raw, root, metrics)


def build_task_config(raw: RawTask, root: DataRoot, metrics: MetricLookup) -> TaskConfig:
    """Validate resolved values and build the `TaskConfig`."""
    values = raw.values
    for key in values:
        if key not in TOP_LEVEL_KEYS:
            raise raw.error(
                key,
                f"unknown key{did_you_mean(key, TOP_LEVEL_KEYS)}; known keys: {', '.join(TOP_LEVEL_KEYS)}",
            )
    name = _required(raw, "task", str)
    if not TASK_NAME_RE.match(name):
        raise raw.error(
            "task", f"task name {name!r} must be letters, digits, '_', '-' or '.' (it names a folder)"
        )
    max_new_tokens = _required(raw, "max_new_tokens", int)
    if max_new_tokens < 1:
        raise raw.error("max_new_tokens", f"must be a positive integer, got {max_new_tokens}")
    prompt = _optional(raw, "prompt", str, "{question}")
    _check_prompt(raw, prompt)
    description = _optional(raw, "description", str, "")
    metadata = _optional(raw, "metadata", dict, {})
    version = metadata.get("version", "1")
    if not isinstance(version, (str, int, float)) or isinstance(version, bool):
        raise raw.error("metadata.version", f"expected a string or number, got {type(version).__name__}")
    return TaskConfig(
        name=name,
        source=raw.path,
        dataset=_dataset_spec(raw, root),
        metrics=_metric_names(raw, metrics),
        max_new_tokens=max_new_tokens,
        prompt=prompt,
        fields=_field_map(raw),
        groups=_groups(raw),
        profiles=_profiles(raw),
        family_options=_family_options(raw),
        family_max_new_tokens=_family_max_new_tokens(raw),
        description=description,
        version=str(version),
        yaml_sha256=resolved_sha256(raw),
        breakdown=_breakdown(raw),
    )


def resolved_sha256(raw: RawTask) -> str:
    """SHA-256 of the resolved values as canonical JSON (comments, layout and file names do not count)."""
    canonical = json.dumps(raw.values, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(utf8(canonical)).hexdigest()


_TYPE_NAMES = {str: "a string", int: "an integer", dict: "a mapping", list: "a list"}


def _check_type(raw: RawTask, key: str, value: Any, expected: type) -> None:
    ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
    if not ok:
        raise raw.error(
            key,
            f"expected {_TYPE_NAMES.get(expected, expected.__name__)}, got {type(value).__name__} {value!r}",
        )


def _required(raw: RawTask, key: str, expected: type) -> Any:
    if key not in raw.values:
        raise raw.error(key, f"missing required key '{key}'")
    value = raw.values[key]
    _check_type(raw, key, value, expected)
    return value


def _optional(raw: RawTask, key: str, expected: type, default: Any) -> Any:
    if key not in raw.values or raw.values[key] is None:
        return default
    value = raw.values[key]
    _check_type(raw, key, value, expected)
    return value


def _check_prompt(raw: RawTask, prompt: str) -> None:
    try:
        parts = list(string.Formatter().parse(prompt))
    except ValueError as exc:
        raise raw.error("prompt", f"bad template ({exc}); write literal braces as {{{{ and }}}}") from None
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        if name != "question" or spec or conversion:
            raise raw.error(
                "prompt",
                f"only the placeholder {{question}} is allowed, found {{{name}}}; double literal braces",
            )


def _dataset_spec(raw: RawTask, root: DataRoot) -> DatasetSpec:
    spec = _required(raw, "dataset", dict)
    for key in spec:
        if key not in DATASET_KEYS:
            raise raw.error(
                f"dataset.{key}",
                f"unknown key{did_you_mean(str(key), DATASET_KEYS)}; known: {', '.join(DATASET_KEYS)}",
            )
    if "jsonl" not in spec:
        raise raw.error("dataset", "missing required key 'dataset.jsonl' (path of the jsonl file)")
    relative_to = spec.get("relative_to", "data_root")
    if relative_to not in RELATIVE_TO_CHOICES:
        raise raw.error(
            "dataset.relative_to",
            f"must be one of {', '.join(RELATIVE_TO_CHOICES)}, got {relative_to!r}"
            f"{did_you_mean(str(relative_to), RELATIVE_TO_CHOICES)}",
        )

    def resolve(key: str, value: Any) -> tuple[Path, str]:
        _check_type(raw, f"dataset.{key}", value, str)
        given = Path(value).expanduser()
        if given.is_absolute():
            return given, f"absolute path in {raw.origin('dataset.' + key).file}"
        if relative_to == "yaml_dir":
            folder = raw.origin(f"dataset.{key}").file.parent
            return (
                folder / given
            ).resolve(), f"folder of {raw.origin('dataset.' + key).file} (relative_to: yaml_dir)"
        return (root.path / given).resolve(), root.describe()

    jsonl, note = resolve("jsonl", spec["jsonl"])
    image_root, _ = resolve("image_root", spec.get("image_root", "."))
    annotations = (
        resolve("annotations", spec["annotations"])[0] if spec.get("annotations") is not None else None
    )
    sha256 = spec.get("sha256")
    if sha256 is not None:
        _check_type(raw, "dataset.sha256", sha256, str)
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
    )


def _field_map(raw: RawTask) -> FieldMap:
    fields = _optional(raw, "fields", dict, {})
    for key, value in fields.items():
        if key not in FIELD_KEYS:
            raise raw.error(
                f"fields.{key}",
                f"unknown field{did_you_mean(str(key), FIELD_KEYS)}; known: {', '.join(FIELD_KEYS)}",
            )
        _check_type(raw, f"fields.{key}", value, str)
    leftover = ID_PLACEHOLDER.sub("", fields.get("id", FieldMap.id))
    if "{" in leftover or "}" in leftover:
        raise raw.error(
            "fields.id",
            f"{fields['id']!r} is not an id rule: write a key (question_id) or keys in braces joined by "
            "text, e.g. '{dataset_name}/{id}' (no attribute access, indexes or format specs)",
        )
    return FieldMap(**fields)


def _string_list(raw: RawTask, key: str) -> list[str]:
    value = raw.values.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise raw.error(key, f"expected a name or a list of names, got {value!r}")


def _groups(raw: RawTask) -> tuple[str, ...]:
    names = _string_list(raw, "group") + _string_list(raw, "tag")
    for name in names:
        if not TASK_NAME_RE.match(name):
            raise raw.error("group", f"group name {name!r} must be letters, digits, '_', '-' or '.'")
    return tuple(dict.fromkeys(names))


def _metric_names(raw: RawTask, metrics: MetricLookup) -> tuple[str, ...]:
    if "metric" in raw.values and "metric_list" in raw.values:
        raise raw.error("metric_list", "give either 'metric' or 'metric_list', not both")
    entries: list[tuple[str, Any]] = []
    if "metric" in raw.values:
        entries.append(("metric", _required(raw, "metric", str)))
    elif "metric_list" in raw.values:
        items = _required(raw, "metric_list", list)
        if not items:
            raise raw.error("metric_list", "is empty; list at least one metric")
        for i, item in enumerate(items):
            key = f"metric_list[{i}]"
            if isinstance(item, dict):
                for sub in item:
                    if sub not in METRIC_ENTRY_KEYS:
                        raise raw.error(
                            "metric_list",
                            f"{key}: unknown key {sub!r}{did_you_mean(str(sub), METRIC_ENTRY_KEYS)}",
                        )
                if "metric" not in item:
                    raise raw.error("metric_list", f"{key}: missing key 'metric'")
                item = item["metric"]
            if not isinstance(item, str):
                raise raw.error(
                    "metric_list", f"{key}: expected a metric name or {{metric: name}}, got {item!r}"
                )
            entries.append(("metric_list", item))
    else:
        raise raw.error("metric", "missing required key 'metric' (or 'metric_list')")
    canonical: list[str] = []
    for key, name in entries:
        try:
            metric = metrics.get(name)
        except KeyError as exc:
            reason = exc.args[0] if exc.args else f"unknown metric {name!r}"
            raise raw.error(key, f"{reason} (see `monkeyeval metrics`)") from None
        if metric.name not in canonical:
            canonical.append(metric.name)
    return tuple(canonical)


def _family_mapping(raw: RawTask, key: str) -> dict[str, Any]:
    mapping = _optional(raw, key, dict, {})
    for family in mapping:
        if not isinstance(family, str):
            raise raw.error(key, f"model family names must be strings, got {family!r}")
    return dict(mapping)


def _profiles(raw: RawTask) -> dict[str, str]:
    profiles = _family_mapping(raw, "profiles")
    for family, profile in profiles.items():
        if not isinstance(profile, str):
            raise raw.error(f"profiles.{family}", f"expected a prompt profile name, got {profile!r}")
        if profile not in PROFILES:
            raise raw.error(
                f"profiles.{family}",
                f"unknown prompt profile {profile!r}{did_you_mean(profile, list(PROFILES))}; "
                f"known: {', '.join(sorted(PROFILES))}",
            )
    return profiles


def _family_options(raw: RawTask) -> dict[str, dict[str, Any]]:
    options = _family_mapping(raw, "family_options")
    for family, value in options.items():
        if not isinstance(value, Mapping):
            raise raw.error(f"family_options.{family}", f"expected a mapping of options, got {value!r}")
    return {family: dict(value) for family, value in options.items()}


def _family_max_new_tokens(raw: RawTask) -> dict[str, int]:
    limits = _family_mapping(raw, "family_max_new_tokens")
    for family, value in limits.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise raw.error(f"family_max_new_tokens.{family}", f"expected a positive integer, got {value!r}")
    return limits


def _breakdown(raw: RawTask) -> BreakdownSpec | None:
    """`breakdown: {field: type, groups: {Super: [cat, ...]}}` -> BreakdownSpec (None when absent)."""
    spec = _optional(raw, "breakdown", dict, None)
    if spec is None:
        return None
    for key in spec:
        if key not in BREAKDOWN_KEYS:
            raise raw.error(
                f"breakdown.{key}",
                f"unknown key{did_you_mean(str(key), BREAKDOWN_KEYS)}; known: {', '.join(BREAKDOWN_KEYS)}",
            )
    if "field" not in spec:
        raise raw.error(
            "breakdown", "missing required key 'breakdown.field' (the jsonl key holding the category)"
        )
    field_name = spec["field"]
    if not isinstance(field_name, str) or not field_name:
        raise raw.error("breakdown.field", f"expected a jsonl key name, got {field_name!r}")
    groups_raw = spec.get("groups") or {}
    if not isinstance(groups_raw, dict):
        raise raw.error(
            "breakdown.groups", f"expected a mapping of group name -> list of categories, got {groups_raw!r}"
        )
    groups: dict[str, tuple[str, ...]] = {}
    owner: dict[str, str] = {}
    for name, members in groups_raw.items():
        if not isinstance(name, str) or not (
            isinstance(members, list) and members and all(isinstance(m, str) for m in members)
        ):
            raise raw.error(
                "breakdown.groups",
                f"group {name!r}: expected a non-empty list of category names, got {members!r}",
            )
        for member in members:
            if member in owner:
                raise raw.error(
                    "breakdown.groups",
                    f"category {member!r} is listed in both {owner[member]!r} and {name!r}",
                )
            owner[member] = name
        groups[name] = tuple(members)
    return BreakdownSpec(field_name=field_name, groups=groups)
