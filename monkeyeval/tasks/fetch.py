"""Getting one file: plain HTTP(S) downloads, Hugging Face hub files, hashing and atomic placement.

Downloads stream to a temp file beside the target, are fsynced and hashed as they arrive, and are renamed
into place only once they match the expected hashes: a target path never holds a partial or wrong file.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol
from urllib.parse import quote

from monkeyeval.core.atomic import atomic_writer

CHUNK = 1 << 20
DEFAULT_TIMEOUT_S = 60.0
USER_AGENT = "monkeyeval-data-pull"


class FetchError(Exception):
    """One file could not be fetched or verified; the message says why (the caller names the file)."""


class Progress(Protocol):
    """Where byte counts go while a file is read (a rich bar on a TTY; nothing in tests)."""

    def start(self, label: str, total: int | None) -> None: ...

    def advance(self, n_bytes: int) -> None: ...

    def finish(self) -> None: ...


@dataclass(frozen=True)
class Digests:
    """sha256 and md5 of a file's bytes (hex), computed in one pass."""

    sha256: str
    md5: str
    size: int

    def mismatch(self, sha256: str | None, md5: str | None) -> str | None:
        """What differs from the expected hashes (None when every known hash matches)."""
        if sha256 is not None and self.sha256 != sha256:
            return f"sha256 {self.sha256}, expected {sha256}"
        if md5 is not None and self.md5 != md5:
            return f"md5 {self.md5}, expected {md5}"
        return None


class _Hasher:
    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def update(self, block: bytes) -> None:
        self.sha256.update(block)
        self.md5.update(block)
        self.size += len(block)

    def digests(self) -> Digests:
        return Digests(self.sha256.hexdigest(), self.md5.hexdigest(), self.size)


def file_digests(path: Path, progress: Progress | None = None) -> Digests:
    """sha256 + md5 of `path`."""
    hasher = _Hasher()
    if progress is not None:
        progress.start(f"verifying {path.name}", path.stat().st_size)
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(CHUNK), b""):
                hasher.update(block)
                if progress is not None:
                    progress.advance(len(block))
    finally:
        if progress is not None:
            progress.finish()
    return hasher.digests()


def _stream_into_place(
    reader: Callable[[int], bytes],
    target: Path,
    expected: tuple[str | None, str | None],
    label: str,
    total: int | None,
    progress: Progress | None,
) -> Digests:
    """Copy `reader`'s bytes to a temp file beside `target`, verify, fsync, rename; the digests."""
    hasher = _Hasher()
    if progress is not None:
        progress.start(label, total)
    try:
        with atomic_writer(target, suffix=".part") as handle:
            for block in iter(lambda: reader(CHUNK), b""):
                handle.write(block)
                hasher.update(block)
                if progress is not None:
                    progress.advance(len(block))
            digests = hasher.digests()
            if total is not None and digests.size != total:
                raise FetchError(
                    f"transfer cut short: got {digests.size} of {total} bytes; run the pull again"
                )
            wrong = digests.mismatch(*expected)
            if wrong is not None:
                raise FetchError(f"the fetched file has {wrong}: another version, or a corrupted download")
    finally:
        if progress is not None:
            progress.finish()
    return digests


def download_url(
    url: str,
    target: Path,
    sha256: str | None = None,
    md5: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    progress: Progress | None = None,
) -> Digests:
    """GET `url` into `target` (atomic, verified). FetchError on any network, HTTP or hash problem."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        response: IO[bytes] = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"the server answered HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise FetchError(f"cannot reach it ({exc.reason})") from None
    except (TimeoutError, OSError, ValueError) as exc:
        raise FetchError(f"cannot reach it ({exc})") from None
    with response:
        content_type = (getattr(response, "headers", None) or {}).get("Content-Type", "") or ""
        if content_type.startswith("text/html") and not target.name.endswith((".html", ".htm")):
            raise FetchError(
                "the server answered with an HTML page, not the file (a login, quota or confirmation page?); "
                "open the URL in a browser"
            )
        length = (getattr(response, "headers", None) or {}).get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        try:
            return _stream_into_place(
                response.read, target, (sha256, md5), f"fetching {target.name}", total, progress
            )
        except (TimeoutError, OSError) as exc:
            raise FetchError(f"download interrupted ({exc}); run the pull again") from None


def copy_verified(
    source: Path, target: Path, sha256: str | None, md5: str | None, progress: Progress | None = None
) -> Digests:
    """Copy a local file (e.g. from the hub cache) to `target`, atomically and verified."""
    with open(source, "rb") as handle:
        return _stream_into_place(
            handle.read, target, (sha256, md5), f"copying {target.name}", source.stat().st_size, progress
        )


def hub_cache_dir() -> str | None:
    """The hub cache the environment names now ($HF_HUB_CACHE, else $HF_HOME/hub; None: the library's)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return str(Path(os.environ["HF_HOME"]) / "hub")
    return None


def hub_offline() -> bool:
    """$HF_HUB_OFFLINE (or $TRANSFORMERS_OFFLINE) as set now, read per call rather than at import."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_url(repo_id: str, filename: str, revision: str) -> str:
    """The browser/curl download URL of a hub dataset file."""
    return f"https://huggingface.co/datasets/{repo_id}/resolve/{revision}/{quote(filename)}"


def hub_download(repo_id: str, filename: str, revision: str) -> Path:
    """The local path of a hub dataset file (from the cache, or downloaded into it); else FetchError."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
    )

    offline = hub_offline()
    try:
        path = hf_hub_download(
            repo_id,
            filename,
            repo_type="dataset",
            revision=revision,
            cache_dir=hub_cache_dir(),
            local_files_only=offline,
        )
    except LocalEntryNotFoundError:
        where = hub_cache_dir() or "the default hub cache"
        why = "HF_HUB_OFFLINE is set" if offline else "the hub cannot be reached"
        raise FetchError(f"{why} and the file is not in the hub cache ({where})") from None
    except EntryNotFoundError:
        raise FetchError(f"the hub dataset has no file {filename!r} at revision {revision}") from None
    except (HfHubHTTPError, HFValidationError, OSError, ValueError) as exc:
        raise FetchError(f"the hub download failed ({type(exc).__name__}: {exc})") from None
    return Path(path)
