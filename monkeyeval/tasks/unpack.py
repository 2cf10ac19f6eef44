"""Safe archive unpacking (zip, tar[.gz|.bz2|.xz]) into a destination folder.

Every member is checked before anything is written: an absolute name, a `..` part, a symlink, a device or
a hard link to something outside the archive refuses the whole archive. Files are written to a temp name
and renamed into place, so an interrupted unpack leaves whole files only (and no stamp: `data pull`
unpacks again).
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from monkeyeval.core.atomic import atomic_writer

OpenMember = Callable[["Member"], AbstractContextManager[IO[bytes]]]
"""`open(member)`: a context manager giving the member's bytes."""


class UnpackError(Exception):
    """The archive is unsafe or unreadable; the message names the member."""


@dataclass(frozen=True)
class Member:
    """One archive entry after checks: its path below the destination and what it is."""

    name: str  # as stored in the archive
    rel: PurePosixPath  # after strip_components
    kind: str  # "file", "dir" or "link" (a tar hard link: a copy of `link_to`)
    size: int
    link_to: PurePosixPath | None = None


def safe_relative(name: str, strip_components: int = 0) -> PurePosixPath | None:
    """The member's path below the destination (None: stripped away). UnpackError when it would escape."""
    if "\x00" in name:
        raise UnpackError(f"member {name!r} has a NUL byte in its name")
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith("\\") or (len(name) > 1 and name[1] == ":"):
        raise UnpackError(f"member {name!r} has an absolute path")
    parts = [part for part in path.parts if part not in ("", ".")]
    if ".." in parts:
        raise UnpackError(f"member {name!r} leaves the destination through '..'")
    parts = parts[strip_components:]
    return PurePosixPath(*parts) if parts else None


def unpack(archive: Path, kind: str, dest: Path, strip_components: int = 0) -> dict[str, int]:
    """Unpack `archive` into `dest`; returns {relative path: size} of the files written."""
    with _opened(archive, kind, strip_components) as (members, read):
        written: dict[str, int] = {}
        dest.mkdir(parents=True, exist_ok=True)
        for member in members:
            target = dest.joinpath(*member.rel.parts)
            if member.kind == "dir":
                if target.exists() and not target.is_dir():
                    raise UnpackError(f"member {member.name!r}: {target} exists and is not a folder")
                target.mkdir(parents=True, exist_ok=True)
                continue
            if target.is_dir() and not target.is_symlink():
                raise UnpackError(
                    f"member {member.name!r}: {target} is a folder, the archive holds a file there"
                )
            if member.kind == "link":
                assert member.link_to is not None
                _copy_into_place(dest.joinpath(*member.link_to.parts), target)
            else:
                with read(member) as stream:
                    _write_into_place(stream, target)
            written[member.rel.as_posix()] = member.size
    return written


def _write_into_place(stream: IO[bytes], target: Path) -> None:
    with atomic_writer(target, suffix=".unpack", durable=False) as handle:  # the stamp re-verifies sizes
        shutil.copyfileobj(stream, handle, 1 << 20)


def _copy_into_place(source: Path, target: Path) -> None:
    with open(source, "rb") as stream:
        _write_into_place(stream, target)


@contextmanager
def _opened(archive: Path, kind: str, strip_components: int = 0) -> Iterator[tuple[list[Member], OpenMember]]:
    """(checked members, open(member) -> binary stream) for a zip or tar archive."""
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as zipped:
                members = [
                    m for m in (_zip_member(info, strip_components) for info in zipped.infolist()) if m
                ]
                zip_infos = {info.filename: info for info in zipped.infolist()}
                yield members, lambda member: zipped.open(zip_infos[member.name])
        elif kind == "tar":
            with tarfile.open(archive, "r:*") as tarred:
                infos = tarred.getmembers()
                members = _tar_members(infos, strip_components)
                tar_infos = {info.name: info for info in infos}

                @contextmanager
                def read(member: Member) -> Iterator[IO[bytes]]:
                    stream = tarred.extractfile(tar_infos[member.name])
                    if stream is None:
                        raise UnpackError(f"member {member.name!r} cannot be read")
                    with stream:
                        yield stream

                yield members, read
        else:
            raise UnpackError(f"unknown archive kind {kind!r} (zip or tar)")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise UnpackError(f"{archive.name} is not a readable {kind} archive ({exc})") from None


def _zip_member(info: zipfile.ZipInfo, strip_components: int) -> Member | None:
    mode = info.external_attr >> 16  # Unix mode when the zip was made on Unix (type bits may be 0)
    file_type = stat.S_IFMT(mode)
    if file_type == stat.S_IFLNK:
        raise UnpackError(f"member {info.filename!r} is a symbolic link; archives with links are refused")
    if file_type not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise UnpackError(f"member {info.filename!r} is not a file or folder (mode {oct(mode)})")
    rel = safe_relative(info.filename, strip_components)
    if rel is None:
        return None
    kind = "dir" if info.is_dir() else "file"
    return Member(info.filename, rel, kind, 0 if kind == "dir" else info.file_size)


def _tar_members(infos: list[tarfile.TarInfo], strip_components: int) -> list[Member]:
    members: list[Member] = []
    files: dict[str, Member] = {}
    for info in infos:
        if info.issym():
            raise UnpackError(f"member {info.name!r} is a symbolic link; archives with links are refused")
        if not (info.isfile() or info.isdir() or info.islnk()):
            raise UnpackError(
                f"member {info.name!r} is not a file or folder (a device, FIFO or special entry)"
            )
        rel = safe_relative(info.name, strip_components)
        if rel is None:
            continue
        if info.islnk():
            target = files.get(PurePosixPath(info.linkname).as_posix())
            if target is None:
                raise UnpackError(
                    f"member {info.name!r} is a hard link to {info.linkname!r}, not an earlier file"
                )
            member = Member(info.name, rel, "link", target.size, link_to=target.rel)
        else:
            member = Member(
                info.name, rel, "dir" if info.isdir() else "file", info.size if info.isfile() else 0
            )
        members.append(member)
        if member.kind != "dir":
            files[PurePosixPath(info.name).as_posix()] = member
    return members
