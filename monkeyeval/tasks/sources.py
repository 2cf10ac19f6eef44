"""The `sources:` key of a task YAML -> validated `DataSource`s (where each data file comes from).

Every error names the file and the entry (`sources[1].sha256`) and says what to write instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from monkeyeval.tasks.config import DataSource
from monkeyeval.tasks.yaml_source import RawTask, TaskConfigError, did_you_mean

SOURCE_KEYS = (
    "kind",
    "repo_id",
    "revision",
    "filename",
    "url",
    "dest",
    "sha256",
    "md5",
    "unpack",
    "strip_components",
    "convert",
    "note",
)
KINDS = ("hub", "url", "manual")
UNPACK_CHOICES = ("zip", "tar")
CONVERT_CHOICES = ("vlmevalkit_tsv",)
URL_SCHEMES = ("http", "https", "file")
REPO_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*$")
HEX_LENGTHS = {"sha256": 64, "md5": 32}
FailFn = Callable[[str | None, str], TaskConfigError]
"""`fail(key, message)`: the located error for one key of one entry."""
_NOT_FOR_KIND = {
    "hub": ("url",),
    "url": ("repo_id", "revision"),
    "manual": ("repo_id", "revision", "filename", "unpack", "convert", "strip_components"),
}


def parse_sources(raw: RawTask, data_root: Path, relative_to: str) -> tuple[DataSource, ...] | None:
    """`raw.values["sources"]` -> DataSources (None when the key is absent; `[]` gives an empty tuple).

    `dest` resolves against `data_root`, or against the folder of the YAML that wrote `sources` when the
    dataset is `relative_to: yaml_dir`.
    """
    if "sources" not in raw.values:
        return None
    entries = raw.values["sources"]
    if entries is None:
        return None
    if not isinstance(entries, list):
        raise raw.error(
            "sources", f"expected a list of source mappings (- kind: hub|url|manual ...), got {entries!r}"
        )
    origin = raw.origin("sources")
    base = origin.file.parent if relative_to == "yaml_dir" else data_root
    parsed = tuple(_entry(raw, i, entry, base, origin.where()) for i, entry in enumerate(entries))
    seen: dict[Path, int] = {}
    for i, source in enumerate(parsed):
        if source.unpack is None and source.path in seen:
            raise raw.error(
                "sources", f"sources[{i}].dest: {source.dest!r} is also sources[{seen[source.path]}]'s dest"
            )
        seen.setdefault(source.path, i)
    return parsed


def _entry(raw: RawTask, i: int, entry: Any, base: Path, origin: str) -> DataSource:
    where = f"sources[{i}]"

    def fail(key: str | None, message: str) -> TaskConfigError:
        return raw.error("sources", f"{where}{'.' + key if key else ''}: {message}")

    if not isinstance(entry, dict):
        raise fail(None, f"expected a mapping (kind, dest, ...), got {entry!r}")
    for key in entry:
        if key not in SOURCE_KEYS:
            raise fail(
                str(key), f"unknown key{did_you_mean(str(key), SOURCE_KEYS)}; known: {', '.join(SOURCE_KEYS)}"
            )

    def text(key: str, required: bool = False) -> str | None:
        value = entry.get(key)
        if value is None:
            if required:
                raise fail(key, f"missing required key '{key}' for kind {entry.get('kind')!r}")
            return None
        if not isinstance(value, str) or not value.strip():
            raise fail(key, f"expected a non-empty string, got {value!r}")
        return value.strip()

    kind = text("kind")
    if kind not in KINDS:
        raise fail("kind", f"must be one of {', '.join(KINDS)}, got {kind!r}{did_you_mean(str(kind), KINDS)}")
    for key in _NOT_FOR_KIND[kind]:
        if entry.get(key) is not None:
            raise fail(key, f"not used by kind {kind!r}; remove it")
    repo_id = text("repo_id", required=kind == "hub")
    if repo_id is not None and not REPO_ID_RE.match(repo_id):
        raise fail("repo_id", f"expected a hub dataset id 'owner/name', got {repo_id!r}")
    url = text("url", required=kind in ("url", "manual"))
    if url is not None:
        _check_url(fail, url, kind)
    filename = text("filename", required=kind == "hub")
    if kind == "url" and filename is None and url is not None:
        filename = urlsplit(url).path.rpartition("/")[2] or None
    if filename is not None and (filename.startswith("/") or ".." in PurePosixPath(filename).parts):
        raise fail("filename", f"expected a path inside the repository, got {filename!r}")
    unpack = _choice(fail, entry, "unpack", UNPACK_CHOICES)
    convert = _choice(fail, entry, "convert", CONVERT_CHOICES)
    if unpack and convert:
        raise fail("convert", "a source is either unpacked (an archive) or converted (a TSV), not both")
    strip = entry.get("strip_components", 0)
    if not isinstance(strip, int) or isinstance(strip, bool) or strip < 0:
        raise fail("strip_components", f"expected a non-negative integer, got {strip!r}")
    if strip and not unpack:
        raise fail("strip_components", "only applies to archives: set 'unpack: zip' or 'unpack: tar'")
    dest = text("dest", required=kind == "manual" or not unpack) or "."
    if kind == "url" and filename is None:
        if unpack:
            raise fail("filename", f"the URL {url!r} names no file: give the archive's name as 'filename'")
        filename = PurePosixPath(dest).name
    dest_path = _resolve_dest(fail, dest, base)
    hashes = {key: _hex(fail, entry, key) for key in HEX_LENGTHS}
    note = text("note") or ""
    return DataSource(
        kind=kind,
        dest=dest,
        path=dest_path,
        repo_id=repo_id,
        revision=text("revision") or ("main" if kind == "hub" else None),
        filename=filename,
        url=url,
        sha256=hashes["sha256"],
        md5=hashes["md5"],
        unpack=unpack,
        strip_components=strip,
        convert=convert,
        note=note,
        origin=origin,
    )


def _check_url(fail: FailFn, url: str, kind: str) -> None:
    parts = urlsplit(url)
    schemes = URL_SCHEMES if kind == "url" else ("http", "https")
    if parts.scheme not in schemes or not (parts.netloc or parts.scheme == "file"):
        raise fail("url", f"expected an {'/'.join(schemes)} URL, got {url!r}")


def _choice(fail: FailFn, entry: dict[str, Any], key: str, choices: tuple[str, ...]) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if value not in choices:
        raise fail(
            key, f"must be one of {', '.join(choices)}, got {value!r}{did_you_mean(str(value), choices)}"
        )
    return str(value)


def _hex(fail: FailFn, entry: dict[str, Any], key: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    length = HEX_LENGTHS[key]
    if not isinstance(value, str) or not re.fullmatch(f"[0-9a-fA-F]{{{length}}}", value):
        raise fail(
            key,
            f"expected {length} hex digits (the {key} of the fetched file), got {value!r}; leave it out "
            "when it is not known",
        )
    return value.lower()


def _resolve_dest(fail: FailFn, dest: str, base: Path) -> Path:
    given = PurePosixPath(dest)
    if given.is_absolute() or Path(dest).expanduser().is_absolute() or dest.startswith("~"):
        raise fail("dest", f"must be relative to the data root, got the absolute path {dest!r}")
    if ".." in given.parts:
        raise fail("dest", f"must stay inside the data root ('..' not allowed), got {dest!r}")
    return (base / given).resolve()
