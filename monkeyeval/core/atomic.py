"""Crash-safe file writes: atomic replace for whole files, flushed appends for per-sample logs.

Text policy: every file is UTF-8. A lone surrogate (text that is not valid Unicode, e.g. a `"\\ud800"` escape
in a dataset) cannot be encoded, so it is written as its escape `\\udXXX`: inside JSON that is the standard
escape and reads back as the same string; elsewhere it shows as text. Readers decode only complete lines,
so a line torn inside a multi-byte character is dropped like any torn line.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from monkeyeval.core import jsontext


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically: temp file in the same folder, fsync, rename, fsync the folder.

    The file gets the mode a plain `open(path, "w")` would give (0o666 minus the umask: 0644 under the
    usual 022), so teammates sharing a results folder can read it.
    """
    with atomic_writer(path) as handle:
        handle.write(data)


@contextmanager
def atomic_writer(path: Path, suffix: str = ".tmp", durable: bool = True) -> Iterator[IO[bytes]]:
    """A binary handle on a temp file beside `path` (mode 0o666 minus the umask). A clean exit renames it
    over `path`, after fsyncing it and before fsyncing the folder when `durable`; an exception removes it,
    so `path` is never seen half written. `durable=False` is for many files a later check re-verifies
    (unpacked archive members)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as handle:
            yield handle
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        _fsync_dir(path.parent)


def remove_file(path: Path) -> None:
    """Delete `path` durably (the folder is fsynced); nothing happens when it does not exist."""
    path = Path(path)
    try:
        path.unlink()
    except FileNotFoundError:
        return
    _fsync_dir(path.parent)


def current_umask() -> int:
    """The process umask, read without changing it where /proc allows (os.umask only sets and returns)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UNENCODABLE = "backslashreplace"  # lone surrogates become their \\uXXXX escape (see the module docstring)


def utf8(text: str) -> bytes:
    """`text` as UTF-8 under the module's policy (lone surrogates as their escape); for files and hashes."""
    return text.encode("utf-8", errors=UNENCODABLE)


def atomic_write_text(path: Path, text: str) -> None:
    """Atomic UTF-8 text write (see `atomic_write_bytes`)."""
    atomic_write_bytes(path, utf8(text))


def atomic_write_json(path: Path, obj: Any) -> None:
    """Atomic JSON write, pretty-printed, non-ASCII kept."""
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def atomic_write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Atomic JSON-lines write."""
    atomic_write_text(path, "".join(json_line(row) for row in rows))


def _line_encoder() -> Callable[[Any], str]:
    """`json.dumps(obj, ensure_ascii=False, separators=(",", ":"))` as one prebuilt function.

    `JSONEncoder.encode` builds its C encoder anew on every call, which costs a third of encoding a
    predictions line; this builds the same C encoder once (without the circular-reference check: the rows
    are trees), falling back to `encode` where the C accelerator is absent.
    """
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)
    make_c_encoder = getattr(json.encoder, "c_make_encoder", None)
    if make_c_encoder is None:
        return encoder.encode
    c_encoder = make_c_encoder(
        None, encoder.default, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
    return lambda obj: "".join(c_encoder(obj, 0))


_ENCODE_LINE = _line_encoder()


def json_line(obj: dict[str, Any]) -> str:
    """One compact JSON line, newline-terminated (the byte format of every jsonl we write).

    The bytes of `json.dumps(obj, ensure_ascii=False, separators=(",", ":"))`.
    """
    return _ENCODE_LINE(obj) + "\n"


class JsonlAppender:
    """Append-only JSON-lines writer that flushes and fsyncs after each `append_many` call.

    A process killed mid-write can leave at most one partial last line; `read_jsonl_tolerant` drops it.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _truncate_partial_last_line(self.path)
        self._handle: IO[str] = open(self.path, "a", encoding="utf-8", errors=UNENCODABLE)  # noqa: SIM115

    def append_many(self, rows: Iterable[dict[str, Any]]) -> None:
        """Append rows, then flush and fsync so they survive a SIGKILL."""
        for row in rows:
            self._handle.write(json_line(row))
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        """Close the file."""
        self._handle.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_jsonl_tolerant(path: Path) -> list[dict[str, Any]]:
    """Read a jsonl file written by `JsonlAppender`, ignoring a partial (unterminated) last line."""
    path = Path(path)
    if not path.exists():
        return []
    complete = complete_lines(path.read_bytes())
    return [jsontext.loads(line.decode("utf-8")) for line in complete.split(b"\n") if line.strip()]


def complete_lines(data: bytes) -> bytes:
    """`data` up to and including its last newline: without the torn line a killed writer may leave."""
    return data[: data.rfind(b"\n") + 1]


def _truncate_partial_last_line(path: Path) -> None:
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as handle:
        data = handle.read()
        if data.endswith(b"\n"):
            return
        handle.truncate(len(complete_lines(data)))
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
