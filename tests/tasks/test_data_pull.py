"""`monkeyeval data pull` from a local hub cache (HF_HUB_OFFLINE), with no network at all, and `data check`'s
source hash checks and pull hints. Everything is offline: the data is made by the tests."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from data_pull_helpers import (
    COMMIT,
    JSONL,
    PNG,
    fake_hub_cache,
    invoke,
    md5_of,
    pull_json,
    sha256_of,
    write_task,
    zip_bytes,
)

REPO = "org/testdata"


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An offline hub cache in tmp_path (HF_HUB_OFFLINE=1, HF_HUB_CACHE pointing at it)."""
    cache = tmp_path / "hub-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


def hub_tasks(tmp_path: Path, archive_sha256: str, file_sha256: str) -> Path:
    """Task `zipped` (a hub zip unpacked into the data root, pinned to COMMIT) and `plain` (a hub file at
    revision main, copied to data/plain.jsonl)."""
    tasks = tmp_path / "tasks"
    write_task(
        tasks,
        "zipped",
        "  jsonl: data/z/test.jsonl\n  image_root: data/z",
        f"sources:\n  - kind: hub\n    repo_id: {REPO}\n    revision: {COMMIT}\n    filename: z.zip\n"
        f"    sha256: {archive_sha256}\n    unpack: zip\n    dest: .",
    )
    write_task(
        tasks,
        "plain",
        "  jsonl: data/plain.jsonl\n  image_root: data/z",
        f"sources:\n  - kind: hub\n    repo_id: {REPO}\n    filename: sub/plain.jsonl\n"
        f"    sha256: {file_sha256}\n    dest: data/plain.jsonl",
    )
    return tasks


def test_pull_from_a_local_hub_cache_lays_out_verifies_and_is_idempotent(tmp_path: Path, hub: Path) -> None:
    archive = zip_bytes({"data/z/test.jsonl": JSONL, "data/z/a.png": PNG})
    fake_hub_cache(hub, REPO, {"z.zip": archive, "sub/plain.jsonl": JSONL})
    tasks = hub_tasks(tmp_path, sha256_of(archive), sha256_of(JSONL))
    root = tmp_path / "root"
    args = ("g", "--tasks-dir", str(tasks), "--data-root", str(root))

    code, out = invoke("data", "check", *args)
    assert code == 2 and "monkeyeval data pull plain,zipped --data-root" in out

    code, actions, err = pull_json(*args)
    assert code == 0, err
    assert actions == {"z.zip": "fetched", "sub/plain.jsonl": "fetched"}
    assert (root / "data/z/test.jsonl").read_bytes() == JSONL
    assert (root / "data/z/a.png").read_bytes() == PNG
    assert (root / "data/plain.jsonl").read_bytes() == JSONL
    stamp = json.loads((root / ".monkeyeval-pull/z.zip.json").read_text())
    assert stamp["sha256"] == sha256_of(archive)
    assert stamp["files"] == {"data/z/test.jsonl": len(JSONL), "data/z/a.png": len(PNG)}
    assert not list(root.rglob("*.part")) and not list(root.rglob("*.unpack"))
    assert invoke("data", "check", *args)[0] == 0

    code, actions, err = pull_json(*args)  # second pull: everything verified, nothing fetched
    assert (code, actions) == (0, {"z.zip": "verified", "sub/plain.jsonl": "verified"}), err

    (root / "data/z/a.png").unlink()  # a file the stamp vouches for is gone: unpack again
    code, actions, err = pull_json(*args)
    assert (code, actions["z.zip"]) == (0, "fetched") and (root / "data/z/a.png").is_file()


def test_hub_file_with_another_hash_is_refused_and_not_laid_out(tmp_path: Path, hub: Path) -> None:
    archive = zip_bytes({"data/z/test.jsonl": JSONL})
    fake_hub_cache(hub, REPO, {"z.zip": archive, "sub/plain.jsonl": JSONL})
    tasks = hub_tasks(tmp_path, sha256_of(b"another archive"), sha256_of(b"another file"))
    root = tmp_path / "root"
    code, out = invoke("data", "pull", "g", "--tasks-dir", str(tasks), "--data-root", str(root))
    assert code == 2
    assert "2 data source(s) could not be fetched or verified" in out
    assert f"sha256 {sha256_of(archive)}, expected {sha256_of(b'another archive')}" in out
    assert f"sha256 {sha256_of(JSONL)}, expected {sha256_of(b'another file')}" in out
    assert not [path for path in root.rglob("*") if path.is_file()]  # nothing unpacked, nothing copied


def test_no_network_lists_every_file_with_where_from_and_where_to(tmp_path: Path, hub: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on: connection refused, no waiting
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    tasks = tmp_path / "tasks"
    write_task(
        tasks,
        "web",
        "  jsonl: web/test.jsonl\n  image_root: web",
        f"sources:\n  - kind: url\n    url: http://127.0.0.1:{port}/files/test.jsonl\n"
        f"    dest: web/test.jsonl\n    md5: {md5_of(JSONL)}\n"
        "  - kind: manual\n    url: https://example.org/images\n    dest: web/img\n    note: the images page",
    )
    write_task(
        tasks,
        "hubbed",
        "  jsonl: data/z/test.jsonl\n  image_root: data/z",
        f"sources:\n  - kind: hub\n    repo_id: {REPO}\n    revision: {COMMIT}\n    filename: z.zip\n"
        "    unpack: zip\n    dest: data",
    )
    root = tmp_path / "root"
    code, out = invoke(
        "data", "pull", "g", "--tasks-dir", str(tasks), "--data-root", str(root), "--timeout", "5"
    )
    assert code == 2
    assert out.count("\n  - ") == 3, out  # one line per file, in one error
    assert f"http://127.0.0.1:{port}/files/test.jsonl and put it at {root / 'web/test.jsonl'}" in out
    assert "cannot reach it" in out
    assert f"https://example.org/images (the images page) and put it at {root / 'web/img'}" in out
    assert f"https://huggingface.co/datasets/{REPO}/resolve/{COMMIT}/z.zip" in out
    assert f"unpack it into {root / 'data'}" in out
    assert f"HF_HUB_OFFLINE is set and the file is not in the hub cache ({hub})" in out
    assert "monkeyeval data check g --data-root" in out

    code, actions, err = pull_json("g", "--tasks-dir", str(tasks), "--data-root", str(root), "--dry-run")
    assert (code, actions) == (0, {"z.zip": "would fetch", "test.jsonl": "would fetch", "img": "manual"}), err
    assert not root.exists() or not any(root.iterdir())


def test_tasks_without_sources_and_files_present_without_hashes(tmp_path: Path, hub: Path) -> None:
    tasks = tmp_path / "tasks"
    write_task(tasks, "bare", "  jsonl: bare.jsonl\n  image_root: .", "")
    write_task(
        tasks,
        "nohash",
        "  jsonl: d/x.jsonl\n  image_root: d",
        f"sources:\n  - kind: hub\n    repo_id: {REPO}\n    filename: x.jsonl\n    dest: d/x.jsonl",
    )
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (root / "d/x.jsonl").write_bytes(JSONL)  # present, nothing to verify it against: left alone
    code, out = invoke("data", "pull", "g", "--tasks-dir", str(tasks), "--data-root", str(root))
    assert code == 2
    assert "task bare" in out and "has no `sources` in its YAML" in out and str(root / "bare.jsonl") in out
    assert "nohash" not in out.split("error:")[1]
    code, out = invoke("data", "check", "g", "--tasks-dir", str(tasks), "--data-root", str(root), "--json")
    rows = json.loads(out)
    assert {row["task"] for row in rows} == {"bare"}
    assert all("fetch it by hand" in row["fix"] for row in rows)


def test_data_check_verifies_present_source_files(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks"
    write_task(
        tasks,
        "tsv",
        "  jsonl: L/X.jsonl\n  image_root: L",
        f"sources:\n  - kind: url\n    url: https://example.org/X.tsv\n    md5: {md5_of(b'published')}\n"
        "    dest: L/X.tsv\n    convert: vlmevalkit_tsv",
    )
    root = tmp_path / "root"
    (root / "L").mkdir(parents=True)
    (root / "L/X.jsonl").write_bytes(JSONL)
    args = ("tsv", "--tasks-dir", str(tasks), "--data-root", str(root), "--json")
    assert invoke("data", "check", *args) == (0, "[]\n")  # the TSV is gone after converting: fine
    (root / "L/X.tsv").write_bytes(b"another version")
    code, out = invoke("data", "check", *args)
    assert code == 2
    [row] = json.loads(out)
    assert row["role"] == "source file" and row["path"] == str(root / "L/X.tsv")
    assert row["problem"].startswith(f"md5 {md5_of(b'another version')}, expected {md5_of(b'published')}")
    assert "tsv.yaml" in row["problem"] and "monkeyeval data pull tsv" in row["fix"]
    (root / "L/X.tsv").write_bytes(b"published")
    assert invoke("data", "check", *args)[0] == 0


def test_two_tasks_sharing_an_archive_share_one_item(tmp_path: Path, hub: Path) -> None:
    archive = zip_bytes({"data/a.jsonl": JSONL, "data/b.jsonl": JSONL})
    fake_hub_cache(hub, REPO, {"z.zip": archive})
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "_base.yaml").write_text(
        f"group: g\nsources:\n  - kind: hub\n    repo_id: {REPO}\n    revision: {COMMIT}\n"
        f"    filename: z.zip\n    sha256: {sha256_of(archive)}\n    unpack: zip\n"
    )
    for name in ("a", "b"):
        (tasks / f"{name}.yaml").write_text(
            f"task: {name}\ninclude: _base.yaml\ndataset:\n  jsonl: data/{name}.jsonl\n  image_root: data\n"
            "metric: exact_match_qwen\nmax_new_tokens: 4\n"
        )
    root = tmp_path / "root"
    code, out = invoke("data", "pull", "g", "--tasks-dir", str(tasks), "--data-root", str(root), "--json")
    assert code == 0, out
    [row] = json.loads(out)
    assert (row["file"], row["tasks"], row["action"]) == ("z.zip", ["a", "b"], "fetched")
    assert (root / "data/a.jsonl").is_file() and (root / "data/b.jsonl").is_file()


def test_builtin_ocrbench_sources_verify_the_published_file(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "OCRBench").mkdir(parents=True)
    (root / "OCRBench_Images").mkdir()
    fixture = Path(__file__).resolve().parents[1] / "fixtures/ocrbench/OCRBench.json"
    (root / "OCRBench/OCRBench.json").write_bytes(fixture.read_bytes())
    code, actions, err = pull_json("ocrbench", "--data-root", str(root), "--dry-run")
    assert (code, actions) == (0, {"OCRBench.json": "verified", "OCRBench_Images": "in place"}), err
    (root / "OCRBench/OCRBench.json").write_bytes(b"[]")
    code, actions, _ = pull_json("ocrbench", "--data-root", str(root), "--dry-run")
    assert actions["OCRBench.json"] == "would fetch"


def test_an_archive_laid_out_one_folder_lower_is_reported_on_every_pull(tmp_path: Path, hub: Path) -> None:
    archive = zip_bytes({"Top/data/z/test.jsonl": JSONL})  # the task reads data/z/test.jsonl
    fake_hub_cache(hub, REPO, {"z.zip": archive})
    tasks = tmp_path / "tasks"
    write_task(
        tasks,
        "zipped",
        "  jsonl: data/z/test.jsonl\n  image_root: data/z",
        f"sources:\n  - kind: hub\n    repo_id: {REPO}\n    revision: {COMMIT}\n    filename: z.zip\n"
        f"    sha256: {sha256_of(archive)}\n    unpack: zip",
    )
    root = tmp_path / "root"
    for attempt in ("fetched", "verified"):  # the second pull trusts the stamp but still checks the task
        code, actions, err = pull_json("zipped", "--tasks-dir", str(tasks), "--data-root", str(root))
        assert (code, actions) == (2, {"z.zip": attempt})
        assert f"task zipped still lacks {root / 'data/z/test.jsonl'}" in err
        assert "z.zip's top-level entries are Top" in err and "strip_components: 1" in err
    (tasks / "zipped.yaml").write_text((tasks / "zipped.yaml").read_text() + "    strip_components: 1\n")
    code, actions, err = pull_json("zipped", "--tasks-dir", str(tasks), "--data-root", str(root))
    assert (code, actions) == (0, {"z.zip": "fetched"}), err  # the stamp no longer matches the source
    assert (root / "data/z/test.jsonl").read_bytes() == JSONL


def test_two_tasks_putting_different_files_at_one_path_is_an_error(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks"
    for name, url in (("one", "https://a.example/x.jsonl"), ("two", "https://b.example/x.jsonl")):
        write_task(
            tasks, name, "  jsonl: x.jsonl", f"sources:\n  - kind: url\n    url: {url}\n    dest: x.jsonl"
        )
    code, out = invoke("data", "pull", "g", "--tasks-dir", str(tasks), "--data-root", str(tmp_path / "r"))
    assert code == 2
    assert f"{tasks / 'two.yaml'}:7: key 'sources': task two puts 'x.jsonl'" in out
    assert f"where task one ({tasks / 'one.yaml'}:7) puts a different file" in out
