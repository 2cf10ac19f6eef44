"""Task YAML files as written: safe parsing with key lines, `include` resolution, and located errors.

`resolve_includes` returns a `RawTask`: the merged values and the file:line every key came from, so the
validator (`tasks.loader`) can name the file, key and line of any problem. Files are read with
`yaml.safe_load` semantics (no Python tags; anchors and aliases are refused: a task file cannot run code or
blow up memory).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from monkeyeval.core.errors import UserError

MERGED_MAPPING_KEYS = (
    "dataset",
    "fields",
    "profiles",
    "family_options",
    "family_max_new_tokens",
    "metadata",
    "breakdown",
)


class TaskConfigError(UserError, ValueError):
    """A task YAML is invalid; the message names the file, key and line, and says how to fix it."""


@dataclass(frozen=True)
class Origin:
    """Where a key was written: file and 1-based line (None when unknown)."""

    file: Path
    line: int | None = None

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else str(self.file)


@dataclass
class RawTask:
    """A task file's values after `include` resolution, with the origin of every key ("dataset.jsonl" too)."""

    path: Path
    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)

    def origin(self, key: str) -> Origin:
        """Origin of `key` (dotted for nested keys), falling back to the parent key, then the file."""
        while key:
            if key in self.origins:
                return self.origins[key]
            key = key.rpartition(".")[0]
        return Origin(self.path)

    def error(self, key: str, message: str) -> TaskConfigError:
        """A TaskConfigError located at `key`."""
        origin = self.origin(key)
        extra = "" if origin.file == self.path else f" (while loading task file {self.path})"
        return TaskConfigError(f"{origin.where()}: key '{key}': {message}{extra}")

    def check_type(self, key: str, value: Any, expected: type) -> None:
        """Raise the located error unless `value` (of `key`) is an `expected` (a bool is not an int)."""
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            wanted = TYPE_NAMES.get(expected, expected.__name__)
            raise self.error(key, f"expected {wanted}, got {type(value).__name__} {value!r}")

    def required(self, key: str, expected: type) -> Any:
        """The value of a top-level key that must be present, type-checked."""
        if key not in self.values:
            raise self.error(key, f"missing required key '{key}'")
        value = self.values[key]
        self.check_type(key, value, expected)
        return value

    def optional(self, key: str, expected: type, default: Any) -> Any:
        """The value of a top-level key, type-checked, or `default` when absent or null."""
        if key not in self.values or self.values[key] is None:
            return default
        value = self.values[key]
        self.check_type(key, value, expected)
        return value


TYPE_NAMES = {str: "a string", int: "an integer", dict: "a mapping", list: "a list"}


def did_you_mean(name: str, candidates: Sequence[str]) -> str:
    """' (did you mean: a, b?)' or ''."""
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    return f" (did you mean: {', '.join(close)}?)" if close else ""


# --------------------------------------------------------------------------- YAML reading

SAFE_LOADER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml_file(path: Path) -> tuple[Any, dict[str, int]]:
    """Safe-load one YAML file; returns (data, {"key" / "key.sub": 1-based line}).

    Only plain YAML data is accepted (yaml.SafeLoader, libyaml's CSafeLoader where PyYAML has it: the same
    rules, 6x faster): tags such as `!!python/object` are rejected, so a task file can never run code.
    Duplicate keys in a mapping are an error (PyYAML would keep the last).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TaskConfigError(f"{path}: cannot read task file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise TaskConfigError(f"{path}: task file is not UTF-8 text: {exc}") from None
    loader = SAFE_LOADER(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise TaskConfigError(
            f"{path}{line}: YAML tag not allowed ({exc.problem}): task files are plain data, read with "
            "yaml.safe_load; remove the tag"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise TaskConfigError(f"{path}{line}: malformed YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise TaskConfigError(f"{path}: malformed YAML: {exc}") from None
    except RecursionError:
        raise TaskConfigError(
            f"{path}: YAML nested too deeply to read; a task file is a flat mapping of a few levels"
        ) from None
    finally:
        loader.dispose()
    if node is not None:
        _reject_aliases(path, node)
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        _collect_key_lines(path, node, "", lines, depth=2)
    return data, lines


def _reject_aliases(path: Path, root: yaml.Node) -> None:
    """YAML anchors/aliases are refused: they are not needed (use `include`) and can expand exponentially."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            raise TaskConfigError(
                f"{path}:{node.start_mark.line + 1}: YAML anchors and aliases (&name, *name) are not "
                "supported in task files; share settings with `include` instead"
            )
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                stack.extend((key_node, value_node))


def _collect_key_lines(
    path: Path, node: yaml.MappingNode, prefix: str, lines: dict[str, int], depth: int
) -> None:
    seen: dict[str, int] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        key = f"{prefix}{key_node.value}"
        line = key_node.start_mark.line + 1
        if key in seen:
            raise TaskConfigError(
                f"{path}:{line}: key '{key}' is written twice (first on line {seen[key]}); keep one"
            )
        seen[key] = line
        lines[key] = line
        if depth > 1 and isinstance(value_node, yaml.MappingNode):
            _collect_key_lines(path, value_node, f"{key}.", lines, depth - 1)


# --------------------------------------------------------------------------- include resolution


def resolve_includes(path: Path, _chain: tuple[Path, ...] = ()) -> RawTask:
    """Read `path` and merge its `include`s (paths relative to the including file, recursive).

    Included files are merged first, in order; the including file's keys override theirs. Mapping-valued
    keys (dataset, fields, profiles, family_options, family_max_new_tokens, metadata) merge one level deep.
    """
    path = path.resolve()
    if path in _chain:
        cycle = " -> ".join(str(p) for p in (*_chain[_chain.index(path) :], path))
        raise TaskConfigError(f"{_chain[-1]}: key 'include': include cycle: {cycle}")
    data, lines = read_yaml_file(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TaskConfigError(
            f"{path}: a task file must be a YAML mapping (key: value lines), got {type(data).__name__}"
        )
    here = RawTask(path)
    for key in data:
        if not isinstance(key, str):
            raise TaskConfigError(f"{path}: keys must be strings, got {key!r}")
    merged = RawTask(path)
    includes = data.get("include", [])
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise TaskConfigError(
            f"{path}:{lines.get('include', '?')}: key 'include': expected a file name or a list of file names"
        )
    for include in includes:
        target = (path.parent / include).resolve()
        if not target.is_file():
            raise TaskConfigError(
                f"{path}:{lines.get('include', '?')}: key 'include': included file {target} does not exist "
                "(include paths are relative to the including file)"
            )
        _merge_into(merged, resolve_includes(target, (*_chain, path)))
    here.values = {k: v for k, v in data.items() if k != "include"}
    here.origins = {k: Origin(path, line) for k, line in lines.items()}
    for key in here.values:
        here.origins.setdefault(key, Origin(path))
    _merge_into(merged, here)
    return merged


def _merge_into(base: RawTask, override: RawTask) -> None:
    for key, value in override.values.items():
        if key in MERGED_MAPPING_KEYS and isinstance(value, dict) and isinstance(base.values.get(key), dict):
            base.values[key] = {**base.values[key], **value}
        else:
            base.values[key] = value
            for old in [k for k in base.origins if k.startswith(f"{key}.")]:
                del base.origins[old]
    base.origins.update(override.origins)
