"""`monkeyeval data pull`: fetch every data source of some tasks that is not already in place and verified.

Each distinct source (tasks sharing one archive share one item) is assessed first: a file whose hashes match,
or an archive whose unpack stamp (`<dest>/.monkeyeval-pull/<archive>.json`) still matches the files on disk,
is skipped; so is a source whose hashes are unknown when every file its tasks read is present. The rest are
fetched (hub files through huggingface_hub and its cache, URLs over plain HTTP), verified, unpacked or
converted. Failures are collected and reported together at the end, each with what to fetch by hand and
where to put it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from monkeyeval.core.atomic import atomic_write_json, remove_file
from monkeyeval.core.errors import UserError
from monkeyeval.tasks.config import DataSource, TaskConfig
from monkeyeval.tasks.datacheck import task_file_problems
from monkeyeval.tasks.fetch import (
    DEFAULT_TIMEOUT_S,
    Digests,
    FetchError,
    Progress,
    copy_verified,
    download_url,
    file_digests,
    hub_download,
    hub_url,
)
from monkeyeval.tasks.unpack import UnpackError, unpack

STAMP_DIR = ".monkeyeval-pull"


class DataPullError(UserError):
    """Some sources could not be fetched or verified; the message lists each with what to do by hand."""


@dataclass(frozen=True)
class PullItem:
    """One distinct source and the tasks that read its files."""

    source: DataSource
    tasks: tuple[str, ...]

    @property
    def label(self) -> str:
        """The file's name (the archive, the TSV, or the manual path)."""
        return self.source.filename or Path(self.source.dest).name or self.source.dest

    def where_from(self) -> str:
        """Where to fetch it: a download URL and, for hub files, the dataset and revision."""
        s = self.source
        if s.kind == "hub":
            assert s.repo_id and s.filename and s.revision
            return (
                f"{hub_url(s.repo_id, s.filename, s.revision)} (hub dataset {s.repo_id}, file {s.filename}, "
                f"revision {s.revision})"
            )
        return f"{s.url}" + (f" ({s.note})" if s.note and s.kind == "manual" else "")

    def where_to(self) -> str:
        """Where it goes, absolute: 'unpack it into DIR' or 'put it at PATH' (plus the conversion step)."""
        s = self.source
        if s.unpack:
            strip = f", dropping its first {s.strip_components} path part(s)" if s.strip_components else ""
            return f"unpack it into {s.path}{strip}"
        if s.convert:
            return f"put it at {s.path}, then run `monkeyeval convert vlmevalkit {s.path} {s.path.parent}`"
        return f"put it at {s.path}"

    def tasks_text(self) -> str:
        """'task a' / 'tasks a, b, c and 4 more'."""
        shown = ", ".join(self.tasks[:3])
        more = f" and {len(self.tasks) - 3} more" if len(self.tasks) > 3 else ""
        return f"task{'s' if len(self.tasks) > 1 else ''} {shown}{more}"


@dataclass(frozen=True)
class ItemResult:
    """What happened to one item: `action` is verified, in place, fetched, would fetch, failed or manual."""

    item: PullItem
    action: str
    detail: str = ""


@dataclass
class PullReport:
    """Every item's result, the tasks whose YAML gives no sources, and the failures (empty: all is well)."""

    results: list[ItemResult] = field(default_factory=list)
    unsourced: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def plan_items(tasks: Sequence[TaskConfig]) -> tuple[list[PullItem], list[str]]:
    """Distinct sources of `tasks` in order (with the tasks using each), and the tasks with no `sources`.

    The same file declared by two YAMLs (an include, or a copy) is one item; two different files for one
    path are an error naming both YAMLs.
    """
    first: dict[DataSource, DataSource] = {}
    users: dict[DataSource, list[str]] = {}
    by_path: dict[Path, DataSource] = {}
    unsourced = []
    for task in tasks:
        if task.sources is None:
            unsourced.append(task.name)
            continue
        for source in task.sources:
            key = replace(source, origin="", note="")
            clash = by_path.get(source.path)
            if source.unpack is None and clash is not None and clash != key:
                raise DataPullError(
                    f"{source.origin}: key 'sources': task {task.name} puts {source.dest!r} at "
                    f"{source.path}, where task {users[clash][0]} ({first[clash].origin}) puts a different "
                    "file; give one of them another dest"
                )
            if key not in users:
                first[key] = source
                users[key] = []
                if source.unpack is None:
                    by_path[source.path] = key
            if task.name not in users[key]:
                users[key].append(task.name)
    return [PullItem(first[key], tuple(names)) for key, names in users.items()], unsourced


def identity(source: DataSource) -> dict[str, Any]:
    """What a stamp records about the source it came from."""
    keys = ("kind", "repo_id", "revision", "filename", "url", "unpack", "strip_components", "convert")
    return {key: getattr(source, key) for key in keys}


def stamp_path(source: DataSource) -> Path:
    """Where the unpack/convert stamp of `source` lives."""
    if source.unpack:
        return source.path / STAMP_DIR / f"{source.filename}.json"
    return source.path.parent / STAMP_DIR / f"{source.path.name}.convert.json"


def _read_stamp(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _stamp_problem(source: DataSource) -> str | None:
    """Why an archive's stamp does not prove it is unpacked (None: it does)."""
    stamp = _read_stamp(stamp_path(source))
    if stamp is None:
        return "not unpacked yet"
    if stamp.get("source") != identity(source):
        return "unpacked from another source (the YAML changed)"
    for key in ("sha256", "md5"):
        declared = getattr(source, key)
        if declared is not None and stamp.get(key) != declared:
            return f"unpacked from an archive with another {key}"
    files = stamp.get("files")
    if not isinstance(files, dict):
        return "the unpack stamp is damaged"
    for rel, size in files.items():
        target = source.path / rel
        try:
            if target.stat().st_size != size:
                return f"{rel} changed since it was unpacked"
        except OSError:
            return f"{rel} is missing since it was unpacked"
    return None


@dataclass
class _Assessment:
    state: str  # verified, in place, missing, mismatch, manual
    detail: str = ""
    fetch: bool = False
    convert: bool = False
    digests: Digests | None = None


def assess(item: PullItem, in_place: bool, progress: Progress | None = None) -> _Assessment:
    """Is the item's file present and verified? `in_place`: every file its tasks read exists."""
    s = item.source
    if s.kind == "manual":
        if not s.path.exists():
            return _Assessment("manual", f"it is fetched by hand and {s.path} is not there yet")
        if s.path.is_file() and (s.sha256 or s.md5):
            wrong = file_digests(s.path, progress).mismatch(s.sha256, s.md5)
            return _Assessment("mismatch", f"{wrong}: another version") if wrong else _Assessment("verified")
        return _Assessment("in place")
    if s.unpack:
        problem = _stamp_problem(s)
        if problem is None:
            return _Assessment("verified", "unpack stamp matches the files")
        if in_place and not stamp_path(s).exists():
            return _Assessment("in place", "its tasks' files are present (not unpacked by data pull)")
        return _Assessment("missing", problem, fetch=True)
    if not s.path.is_file():
        if s.convert and in_place:
            return _Assessment("in place", "converted files present")
        return _Assessment("missing", "missing", fetch=True, convert=bool(s.convert))
    digests = file_digests(s.path, progress) if (s.sha256 or s.md5 or s.convert) else None
    wrong = digests.mismatch(s.sha256, s.md5) if digests else None
    if wrong:
        return _Assessment("mismatch", f"{wrong}: another version", fetch=True, convert=bool(s.convert))
    state = "verified" if (s.sha256 or s.md5) else "in place"
    assessment = _Assessment(state, "" if state == "verified" else "no hash to verify", digests=digests)
    if s.convert and digests is not None:
        stamp = _read_stamp(stamp_path(s)) or {}
        jsonl = s.path.with_suffix(".jsonl")
        converted = stamp.get("input_sha256") == digests.sha256 and jsonl.is_file()
        assessment.convert = not converted and not in_place
    return assessment


def _fetch(item: PullItem, timeout: float, progress: Progress | None) -> str:
    """Fetch, verify and lay out one item; a short description of what was done."""
    s = item.source
    if s.unpack:
        if s.kind == "hub":
            assert s.repo_id and s.filename and s.revision
            archive = hub_download(s.repo_id, s.filename, s.revision)
            digests = file_digests(archive, progress)
            wrong = digests.mismatch(s.sha256, s.md5)
            if wrong:
                raise FetchError(f"the hub file has {wrong}: another version, or a damaged cache entry")
            return _unpack(s, archive, digests, keep=True)
        assert s.url and s.filename
        archive = s.path / STAMP_DIR / "downloads" / s.filename
        digests = download_url(s.url, archive, s.sha256, s.md5, timeout, progress)
        return _unpack(s, archive, digests, keep=False)
    if s.kind == "hub":
        assert s.repo_id and s.filename and s.revision
        cached = hub_download(s.repo_id, s.filename, s.revision)
        digests = copy_verified(cached, s.path, s.sha256, s.md5, progress)
    else:
        assert s.url
        digests = download_url(s.url, s.path, s.sha256, s.md5, timeout, progress)
    done = f"fetched ({digests.size} bytes, sha256 {digests.sha256})"
    if s.convert:
        done += "; " + _convert(s, digests)
    return done


def _unpack(source: DataSource, archive: Path, digests: Digests, keep: bool) -> str:
    files = unpack(archive, source.unpack or "", source.path, source.strip_components)
    os.sync()  # the unpacked files reach the disk before the stamp that vouches for them
    stamp = {"source": identity(source), "sha256": digests.sha256, "md5": digests.md5, "files": files}
    atomic_write_json(stamp_path(source), stamp)
    if not keep:
        remove_file(archive)
    return f"unpacked {len(files)} files (archive sha256 {digests.sha256})"


def _convert(source: DataSource, digests: Digests) -> str:
    from monkeyeval.convert.vlmevalkit import convert_tsv

    result = convert_tsv(source.path, source.path.parent, dataset=source.path.stem)
    atomic_write_json(
        stamp_path(source),
        {"source": identity(source), "input_sha256": digests.sha256, "jsonl_sha256": result.sha256},
    )
    return f"converted {result.n_rows} rows -> {result.jsonl.name} (sha256 {result.sha256})"


def _failure(item: PullItem, reason: str) -> str:
    return (
        f"{item.label} ({item.tasks_text()}): {reason}. By hand: fetch {item.where_from()} and "
        f"{item.where_to()}"
    )


def pull(
    tasks: Sequence[TaskConfig],
    dry_run: bool = False,
    timeout: float = DEFAULT_TIMEOUT_S,
    progress: Progress | None = None,
) -> PullReport:
    """Fetch what `tasks` need (or, `dry_run`, only say what would be fetched); the report of every item.

    Failures do not stop the others; `raise_failures` turns them into one DataPullError.
    """
    items, unsourced = plan_items(tasks)
    by_name = {task.name: task for task in tasks}
    report = PullReport(unsourced=unsourced)
    for name in unsourced:
        problems = task_file_problems(by_name[name], verify_sha256=False)
        if problems:
            listed = ", ".join(str(p.path) for p in problems)
            report.failures.append(
                f"task {name} ({by_name[name].source}) has no `sources` in its YAML and lacks {listed}: "
                "fetch them by hand (or add `sources:` to the YAML)"
            )
    for item in items:
        in_place = all(not task_file_problems(by_name[n], verify_sha256=False) for n in item.tasks)
        try:
            found = assess(item, in_place, progress)
        except OSError as exc:
            found = _Assessment("missing", f"cannot read the file ({exc})", fetch=True)
        if found.state == "manual" or (found.state == "mismatch" and item.source.kind == "manual"):
            report.results.append(ItemResult(item, "manual", found.detail))
            report.failures.append(_failure(item, found.detail))
            continue
        if not (found.fetch or found.convert):
            report.results.append(ItemResult(item, found.state, found.detail))
            continue
        if dry_run:
            step = "would fetch" if found.fetch else "would convert"
            report.results.append(ItemResult(item, step, f"{found.detail}; from {item.where_from()}"))
            continue
        try:
            if found.fetch:
                done = _fetch(item, timeout, progress)
            else:
                assert found.digests is not None
                done = _convert(item.source, found.digests)
        except (FetchError, UnpackError, UserError, OSError) as exc:
            report.results.append(ItemResult(item, "failed", str(exc)))
            report.failures.append(_failure(item, str(exc)))
            continue
        report.results.append(ItemResult(item, "fetched", done))
    if not dry_run:
        report.failures.extend(_still_missing(report, items, by_name))
    return report


def _still_missing(report: PullReport, items: list[PullItem], by_name: dict[str, TaskConfig]) -> list[str]:
    """Files tasks still lack although none of their sources failed (an archive laid out differently, or
    one that does not hold every file its tasks read)."""
    failed = {name for r in report.results if r.action in ("failed", "manual") for name in r.item.tasks}
    failures = []
    for name, task in by_name.items():
        if not task.sources or name in failed:
            continue
        problems = task_file_problems(task, verify_sha256=False)
        if not problems:
            continue
        listed = ", ".join(str(p.path) for p in problems[:3]) + (" ..." if len(problems) > 3 else "")
        mine = [item for item in items if name in item.tasks]
        hint = ""
        archives = [item for item in mine if item.source.unpack]
        if archives:
            tops = _archive_tops(archives[0])
            hint = (
                f"; {archives[0].label}'s top-level entries are {', '.join(tops) or '(none)'}: if they add a "
                "folder above the task's paths, set `strip_components: 1` on the source, else the archive "
                "lacks these files"
            )
        labels = ", ".join(item.label for item in mine)
        failures.append(
            f"task {name} still lacks {listed} although its sources ({labels}) are in place{hint} "
            f"({task.source})"
        )
    return failures


def _archive_tops(item: PullItem) -> list[str]:
    """The first path parts of the files the archive's stamp lists."""
    files = (_read_stamp(stamp_path(item.source)) or {}).get("files")
    return list(dict.fromkeys(rel.split("/")[0] for rel in files))[:8] if isinstance(files, dict) else []


def raise_failures(report: PullReport, data_root: Path, names: str) -> None:
    """One DataPullError listing every failure, with what to do, when there is any."""
    if not report.failures:
        return
    listed = "\n  - ".join(report.failures)
    raise DataPullError(
        f"{len(report.failures)} data source(s) could not be fetched or verified (data root {data_root}):\n"
        f"  - {listed}\n"
        f"Put each file where shown, or rerun `monkeyeval data pull {names} --data-root {data_root}` with "
        "network access (hub files: unset HF_HUB_OFFLINE, or point HF_HUB_CACHE at a cache holding them); "
        f"`monkeyeval data check {names} --data-root {data_root}` then confirms every file is in place."
    )
