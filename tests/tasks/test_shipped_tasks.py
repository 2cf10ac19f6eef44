"""The shipped task YAMLs load and match the upstream tables; the demo data is reproducible."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from monkeyeval.core.paths import builtin_dir
from monkeyeval.tasks.dataset import jsonl_sha256, load_samples
from monkeyeval.tasks.prompts import PROFILES
from monkeyeval.tasks.registry import TaskRegistry

REPO = Path(__file__).resolve().parents[2]

# Facts doc table 2.1 (Monkey eval/evaluate_vqa.py ds_collections) with the metric variant that Monkey's own
# scoring code implements: anls -> anls_monkey, vqa_score -> vqa_accuracy_lavis, relaxed_accuracy ->
# relaxed_accuracy_qwen, accuracy -> contains_match_monkey, GQA -> gqa_contains_monkey.
MONKEY_TABLE = {
    "estvqa_test": ("data/estvqa/estvqa.jsonl", "anls_monkey", 100),
    "docvqa_test": ("data/docvqa/test_ans.jsonl", "anls_monkey", 100),
    "chartqa": ("data/chartqa/chartqa_test.jsonl", "relaxed_accuracy_qwen", 100),
    "infovqa_test": ("data/infographicVQA/infovqa_test.jsonl", "anls_monkey", 100),
    "vizwiz_val": ("data/vizwiz/vizwiz_val.jsonl", "vqa_accuracy_lavis", 10),
    "deepform": ("data/test_DeepForm.jsonl", "contains_match_monkey", 100),
    "KLC": ("data/test_KleisterCharity.jsonl", "contains_match_monkey", 100),
    "WTQ": ("data/test_WikiTableQuestions.jsonl", "contains_match_monkey", 100),
    "gqa_testdev": ("data/gqa/gqa_testdev_new.jsonl", "gqa_contains_monkey", 10),
    "okvqa_val": ("data/okvqa/okvqa_val.jsonl", "vqa_accuracy_lavis", 10),
    "textvqa_val": ("data/textvqa/textvqa_val.jsonl", "vqa_accuracy_lavis", 10),
    "stvqa_test": ("data/STVQA/stvqa.jsonl", "anls_monkey", 100),
    "ai2diagram_test": ("data/ai2d/test.jsonl", "contains_match_monkey", 10),
    "vqav2_val": ("data/vqav2/vqav2_val.jsonl", "vqa_accuracy_lavis", 10),
}
VQA_ANNOTATIONS = {
    "vizwiz_val": "data/vizwiz/vizwiz_val_annotations.json",
    "okvqa_val": "data/okvqa/mscoco_val2014_annotations.json",
    "textvqa_val": "data/textvqa/textvqa_val_annotations.json",
    "vqav2_val": "data/vqav2/v2_mscoco_val2014_annotations.json",
}
# Facts doc table 3.1 (TextMonkey eval/evaluate_vqa_doc.py): containment accuracy, 100 tokens everywhere.
TEXTMONKEY_TABLE = {
    "textmonkey_docvqa_test": "data/docvqa/test_ans.jsonl",
    "textmonkey_ocrvqa_test": "data/ocrvqa/ocrvqa_test.jsonl",
    "textmonkey_chartqa": "data/chartqa/chartqa.jsonl",
    "textmonkey_FUNSD": "data/FUNSD/FUNSD_test.jsonl",
    "textmonkey_SROIE_test": "data/SROIE/SROIE_test.jsonl",
    "textmonkey_POIE": "data/POIE/POIE_test.jsonl",
    "textmonkey_textvqa_val": "data/textvqa/textvqa_val.jsonl",
    "textmonkey_infovqa_test": "data/infographicVQA/infovqa_test.jsonl",
    "textmonkey_stvqa_test": "data/STVQA/stvqa.jsonl",
}
MINIMONKEY_TABLE = {
    "minimonkey_docvqa_val": ("anls_docvqa", "DocVQA"),
    "minimonkey_chartqa_test": ("relaxed_accuracy_vlmevalkit", "ChartQA"),
    "minimonkey_infovqa_val": ("anls_docvqa", "InfoVQA"),
    "minimonkey_textvqa_val": ("textvqa_accuracy_mmf", "default"),
}


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> TaskRegistry:
    return TaskRegistry.discover(data_root=tmp_path_factory.mktemp("dataroot"))


def test_every_shipped_task_references_registered_metrics_and_profiles(registry, metrics):
    expected = {*MONKEY_TABLE, *TEXTMONKEY_TABLE, *MINIMONKEY_TABLE, "ocrbench", "demo"}
    assert expected <= set(registry.by_name)
    for task in registry.tasks():
        for name in task.metrics:
            assert metrics.get(name).name == name, task.name
        for profile in task.profiles.values():
            assert profile in PROFILES, task.name


def test_monkey_tasks_match_facts_table(registry):
    root = registry.data_root.path
    assert registry.groups()["monkey_paper"] == sorted(MONKEY_TABLE)  # discovery order = sorted file names
    for name, (jsonl, metric, max_new_tokens) in MONKEY_TABLE.items():
        task = registry.get(name)
        assert task.metrics == (metric,), name
        assert task.max_new_tokens == max_new_tokens, name
        assert task.dataset.jsonl == root / jsonl, name
        assert task.dataset.image_root == root, name
        assert task.groups == ("monkey_paper",), name
        expected_profile = "monkey_vizwiz" if name == "vizwiz_val" else "monkey_vqa"
        assert task.profiles == {"monkey": expected_profile}, name
        annotations = VQA_ANNOTATIONS.get(name)
        assert task.dataset.annotations == (root / annotations if annotations else None), name


def test_textmonkey_tasks_match_facts_table(registry):
    root = registry.data_root.path
    assert sorted(registry.groups()["textmonkey_paper"]) == sorted(TEXTMONKEY_TABLE)
    for name, jsonl in TEXTMONKEY_TABLE.items():
        task = registry.get(name)
        assert task.metrics == ("contains_match_textmonkey",)
        assert task.max_new_tokens == 100
        assert task.dataset.jsonl == root / jsonl
        assert task.profiles == {"textmonkey": "textmonkey_vqa"}


def test_ocrbench_task(registry):
    task = registry.get("ocrbench")
    assert task.metrics == ("ocrbench",)
    assert (task.fields.answer, task.fields.image, task.fields.id) == (
        "answers",
        "image_path",
        "{dataset_name}/{id}",
    )
    assert task.max_new_tokens == 100 and task.family_max_new_tokens == {"minimonkey": 1024}
    assert task.profiles == {"monkey": "monkey_chat", "minimonkey": "minimonkey_vqa"}
    assert task.family_options == {"minimonkey": {"tiles": "OCRBench"}}
    assert [t.name for t in registry.resolve(["ocrbench"])] == ["ocrbench"]


def test_minimonkey_tasks(registry):
    assert sorted(registry.groups()["minimonkey_paper"]) == sorted(MINIMONKEY_TABLE)
    for name, (metric, tiles) in MINIMONKEY_TABLE.items():
        task = registry.get(name)
        assert task.metrics == (metric,)
        assert task.profiles == {"minimonkey": "minimonkey_vqa"}
        assert task.family_options == {"minimonkey": {"tiles": tiles}}
        assert task.family_max_new_tokens == {"minimonkey": 1024}


def test_minimonkey_tile_names_exist_in_adapter_table(registry):
    from monkeyeval.models.minimonkey import msac

    for name in MINIMONKEY_TABLE:
        assert registry.get(name).family_options["minimonkey"]["tiles"] in msac.TILE_BUDGETS
    assert registry.get("ocrbench").family_options["minimonkey"]["tiles"] in msac.TILE_BUDGETS


def test_demo_task_loads_from_any_cwd(registry, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    task = TaskRegistry.discover(data_root=tmp_path / "unrelated").get("demo")
    assert task.dataset.jsonl == builtin_dir("tasks") / "demo" / "demo.jsonl"
    assert task.metrics == ("anls_docvqa", "exact_match_qwen")
    assert set(task.profiles) == {"monkey", "textmonkey", "minimonkey"}
    loaded = load_samples(task)  # also verifies dataset.sha256
    assert len(loaded.samples) == 36 and not loaded.problems
    assert all(
        s.image_path is not None and s.image_path.is_file() and s.error is None for s in loaded.samples
    )
    assert any(len(s.answers) == 2 for s in loaded.samples)
    assert jsonl_sha256(task.dataset.jsonl) == task.dataset.sha256


def test_demo_data_regenerates_byte_identical(tmp_path):
    spec = importlib.util.spec_from_file_location("make_demo_data", REPO / "scripts" / "make_demo_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.make_demo_data(tmp_path / "demo")
    shipped = REPO / "tasks" / "demo"
    shipped_files = sorted(p.relative_to(shipped) for p in shipped.rglob("*") if p.is_file())
    assert sorted(p.relative_to(tmp_path / "demo") for p in written) == shipped_files
    for relative in shipped_files:
        assert (tmp_path / "demo" / relative).read_bytes() == (shipped / relative).read_bytes(), relative
    assert sum((shipped / r).stat().st_size for r in shipped_files) < 2 * 1024 * 1024
