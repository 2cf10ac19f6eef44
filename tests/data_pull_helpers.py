"""Small offline fixtures for the `data pull` tests: archives, task folders, a fake hub cache, a local HTTP
server (127.0.0.1, port 0, in a thread) and a CLI runner."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import stat
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from typer.testing import CliRunner

from monkeyeval.cli.app import build_app

COMMIT = "0123456789abcdef0123456789abcdef01234567"
JSONL = b'{"question_id": 1, "image": "a.png", "question": "q?", "answer": "a"}\n'
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5_of(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def zip_bytes(members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    """A zip holding `members` (name -> bytes) and, optionally, symlink entries (name -> target)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def tar_gz_bytes(members: dict[str, bytes]) -> bytes:
    """A .tar.gz holding `members`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def write_task(tasks: Path, name: str, dataset: str, sources: str, group: str = "g") -> Path:
    """A task YAML `name` in `tasks/` with the given `dataset:` body and `sources:` block (YAML text)."""
    tasks.mkdir(parents=True, exist_ok=True)
    path = tasks / f"{name}.yaml"
    path.write_text(
        f"task: {name}\ngroup: {group}\ndataset:\n{dataset}\nmetric: exact_match_qwen\nmax_new_tokens: 4\n"
        f"{sources}\n",
        encoding="utf-8",
    )
    return path


def fake_hub_cache(cache: Path, repo_id: str, files: dict[str, bytes], branch: str = "main") -> Path:
    """The hub cache layout huggingface_hub reads offline: datasets--org--name/snapshots/<commit>/<file>
    and refs/<branch> naming the commit."""
    repo = cache / f"datasets--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    for name, data in files.items():
        (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
        (snapshot / name).write_bytes(data)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / branch).write_text(COMMIT, encoding="ascii")
    return snapshot


@dataclass
class Served:
    """A running local HTTP server: its base URL and the paths it was asked for."""

    url: str
    requests: list[str] = field(default_factory=list)


class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(folder: Path) -> Iterator[Served]:
    """Serve `folder` over HTTP on 127.0.0.1 (a free port) while the block runs."""
    handler = functools.partial(_Handler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    served = Served(f"http://127.0.0.1:{server.server_address[1]}")
    server.requests = served.requests  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run the CLI; (exit code, stdout + stderr)."""
    result = CliRunner().invoke(build_app(), list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def pull_json(*args: str) -> tuple[int, dict[str, str], str]:
    """`data pull ARGS --json`: (exit code, {file: action}, stderr)."""
    result = CliRunner().invoke(build_app(), ["data", "pull", *args, "--json"], catch_exceptions=False)
    actions = {row["file"]: row["action"] for row in json.loads(result.stdout)}
    return result.exit_code, actions, result.stderr
