"""`monkeyeval data pull` over HTTP from a local server started by the test (127.0.0.1, port 0): fetch,
hash checks, unpacking (zip, tar.gz, strip_components), refusal of archives that escape their folder,
TSV conversion and idempotence. Nothing leaves the machine."""

from __future__ import annotations

import base64
import io
import tarfile
from pathlib import Path

import pytest
from data_pull_helpers import (
    JSONL,
    PNG,
    invoke,
    md5_of,
    pull_json,
    serve,
    sha256_of,
    tar_gz_bytes,
    write_task,
    zip_bytes,
)

from monkeyeval.tasks.unpack import UnpackError, safe_relative, unpack


def url_source(url: str, dest: str, extra: str = "") -> str:
    return f"sources:\n  - kind: url\n    url: {url}\n    dest: {dest}\n{extra}"


def test_fetch_verify_unpack_and_skip_on_the_second_pull(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    zipped = zip_bytes({"pack/data/z.jsonl": JSONL, "pack/data/a.png": PNG})
    tarred = tar_gz_bytes({"t/data/t.jsonl": JSONL, "t/data/a.png": PNG})
    (site / "test.jsonl").write_bytes(JSONL)
    (site / "pack.zip").write_bytes(zipped)
    (site / "t.tar.gz").write_bytes(tarred)
    tasks, root = tmp_path / "tasks", tmp_path / "root"
    with serve(site) as server:
        write_task(
            tasks,
            "plain",
            "  jsonl: web/test.jsonl\n  image_root: web",
            url_source(f"{server.url}/test.jsonl", "web/test.jsonl", f"    sha256: {sha256_of(JSONL)}"),
        )
        write_task(
            tasks,
            "zipped",
            "  jsonl: data/z.jsonl\n  image_root: data",
            url_source(
                f"{server.url}/pack.zip",
                ".",
                f"    md5: {md5_of(zipped)}\n    unpack: zip\n    strip_components: 1",
            ),
        )
        write_task(
            tasks,
            "tarred",
            "  jsonl: tdir/data/t.jsonl\n  image_root: tdir/data",
            url_source(f"{server.url}/t.tar.gz", "tdir", "    unpack: tar\n    strip_components: 1"),
        )
        args = ("g", "--tasks-dir", str(tasks), "--data-root", str(root))
        code, actions, err = pull_json(*args)
        assert code == 0, err
        assert actions == {"test.jsonl": "fetched", "pack.zip": "fetched", "t.tar.gz": "fetched"}
        assert sorted(server.requests) == ["/pack.zip", "/t.tar.gz", "/test.jsonl"]
        assert (root / "web/test.jsonl").read_bytes() == JSONL
        assert (root / "data/z.jsonl").read_bytes() == JSONL and (root / "data/a.png").read_bytes() == PNG
        assert (root / "tdir/data/t.jsonl").read_bytes() == JSONL
        assert not (root / "pack").exists()  # the top folder was stripped
        assert not list(root.rglob("*.part")) and not list(root.rglob("*.unpack"))
        assert not list(root.rglob("downloads/*"))  # downloaded archives are removed once unpacked
        assert invoke("data", "check", *args)[0] == 0

        code, actions, err = pull_json(*args)
        assert code == 0, err
        assert actions == {"test.jsonl": "verified", "pack.zip": "verified", "t.tar.gz": "verified"}
        assert len(server.requests) == 3  # nothing fetched again

        (root / "web/test.jsonl").write_bytes(b"edited")  # another version: fetched again, replaced
        code, actions, _ = pull_json(*args)
        assert (code, actions["test.jsonl"]) == (0, "fetched") and (
            root / "web/test.jsonl"
        ).read_bytes() == JSONL


def test_hash_mismatch_html_pages_and_http_errors_are_reported_together(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "test.jsonl").write_bytes(JSONL)
    (site / "login.html").write_bytes(b"<html>sign in</html>")
    tasks, root = tmp_path / "tasks", tmp_path / "root"
    with serve(site) as server:
        write_task(
            tasks,
            "bad",
            "  jsonl: web/test.jsonl\n  image_root: web",
            f"sources:\n  - kind: url\n    url: {server.url}/test.jsonl\n    dest: web/test.jsonl\n"
            f"    md5: {md5_of(b'published')}\n  - kind: url\n    url: {server.url}/login.html\n"
            "    filename: other.jsonl\n    dest: web/other.jsonl\n  - kind: url\n"
            f"    url: {server.url}/gone.zip\n    unpack: zip\n    dest: web",
        )
        code, out = invoke("data", "pull", "bad", "--tasks-dir", str(tasks), "--data-root", str(root))
    assert code == 2
    assert f"md5 {md5_of(JSONL)}, expected {md5_of(b'published')}: another version" in out
    assert "answered with an HTML page" in out
    assert "HTTP 404" in out
    assert "3 data source(s) could not be fetched" in out
    assert not [path for path in root.rglob("*") if path.is_file()]  # no partial or wrong file kept


def test_archives_that_escape_or_hold_links_are_refused_before_writing(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "escape.zip").write_bytes(zip_bytes({"ok.txt": b"ok", "../escaped.txt": b"x"}))
    (site / "link.zip").write_bytes(zip_bytes({"ok.txt": b"ok"}, symlinks={"passwd": "/etc/passwd"}))
    tasks, root = tmp_path / "tasks", tmp_path / "root"
    with serve(site) as server:
        for name in ("escape", "link"):
            write_task(
                tasks,
                name,
                f"  jsonl: {name}/ok.txt\n  image_root: {name}",
                url_source(f"{server.url}/{name}.zip", name, "    unpack: zip"),
            )
        code, out = invoke("data", "pull", "g", "--tasks-dir", str(tasks), "--data-root", str(root))
    assert code == 2
    assert "member '../escaped.txt' leaves the destination through '..'" in out
    assert "member 'passwd' is a symbolic link; archives with links are refused" in out
    assert not (tmp_path / "escaped.txt").exists() and not (root / "escaped.txt").exists()
    assert not (root / "escape/ok.txt").exists() and not (root / "link/ok.txt").exists()
    assert not (root / "link/passwd").exists()


@pytest.mark.parametrize(
    ("name", "strip", "expected"),
    [
        ("a/b.txt", 0, "a/b.txt"),
        ("./a/./b.txt", 0, "a/b.txt"),
        ("top/a/b.txt", 1, "a/b.txt"),
        ("top/", 1, None),
    ],
)
def test_safe_relative_keeps_names_inside(name: str, strip: int, expected: str | None) -> None:
    result = safe_relative(name, strip)
    assert (result.as_posix() if result else None) == expected


@pytest.mark.parametrize("name", ["/etc/passwd", "../x", "a/../../x", "C:/x", "\\x", "a\x00b"])
def test_safe_relative_refuses_escaping_names(name: str) -> None:
    with pytest.raises(UnpackError):
        safe_relative(name)


def tar_with(kind: str, tmp_path: Path) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("ok.txt")
        info.size = 2
        archive.addfile(info, io.BytesIO(b"ok"))
        link = tarfile.TarInfo("link")
        link.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
        link.linkname = "../outside" if kind == "symlink" else "/etc/passwd"
        archive.addfile(link)
    path = tmp_path / f"{kind}.tar"
    path.write_bytes(buffer.getvalue())
    return path


@pytest.mark.parametrize("kind", ["symlink", "hardlink"])
def test_tar_links_out_are_refused(tmp_path: Path, kind: str) -> None:
    with pytest.raises(UnpackError, match="link"):
        unpack(tar_with(kind, tmp_path), "tar", tmp_path / "out")
    assert not (tmp_path / "out" / "ok.txt").exists()


def test_tar_hard_link_to_an_earlier_member_becomes_a_copy(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("d/a.txt")
        info.size = 2
        archive.addfile(info, io.BytesIO(b"ok"))
        link = tarfile.TarInfo("d/b.txt")
        link.type, link.linkname = tarfile.LNKTYPE, "d/a.txt"
        archive.addfile(link)
    (tmp_path / "x.tar").write_bytes(buffer.getvalue())
    written = unpack(tmp_path / "x.tar", "tar", tmp_path / "out")
    assert written == {"d/a.txt": 2, "d/b.txt": 2}
    assert (tmp_path / "out/d/b.txt").read_bytes() == b"ok" and not (tmp_path / "out/d/b.txt").is_symlink()


def test_vlmevalkit_tsv_is_fetched_and_converted_where_the_task_reads(tmp_path: Path) -> None:
    image = PNG + bytes(100)  # base64 cells of 64 characters or fewer are row references in VLMEvalKit
    tsv = f"index\timage\tquestion\tanswer\n0\t{base64.b64encode(image).decode()}\tWhat?\tyes\n".encode()
    site = tmp_path / "site"
    site.mkdir()
    (site / "X_VAL.tsv").write_bytes(tsv)
    tasks, root = tmp_path / "tasks", tmp_path / "root"
    with serve(site) as server:
        write_task(
            tasks,
            "mm",
            "  jsonl: LMUData/X_VAL.jsonl\n  image_root: LMUData/images/X_VAL",
            url_source(
                f"{server.url}/X_VAL.tsv",
                "LMUData/X_VAL.tsv",
                f"    md5: {md5_of(tsv)}\n    convert: vlmevalkit_tsv",
            ),
        )
        args = ("mm", "--tasks-dir", str(tasks), "--data-root", str(root))
        code, actions, err = pull_json(*args)
        assert (code, actions) == (0, {"X_VAL.tsv": "fetched"}), err
        assert '"question":"What?"' in (root / "LMUData/X_VAL.jsonl").read_text()
        assert (root / "LMUData/images/X_VAL/0.png").read_bytes() == image
        assert invoke("data", "check", *args)[0] == 0
        code, actions, _ = pull_json(*args)
        assert (code, actions, len(server.requests)) == (0, {"X_VAL.tsv": "verified"}, 1)
        (root / "LMUData/X_VAL.jsonl").unlink()  # the TSV is verified but its conversion is gone
        code, actions, _ = pull_json(*args)
        assert (code, actions, len(server.requests)) == (0, {"X_VAL.tsv": "fetched"}, 1)
        assert (root / "LMUData/X_VAL.jsonl").is_file()
