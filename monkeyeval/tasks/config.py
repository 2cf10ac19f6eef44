"""Typed task configuration (what a task YAML becomes after `include` resolution and validation)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class FieldMap:
    """Which jsonl keys hold each part of a sample (defaults: the upstream Monkey/Qwen-VL jsonl format).

    `id` is a key, or a template of keys in braces for a composite id: OCRBench's ids repeat across its
    source datasets, so its rule is `{dataset_name}/{id}`. Only `{key}` placeholders are allowed, and
    `{#row}`: the item's 0-based row in the file (for files without ids, such as ChartQA's test_human.json).
    """

    question: str = "question"
    answer: str = "answer"
    id: str = "question_id"
    image: str = "image"

    @property
    def id_keys(self) -> tuple[str, ...]:
        """The keys an id is made of: the placeholders of a template, else the id key itself."""
        found = tuple(ID_PLACEHOLDER.findall(self.id))
        return found if found else (self.id,)

    @property
    def item_keys(self) -> tuple[str, ...]:
        """The id keys read from the item (`id_keys` without `#row`)."""
        return tuple(key for key in self.id_keys if key != ROW_KEY)

    @property
    def uses_row(self) -> bool:
        """True when the id rule has `{#row}`."""
        return self.composite_id and ROW_KEY in self.id_keys

    @property
    def composite_id(self) -> bool:
        """True when `id` is a template (`{dataset_name}/{id}`), not a key."""
        return bool(ID_PLACEHOLDER.search(self.id))

    def make_id(self, item: dict[str, Any], row: int | None = None) -> Any:
        """The raw id of a dataset item: the id key's value, or the template filled with the item's values
        and `row` for `{#row}` (a missing key, a nested value or no row gives None, which the loader
        reports as a bad line)."""
        if not self.composite_id:
            return item.get(self.id)
        values = [row if key == ROW_KEY else item.get(key) for key in self.id_keys]
        if any(value is None or isinstance(value, (dict, list)) for value in values):
            return None
        parts = iter(str(value) for value in values)
        return ID_PLACEHOLDER.sub(lambda _match: next(parts), self.id)


ID_PLACEHOLDER = re.compile(r"\{(#row|[A-Za-z0-9_][A-Za-z0-9_ -]*)\}")
"""A `{key}` (or `{#row}`) of a composite id template (no attribute access, indexing or format specs)."""
ROW_KEY = "#row"
"""The id-rule placeholder of an item's 0-based row in its file (all shards in order)."""


@dataclass(frozen=True)
class DatasetSpec:
    """Where a task's data lives. Paths are absolute (already resolved against the data root).

    `root_note` says which root relative paths were resolved against and where that root came from
    (e.g. "data root /data (from $MONKEYEVAL_DATA)"), for error messages; `data_root` is that root when
    the YAML's paths are relative to the data root (None for `relative_to: yaml_dir`). `annotations` is an
    optional VQA-API annotation file whose per-question answer lists replace the jsonl answers (Monkey's
    vqa_score sets read their 10 human answers from there). `format` is `dataset.format` (jsonl, json, tsv,
    parquet); None: told by `jsonl`'s suffix (`monkeyeval.tasks.readers.dataset_format`).
    """

    jsonl: Path
    image_root: Path
    sha256: str | None = None
    root_note: str = ""
    annotations: Path | None = None
    data_root: Path | None = None
    format: str | None = None


@dataclass(frozen=True)
class DataSource:
    """One file a task's data comes from (a `sources:` entry), and where `monkeyeval data pull` lays it.

    `kind`: "hub" (a Hugging Face dataset file: `repo_id`, `filename`, `revision`), "url" (plain HTTP(S) or
    file:// download) or "manual" (`url` is a page to fetch it from by hand). `dest` is the path as written
    (relative to the data root, or to the YAML folder for `relative_to: yaml_dir`); `path` is it resolved.
    For `unpack` ("zip"/"tar") `dest` is the folder the archive is unpacked into (dropping the first
    `strip_components` path parts), else the file itself. `convert: vlmevalkit_tsv` converts the fetched TSV
    into `<stem>.jsonl` and `images/<stem>/` beside it. Hashes are of the fetched file (None: unknown).
    `origin` is "file:line" of the `sources` key, for messages.
    """

    kind: str
    dest: str
    path: Path
    repo_id: str | None = None
    revision: str | None = None
    filename: str | None = None
    url: str | None = None
    sha256: str | None = None
    md5: str | None = None
    unpack: str | None = None
    strip_components: int = 0
    convert: str | None = None
    note: str = ""
    origin: str = ""


@dataclass(frozen=True)
class BreakdownSpec:
    """Per-category scores: group samples by their `Sample.extra[field_name]` value (OCRBench: `type`).

    `groups` maps a super-category name to the categories it sums up (OCRBench's "Text Recognition" = six
    recognition types); a category in no group is reported on its own.
    """

    field_name: str
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def group_of(self, category: str) -> str:
        """The super-category `category` belongs to (itself when it is in no group)."""
        for name, members in self.groups.items():
            if category in members:
                return name
        return category


@dataclass(frozen=True)
class TaskConfig:
    """One evaluation task.

    `metrics` lists registered metric names (aliases resolved); the first is the primary metric.
    `prompt` is the generic template (`{question}`); `profiles` maps a model family to a prompt profile name
    (see `monkeyeval.tasks.prompts`); `family_options` maps a model family to options its adapter understands
    (e.g. `{"minimonkey": {"tiles": "DocVQA"}}`); `family_max_new_tokens` overrides max_new_tokens per
    family (Mini-Monkey's upstream path uses 1024 everywhere). `breakdown` (optional) asks scoring for
    per-category aggregates (see `BreakdownSpec`). `yaml_sha256` hashes the resolved
    configuration (every included file), for the score fingerprint. `group_members` (set by the registry
    that loaded the task) lists every member task of each of its groups, so results judge a group's
    completeness against its definition. `sources` lists where its data files come from (None: the YAML
    does not say; empty: nothing to fetch, e.g. data shipped beside the YAML).
    """

    name: str
    source: Path
    dataset: DatasetSpec
    metrics: tuple[str, ...]
    max_new_tokens: int
    prompt: str = "{question}"
    fields: FieldMap = field(default_factory=FieldMap)
    groups: tuple[str, ...] = ()
    profiles: dict[str, str] = field(default_factory=dict)
    family_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    family_max_new_tokens: dict[str, int] = field(default_factory=dict)
    description: str = ""
    version: str = "1"
    yaml_sha256: str = ""
    breakdown: BreakdownSpec | None = None
    group_members: dict[str, tuple[str, ...]] = field(default_factory=dict)
    sources: tuple[DataSource, ...] | None = None

    @property
    def primary_metric(self) -> str:
        """The metric reported as the task's score."""
        return self.metrics[0]
