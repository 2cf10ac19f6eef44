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
from monkeyeval.tasks.config import BreakdownSpec, TaskConfig
from monkeyeval.tasks.dataset_keys import dataset_spec, field_map
from monkeyeval.tasks.prompts import PROFILES
from monkeyeval.tasks.sources import parse_sources
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
    "sources",
)
UNHASHED_KEYS = ("sources",)
"""Keys left out of `yaml_sha256`: where the files come from does not change what is scored."""
BREAKDOWN_KEYS = ("field", "groups")
METRIC_ENTRY_KEYS = ("metric",)
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
    name = raw.required("task", str)
    if not TASK_NAME_RE.match(name):
        raise raw.error(
            "task", f"task name {name!r} must be letters, digits, '_', '-' or '.' (it names a folder)"
        )
    max_new_tokens = raw.required("max_new_tokens", int)
    if max_new_tokens < 1:
        raise raw.error("max_new_tokens", f"must be a positive integer, got {max_new_tokens}")
    prompt = raw.optional("prompt", str, "{question}")
    _check_prompt(raw, prompt)
    description = raw.optional("description", str, "")
    metadata = raw.optional("metadata", dict, {})
    version = metadata.get("version", "1")
    if not isinstance(version, (str, int, float)) or isinstance(version, bool):
        raise raw.error("metadata.version", f"expected a string or number, got {type(version).__name__}")
    return TaskConfig(
        name=name,
        source=raw.path,
        dataset=dataset_spec(raw, root),
        metrics=_metric_names(raw, metrics),
        max_new_tokens=max_new_tokens,
        prompt=prompt,
        fields=field_map(raw),
        groups=_groups(raw),
        profiles=_profiles(raw),
        family_options=_family_options(raw),
        family_max_new_tokens=_family_max_new_tokens(raw),
        description=description,
        version=str(version),
        yaml_sha256=resolved_sha256(raw),
        breakdown=_breakdown(raw),
        sources=parse_sources(raw, root.path, raw.values["dataset"].get("relative_to", "data_root")),
    )


def resolved_sha256(raw: RawTask) -> str:
    """SHA-256 of the resolved values as canonical JSON (comments, layout, file names and `sources` do not
    count)."""
    values = {key: value for key, value in raw.values.items() if key not in UNHASHED_KEYS}
    canonical = json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(utf8(canonical)).hexdigest()


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
        entries.append(("metric", raw.required("metric", str)))
    elif "metric_list" in raw.values:
        items = raw.required("metric_list", list)
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
    mapping = raw.optional(key, dict, {})
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
    spec = raw.optional("breakdown", dict, None)
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
