"""Atomic writes and flushed appends survive crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from monkeyeval.core.atomic import (
    JsonlAppender,
    atomic_write_json,
    atomic_write_text,
    json_line,
    read_jsonl_tolerant,
)


def test_atomic_write_replaces_content_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "scores.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2, "é": "ü"})
    assert json.loads(target.read_text(encoding="utf-8")) == {"a": 2, "é": "ü"}
    assert sorted(p.name for p in target.parent.iterdir()) == ["scores.json"]


def test_failed_write_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "scores.json"
    atomic_write_text(target, "old")

    def explode(src: str, dst: str) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", explode)
    with pytest.raises(OSError, match="disk gone"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.json"]


def test_killed_writer_never_leaves_a_torn_file(tmp_path: Path) -> None:
    """A writer SIGKILLed while rewriting a big file in a loop leaves a whole old or a whole new file."""
    target = tmp_path / "big.json"
    atomic_write_text(target, "A" * 2_000_000)
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from monkeyeval.core.atomic import atomic_write_text
        i = 0
        while True:
            atomic_write_text(Path({str(target)!r}), chr(ord("B") + i % 20) * 2_000_000)
            i += 1
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        proc.wait(timeout=1.5)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    content = target.read_text()
    assert len(content) == 2_000_000
    assert len(set(content)) == 1


def test_appender_flushes_and_reader_drops_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "part.jsonl"
    with JsonlAppender(path) as out:
        out.append_many([{"i": 0}, {"i": 1}])
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"i": 2, "partial')  # a write cut by SIGKILL
    assert read_jsonl_tolerant(path) == [{"i": 0}, {"i": 1}]
    # Re-opening for append first removes the torn tail, so nothing is duplicated or corrupted.
    with JsonlAppender(path) as out:
        out.append_many([{"i": 2}])
    assert read_jsonl_tolerant(path) == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert path.read_text(encoding="utf-8") == "".join(json_line({"i": i}) for i in range(3))


def test_reader_of_missing_file_is_empty(tmp_path: Path) -> None:
    assert read_jsonl_tolerant(tmp_path / "nope.jsonl") == []


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_written_files_honour_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    """Atomic writes and appends get 0o666 minus the umask, like a plain open() (a subprocess: the umask is
    process-wide)."""
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from monkeyeval.core.atomic import JsonlAppender, atomic_write_json, current_umask
        os.umask({umask})
        assert current_umask() == {umask}
        atomic_write_json(Path({str(tmp_path / "scores.json")!r}), {{"a": 1}})
        with JsonlAppender(Path({str(tmp_path / "part.jsonl")!r})) as out:
            out.append_many([{{"i": 0}}])
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes == {"scores.json": mode, "part.jsonl": mode}


def test_lone_surrogates_are_written_as_json_escapes_and_read_back(tmp_path: Path):
    text = "bad \ud800 text, good 文字"
    with JsonlAppender(tmp_path / "p.jsonl") as writer:
        writer.append_many([{"prediction": text}])
    raw = (tmp_path / "p.jsonl").read_bytes()
    assert b"\\ud800" in raw and "文字".encode() in raw  # valid UTF-8, non-ASCII kept
    assert read_jsonl_tolerant(tmp_path / "p.jsonl") == [{"prediction": text}]
    atomic_write_json(tmp_path / "s.json", {"id": text})
    assert json.loads((tmp_path / "s.json").read_text(encoding="utf-8")) == {"id": text}


def test_a_line_torn_inside_a_multibyte_character_is_dropped(tmp_path: Path):
    path = tmp_path / "p.jsonl"
    whole = json_line({"a": "文字"}).encode("utf-8")
    path.write_bytes(whole + json_line({"b": "文字"}).encode("utf-8")[:-4])  # cut inside 字
    assert read_jsonl_tolerant(path) == [{"a": "文字"}]
    with JsonlAppender(path) as writer:  # the appender cuts the torn tail before appending
        writer.append_many([{"c": 1}])
    assert read_jsonl_tolerant(path) == [{"a": "文字"}, {"c": 1}]


@pytest.mark.parametrize(
    "row",
    [
        {"index": 3, "id": "a/1", "prediction": '文字 "quoted"\n\t', "answers": ["x", "y"], "score": 0.5},
        {"score": float("nan"), "low": float("-inf"), "high": float("inf"), "tiny": 1e-300, "third": 1 / 3},
        {"big": 12345678901234567890123, "neg": -0, "flag": True, "none": None, "nested": {"a": [[], {}]}},
        {"surrogate": "\ud800", "emoji": "🐒", "control": "\x00\x1f\x7f", "key with space": ""},
        {},
    ],
)
def test_json_line_is_json_dumps(row):
    assert json_line(row) == json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"
