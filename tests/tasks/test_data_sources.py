"""The `sources:` key: validation errors that name the file and entry, include merging, and the sources of
every built-in task (parsed, pinned, and covering the files each task reads)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path

import pytest

from monkeyeval.tasks.config import DataSource
from monkeyeval.tasks.loader import DataRoot, load_task_file
from monkeyeval.tasks.registry import TaskRegistry
from monkeyeval.tasks.yaml_source import TaskConfigError

REPO = Path(__file__).resolve().parents[2]
BASE = "task: t\ndataset:\n  jsonl: d/t.jsonl\nmetric: exact_match_qwen\nmax_new_tokens: 4\n"
HUB = "  - kind: hub\n    repo_id: org/name\n    filename: f.zip\n"


def load(write, text: str, tmp_path: Path):
    return load_task_file(write("t.yaml", BASE + text), DataRoot(tmp_path / "root", "test"))


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        ("sources: x", "key 'sources': expected a list of source mappings"),
        ("sources:\n  - x", "sources[0]: expected a mapping"),
        (
            "sources:\n  - kind: ftp\n    dest: a",
            "sources[0].kind: must be one of hub, url, manual, got 'ftp'",
        ),
        (
            f"sources:\n{HUB}    unpack: zip\n    sha: abc",
            "sources[0].sha: unknown key (did you mean: sha256?)",
        ),
        ("sources:\n  - kind: hub\n    filename: f\n    dest: a", "sources[0].repo_id: missing required key"),
        (
            "sources:\n  - kind: hub\n    repo_id: nope\n    filename: f\n    dest: a",
            "expected a hub dataset id",
        ),
        ("sources:\n  - kind: url\n    dest: a", "sources[0].url: missing required key 'url' for kind 'url'"),
        (
            "sources:\n  - kind: url\n    url: ftp://h/x\n    dest: a",
            "sources[0].url: expected an http/https/file",
        ),
        (
            "sources:\n  - kind: url\n    url: https://h/dir/\n    unpack: zip",
            "sources[0].filename: the URL 'https://h/dir/' names no file",
        ),
        (
            "sources:\n  - kind: url\n    url: https://h/x\n    repo_id: o/n\n    dest: a",
            "repo_id: not used by",
        ),
        (f"sources:\n{HUB}    dest: /abs", "sources[0].dest: must be relative to the data root"),
        (f"sources:\n{HUB}    dest: ../up", "sources[0].dest: must stay inside the data root"),
        (f"sources:\n{HUB}    dest: a\n    sha256: 1234", "sources[0].sha256: expected 64 hex digits"),
        (f"sources:\n{HUB}    dest: a\n    md5: {'g' * 32}", "sources[0].md5: expected 32 hex digits"),
        (f"sources:\n{HUB}    unpack: rar", "sources[0].unpack: must be one of zip, tar, got 'rar'"),
        (f"sources:\n{HUB}    dest: a\n    strip_components: 1", "only applies to archives"),
        (f"sources:\n{HUB}    unpack: zip\n    strip_components: -1", "expected a non-negative integer"),
        (f"sources:\n{HUB}    unpack: zip\n    convert: vlmevalkit_tsv", "either unpacked"),
        (
            f"sources:\n{HUB}    dest: a\n    convert: csv",
            "sources[0].convert: must be one of vlmevalkit_tsv",
        ),
        (f"sources:\n{HUB}", "sources[0].dest: missing required key 'dest'"),
        ("sources:\n  - kind: manual\n    url: https://h/p", "sources[0].dest: missing required key"),
        (
            "sources:\n  - kind: manual\n    url: https://h/p\n    dest: a\n    unpack: zip",
            "unpack: not used by",
        ),
        (f"sources:\n{HUB}    dest: a\n{HUB}    dest: a", "sources[1].dest: 'a' is also sources[0]'s dest"),
    ],
)
def test_source_errors_name_the_file_entry_and_fix(write, tmp_path: Path, sources: str, message: str) -> None:
    with pytest.raises(TaskConfigError) as caught:
        load(write, sources, tmp_path)
    text = str(caught.value)
    assert text.startswith(f"{tmp_path / 't.yaml'}:6: key 'sources': "), text
    assert message in text


def test_sources_parse_resolve_and_default(write, tmp_path: Path) -> None:
    task = load(
        write,
        f"sources:\n{HUB}    unpack: zip\n  - kind: url\n    url: https://h/a/X.tsv?dl=1\n"
        "    dest: L/X.tsv\n    MD5: ".replace("    MD5: ", f"    md5: {'A' * 32}"),
        tmp_path,
    )
    hub, url = task.sources
    assert (hub.kind, hub.revision, hub.dest, hub.path, hub.unpack) == (
        "hub",
        "main",
        ".",
        tmp_path / "root",
        "zip",
    )
    assert (url.filename, url.path, url.md5, url.sha256) == (
        "X.tsv",
        tmp_path / "root/L/X.tsv",
        "a" * 32,
        None,
    )
    assert url.origin == f"{tmp_path / 't.yaml'}:6"
    assert load(write, "", tmp_path).sources is None
    assert load(write, "sources: []", tmp_path).sources == ()


def test_sources_come_from_an_include_and_errors_name_that_file(write, tmp_path: Path, metrics) -> None:
    write("_base.yaml", f"sources:\n{HUB}    unpack: zip\n")
    path = write("t.yaml", "include: _base.yaml\n" + BASE)
    task = load_task_file(path, DataRoot(tmp_path, "test"), metrics)
    assert task.sources is not None and task.sources[0].origin == f"{tmp_path / '_base.yaml'}:1"
    write("_bad.yaml", "sources:\n  - kind: hub\n    repo_id: org/name\n    filename: f\n    dest: /abs\n")
    bad = write("u.yaml", "include: _bad.yaml\n" + BASE.replace("task: t", "task: u"))
    with pytest.raises(
        TaskConfigError, match=re.escape(f"{tmp_path / '_bad.yaml'}:1: key 'sources'")
    ) as caught:
        load_task_file(bad, DataRoot(tmp_path, "test"), metrics)
    assert f"(while loading task file {bad})" in str(caught.value)


def test_sources_do_not_change_the_yaml_fingerprint(write, tmp_path: Path) -> None:
    plain = load(write, "", tmp_path).yaml_sha256
    assert load(write, f"sources:\n{HUB}    unpack: zip\n", tmp_path).yaml_sha256 == plain


@pytest.fixture(scope="module")
def builtin(tmp_path_factory) -> TaskRegistry:
    return TaskRegistry.discover(data_root=tmp_path_factory.mktemp("dataroot"))


def test_every_builtin_task_declares_its_sources(builtin: TaskRegistry) -> None:
    tasks = builtin.tasks()
    assert len(tasks) >= 29
    for task in tasks:
        assert task.sources is not None, f"{task.source}: no `sources:`"
        if not task.sources:  # nothing to fetch: the data must ship beside the YAML
            assert task.dataset.data_root is None and task.dataset.jsonl.is_file(), task.name
            continue
        for source in task.sources:
            if source.kind == "hub":
                assert re.fullmatch("[0-9a-f]{40}", source.revision or ""), f"{task.name}: pin a commit"
            else:
                assert (source.url or "").startswith("https://"), task.name
            if source.kind != "manual":
                assert source.sha256 or source.md5, f"{task.name}: {source.dest} has no hash"


def covered(path: Path, task) -> bool:
    """Some source of `task` lays out `path`: an archive above it, the file itself, or a TSV's conversion."""
    for source in task.sources:
        if source.unpack or source.kind == "manual":
            if path == source.path or source.path in path.parents:
                return True
        elif path == source.path:
            return True
        elif source.convert:
            converted = (source.path.with_suffix(".jsonl"), source.path.parent / "images" / source.path.stem)
            if path in converted:
                return True
    return False


def test_builtin_sources_cover_every_file_each_task_reads(builtin: TaskRegistry) -> None:
    for task in builtin.tasks():
        if not task.sources:
            continue
        spec = task.dataset
        for path in (spec.jsonl, spec.image_root, spec.annotations):
            if path is not None:
                assert covered(path, task), f"{task.name}: no source lays out {path}"


def test_builtin_source_facts(builtin: TaskRegistry) -> None:
    fixture = (REPO / "tests/fixtures/ocrbench/OCRBench.json").read_bytes()
    [json_source, images] = builtin.get("ocrbench").sources
    assert json_source.sha256 == hashlib.sha256(fixture).hexdigest()  # the published file, byte for byte
    assert json_source.url.endswith("/OCRBench/OCRBench/OCRBench.json") and images.kind == "manual"

    def group_sources(group: str) -> set[tuple[DataSource, ...]]:
        tasks = [task for task in builtin.tasks() if group in task.groups]
        return {tuple(replace(source, origin="") for source in task.sources) for task in tasks}

    monkey, textmonkey = group_sources("monkey_paper"), group_sources("textmonkey_paper")
    assert len(monkey) == 1 and monkey == textmonkey  # one archive for both groups
    [[archive]] = monkey
    assert (archive.repo_id, archive.filename, archive.unpack) == (
        "echo840/Monkey_Data",
        "Monkey_Test_data.zip",
        "zip",
    )
    for name in ("ChartQA_TEST", "DocVQA_VAL", "InfoVQA_VAL", "TextVQA_VAL"):
        task = next(t for t in builtin.tasks() if t.dataset.jsonl.name == f"{name}.jsonl")
        [tsv] = task.sources
        assert tsv.url == f"https://opencompass.openxlab.space/utils/VLMEval/{name}.tsv"
        assert tsv.md5 and tsv.sha256 is None and tsv.convert == "vlmevalkit_tsv"
