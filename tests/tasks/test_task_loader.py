"""Task YAML parsing, validation errors, includes and data-root resolution."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monkeyeval.metrics.registry import MetricRegistry
from monkeyeval.tasks.config import FieldMap
from monkeyeval.tasks.loader import DataRoot, load_task_file, resolve_data_root
from monkeyeval.tasks.yaml_source import TaskConfigError

MINIMAL = """
task: t1
dataset:
  jsonl: data/t1.jsonl
metric: anls_docvqa
max_new_tokens: 10
"""


def load(path: Path, metrics: MetricRegistry, root: Path | None = None):
    return load_task_file(path, DataRoot(root or path.parent, "test"), metrics)


def error_of(path: Path, metrics: MetricRegistry) -> str:
    with pytest.raises(TaskConfigError) as info:
        load(path, metrics)
    return str(info.value)


def test_minimal_task_gets_defaults(write, metrics, tmp_path):
    task = load(write("t1.yaml", MINIMAL), metrics, root=tmp_path / "root")
    assert task.name == "t1"
    assert task.metrics == ("anls_docvqa",)
    assert task.max_new_tokens == 10
    assert task.fields == FieldMap("question", "answer", "question_id", "image")
    assert task.prompt == "{question}"
    assert task.dataset.jsonl == tmp_path / "root" / "data" / "t1.jsonl"
    assert task.dataset.image_root == tmp_path / "root"
    assert task.groups == ()
    assert len(task.yaml_sha256) == 64


def test_full_task(write, metrics):
    path = write(
        "full.yaml",
        """
        task: full
        group: [g1, g2]
        tag: t
        dataset: {jsonl: a.jsonl, image_root: imgs}
        fields: {answer: answers, id: id, image: image_path}
        metric_list: [anls, {metric: exact_match_qwen}]
        max_new_tokens: 5
        prompt: "Q: {question} A:"
        profiles: {monkey: monkey_chat, minimonkey: minimonkey_vqa}
        family_options: {minimonkey: {tiles: OCRBench}}
        family_max_new_tokens: {minimonkey: 1024}
        description: hello
        metadata: {version: 3}
        """,
    )
    task = load(path, metrics)
    assert task.groups == ("g1", "g2", "t")
    assert task.metrics == ("anls_docvqa", "exact_match_qwen")  # alias made canonical
    assert task.fields == FieldMap(question="question", answer="answers", id="id", image="image_path")
    assert task.profiles == {"monkey": "monkey_chat", "minimonkey": "minimonkey_vqa"}
    assert task.family_options == {"minimonkey": {"tiles": "OCRBench"}}
    assert task.family_max_new_tokens == {"minimonkey": 1024}
    assert task.version == "3"
    assert task.dataset.image_root == path.parent / "imgs"


def test_unknown_key_names_file_line_and_suggestion(write, metrics):
    path = write("t.yaml", MINIMAL + "metrc: anls\n")
    message = error_of(path, metrics)
    assert f"{path}:6:" in message
    assert "'metrc'" in message
    assert "did you mean: metric" in message


def test_unknown_nested_key(write, metrics):
    path = write(
        "t.yaml", MINIMAL.replace("  jsonl: data/t1.jsonl", "  jsonl: data/t1.jsonl\n  imag_root: x")
    )
    message = error_of(path, metrics)
    assert f"{path}:4:" in message and "dataset.imag_root" in message and "image_root" in message


def test_missing_key(write, metrics):
    path = write("t.yaml", MINIMAL.replace("max_new_tokens: 10\n", ""))
    message = error_of(path, metrics)
    assert str(path) in message and "missing required key 'max_new_tokens'" in message


def test_missing_dataset_jsonl(write, metrics):
    path = write("t.yaml", MINIMAL.replace("  jsonl: data/t1.jsonl", "  image_root: x"))
    assert "dataset.jsonl" in error_of(path, metrics)


@pytest.mark.parametrize(
    ("old", "new", "key", "expect"),
    [
        ("max_new_tokens: 10", "max_new_tokens: ten", "max_new_tokens", "expected an integer"),
        ("max_new_tokens: 10", "max_new_tokens: true", "max_new_tokens", "expected an integer"),
        ("max_new_tokens: 10", "max_new_tokens: 0", "max_new_tokens", "positive"),
        ("task: t1", "task: [t1]", "task", "expected a string"),
        ("task: t1", "task: a/b", "task", "names a folder"),
        ("metric: anls_docvqa", "metric: [anls_docvqa]", "metric", "expected a string"),
    ],
)
def test_wrong_types(write, metrics, old, new, key, expect):
    path = write("t.yaml", MINIMAL.replace(old, new))
    message = error_of(path, metrics)
    assert str(path) in message and f"'{key}'" in message and expect in message


def test_unknown_metric_suggests(write, metrics):
    path = write("t.yaml", MINIMAL.replace("metric: anls_docvqa", "metric: anls_docvqq"))
    message = error_of(path, metrics)
    assert f"{path}:4:" in message and "anls_docvqq" in message and "anls_docvqa" in message


def test_unknown_metric_in_list(write, metrics):
    path = write(
        "t.yaml", MINIMAL.replace("metric: anls_docvqa", "metric_list: [anls_docvqa, {metric: nope_metric}]")
    )
    message = error_of(path, metrics)
    assert "'metric_list'" in message and "nope_metric" in message


def test_metric_and_metric_list_conflict(write, metrics):
    path = write("t.yaml", MINIMAL + "metric_list: [anls_docvqa]\n")
    assert "not both" in error_of(path, metrics)


def test_unknown_profile(write, metrics):
    path = write("t.yaml", MINIMAL + "profiles:\n  monkey: monkey_vq\n")
    message = error_of(path, metrics)
    assert f"{path}:7:" in message and "profiles.monkey" in message and "monkey_vqa" in message


@pytest.mark.parametrize(
    "prompt", ["'{image} {question}'", "'{question!r}'", "'{question:>5}'", "'{question'"]
)
def test_prompt_only_question_placeholder(write, metrics, prompt):
    path = write("t.yaml", MINIMAL + f"prompt: {prompt}\n")
    message = error_of(path, metrics)
    assert "'prompt'" in message and str(path) in message


def test_prompt_literal_braces_ok(write, metrics):
    task = load(write("t.yaml", MINIMAL + "prompt: '{{json}} {question}'\n"), metrics)
    assert task.prompt == "{{json}} {question}"


def test_malformed_yaml_names_line(write, metrics):
    path = write("t.yaml", "task: t1\ndataset:\n  jsonl: [unclosed\nmetric: x\n")
    message = error_of(path, metrics)
    assert str(path) in message and "malformed YAML" in message and ":4" in message


def test_duplicate_yaml_key(write, metrics):
    path = write("t.yaml", MINIMAL + "max_new_tokens: 20\n")
    message = error_of(path, metrics)
    assert f"{path}:6:" in message and "twice" in message and "line 5" in message


def test_not_a_mapping(write, metrics):
    assert "must be a YAML mapping" in error_of(write("t.yaml", "- a\n- b\n"), metrics)


def test_python_tags_are_rejected_and_not_run(write, metrics, tmp_path):
    marker = tmp_path / "pwned"
    path = write(
        "evil.yaml",
        MINIMAL.replace("task: t1", f"task: !!python/object/apply:os.system ['touch {marker}']"),
    )
    message = error_of(path, metrics)
    assert "tag not allowed" in message and f"{path}:1" in message
    assert not marker.exists()
    path2 = write("evil2.yaml", MINIMAL + "description: !!python/name:os.getcwd ''\n")
    assert "tag not allowed" in error_of(path2, metrics)


def test_include_inherits_and_overrides(write, metrics, tmp_path):
    write(
        "shared/_base.yaml",
        """
        group: fam
        dataset: {image_root: imgs, jsonl: base.jsonl}
        profiles: {monkey: monkey_vqa}
        metric: anls_monkey
        max_new_tokens: 100
        """,
    )
    path = write(
        "t.yaml",
        """
        task: child
        include: shared/_base.yaml
        dataset: {jsonl: child.jsonl}
        profiles: {textmonkey: textmonkey_vqa}
        max_new_tokens: 10
        """,
    )
    task = load(path, metrics, root=tmp_path)
    assert task.groups == ("fam",)
    assert task.metrics == ("anls_monkey",)
    assert task.max_new_tokens == 10
    assert task.dataset.jsonl == tmp_path / "child.jsonl"
    assert task.dataset.image_root == tmp_path / "imgs"  # kept from the base's dataset mapping
    assert task.profiles == {"monkey": "monkey_vqa", "textmonkey": "textmonkey_vqa"}


def test_include_error_names_the_included_file(write, metrics):
    base = write("_base.yaml", "metric: not_a_metric\nmax_new_tokens: 5\n")
    path = write("t.yaml", "task: x\ninclude: _base.yaml\ndataset: {jsonl: a.jsonl}\n")
    message = error_of(path, metrics)
    assert f"{base}:1:" in message and str(path) in message and "not_a_metric" in message


def test_include_chain_is_recursive(write, metrics):
    write("_a.yaml", "metric: anls_docvqa\n")
    write("_b.yaml", "include: _a.yaml\nmax_new_tokens: 7\n")
    task = load(write("t.yaml", "task: x\ninclude: _b.yaml\ndataset: {jsonl: a.jsonl}\n"), metrics)
    assert task.metrics == ("anls_docvqa",) and task.max_new_tokens == 7


def test_include_cycle_names_chain(write, metrics):
    a = write("_a.yaml", "include: _b.yaml\n")
    b = write("_b.yaml", "include: _a.yaml\n")
    path = write("t.yaml", MINIMAL + "include: _a.yaml\n")
    message = error_of(path, metrics)
    assert "include cycle" in message
    assert f"{a} -> {b} -> {a}" in message


def test_include_missing_file(write, metrics):
    path = write("t.yaml", MINIMAL + "include: nothere.yaml\n")
    message = error_of(path, metrics)
    assert f"{path}:6:" in message and "nothere.yaml" in message and "does not exist" in message


def test_yaml_sha_ignores_layout_but_not_values(write, metrics):
    one = load(write("a.yaml", MINIMAL), metrics)
    two = load(
        write("b.yaml", "# a comment\n" + MINIMAL.replace("max_new_tokens: 10", "max_new_tokens:   10")),
        metrics,
    )
    three = load(write("c.yaml", MINIMAL.replace("max_new_tokens: 10", "max_new_tokens: 11")), metrics)
    assert one.yaml_sha256 == two.yaml_sha256 != three.yaml_sha256


def test_sha256_must_be_hex(write, metrics):
    path = write("t.yaml", MINIMAL.replace("  jsonl: data/t1.jsonl", "  jsonl: data/t1.jsonl\n  sha256: abc"))
    assert "dataset.sha256" in error_of(path, metrics)


# ----------------------------------------------------------------- data roots


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("MONKEYEVAL_DATA", str(tmp_path / "env"))
    assert resolve_data_root(tmp_path / "arg") == DataRoot(tmp_path / "arg", "--data-root")
    assert resolve_data_root() == DataRoot(tmp_path / "env", "$MONKEYEVAL_DATA")
    monkeypatch.delenv("MONKEYEVAL_DATA")
    monkeypatch.chdir(tmp_path)
    root = resolve_data_root()
    assert root.path == tmp_path.resolve() and "current directory" in root.source


def test_relative_paths_use_the_data_root_not_cwd(write, metrics, tmp_path, monkeypatch):
    path = write("tasks/t.yaml", MINIMAL)
    monkeypatch.chdir(tmp_path / "tasks")
    task = load_task_file(path, resolve_data_root(tmp_path / "data"), metrics)
    assert task.dataset.jsonl == (tmp_path / "data" / "data" / "t1.jsonl").resolve()
    assert "--data-root" in task.dataset.root_note and str(tmp_path / "data") in task.dataset.root_note


def test_yaml_dir_relative_paths(write, metrics, tmp_path, monkeypatch):
    write("pack/_base.yaml", "dataset:\n  relative_to: yaml_dir\n  image_root: pics\n")
    path = write("pack/sub/t.yaml", MINIMAL + "include: ../_base.yaml\n")
    monkeypatch.chdir("/")
    task = load_task_file(path, resolve_data_root(tmp_path / "elsewhere"), metrics)
    # each path is relative to the YAML that wrote it
    assert task.dataset.jsonl == tmp_path / "pack" / "sub" / "data" / "t1.jsonl"
    assert task.dataset.image_root == tmp_path / "pack" / "pics"
    assert "relative_to: yaml_dir" in task.dataset.root_note


def test_bad_relative_to(write, metrics):
    path = write("t.yaml", MINIMAL.replace("  jsonl: data/t1.jsonl", "  jsonl: x\n  relative_to: yaml"))
    message = error_of(path, metrics)
    assert "dataset.relative_to" in message and "yaml_dir" in message


def test_absolute_paths_kept(write, metrics, tmp_path):
    path = write("t.yaml", MINIMAL.replace("data/t1.jsonl", str(tmp_path / "abs.jsonl")))
    assert load(path, metrics, root=tmp_path / "x").dataset.jsonl == tmp_path / "abs.jsonl"


def test_yaml_aliases_are_refused(write, metrics):
    bomb = "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n"
    message = error_of(write("t.yaml", MINIMAL + "metadata:\n  " + bomb.replace("\n", "\n  ")), metrics)
    assert "anchors and aliases" in message and "include" in message


@pytest.mark.parametrize("rule", ["{id.__class__}", "{dataset_name[0]}/{id}", "{id:>5}", "{}", "{id", "id}"])
def test_an_id_rule_is_keys_in_braces_only(write, metrics, rule: str) -> None:
    text = MINIMAL + f"fields: {{id: {json.dumps(rule)}}}\n"
    message = error_of(write("t1.yaml", text), metrics)
    assert "fields.id" in message and "is not an id rule" in message and "{dataset_name}/{id}" in message


def test_a_composite_id_rule_is_accepted(write, metrics) -> None:
    task = load(write("t1.yaml", MINIMAL + 'fields: {id: "{dataset_name}/{id}"}\n'), metrics)
    assert task.fields.composite_id and task.fields.id_keys == ("dataset_name", "id")
    assert task.fields.make_id({"dataset_name": "IIIT5K", "id": 211}) == "IIIT5K/211"
    assert task.fields.make_id({"id": 211}) is None
