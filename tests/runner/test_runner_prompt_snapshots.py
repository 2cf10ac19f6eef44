"""Snapshot of the runner's prompt and max_new_tokens selection for every shipped (family, task) pair.

The rendered prompt (before any adapter chat template) of a fixed synthetic sample, the chosen profile and
max_new_tokens are pinned in snapshots/final_prompts.json. After an intended change, regenerate with
`MONKEYEVAL_UPDATE_SNAPSHOTS=1 pytest tests/runner/test_runner_prompt_snapshots.py` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from monkeyeval.core.types import Sample
from monkeyeval.runner.request import render_prompt, select_max_new_tokens, select_prompt
from monkeyeval.tasks.registry import TaskRegistry

SNAPSHOT = Path(__file__).resolve().parent / "snapshots" / "final_prompts.json"
FAMILY_DEFAULT_PROFILES = {
    "hf": "",
    "monkey": "monkey_vqa",
    "textmonkey": "textmonkey_vqa",
    "minimonkey": "minimonkey_vqa",
}
SAMPLE = Sample(
    index=0,
    id="7",
    question="What is written on the sign?",
    answers=["stop"],
    image="images/sign_07.jpg",
    image_path=None,
    extra={"options": ["stop", "go"]},
)


def current_selection(tmp_path: Path) -> dict[str, dict[str, object]]:
    registry = TaskRegistry.discover(data_root=tmp_path)
    table: dict[str, dict[str, object]] = {}
    for task in sorted(registry.tasks(), key=lambda t: t.name):
        for family, default in FAMILY_DEFAULT_PROFILES.items():
            profile = select_prompt(task, family, default, None)
            table[f"{family}/{task.name}"] = {
                "profile": profile.name,
                "prompt": render_prompt(profile, SAMPLE),
                "max_new_tokens": select_max_new_tokens(task, family, None),
            }
    return table


def test_shipped_prompt_selection_matches_the_snapshot(tmp_path: Path):
    table = current_selection(tmp_path)
    if os.environ.get("MONKEYEVAL_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(
            json.dumps(table, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8"
        )
    pinned = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert sorted(table) == sorted(pinned), "shipped tasks changed: regenerate the snapshot and review it"
    changed = {key: (pinned[key], table[key]) for key in table if table[key] != pinned[key]}
    assert not changed, f"prompt selection changed for {sorted(changed)[:5]}: {list(changed.values())[:2]}"


def test_snapshot_pins_known_upstream_prompts():
    pinned = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert pinned["monkey/docvqa_test"]["prompt"] == (
        "<img>images/sign_07.jpg</img>What is written on the sign? Answer:"
    )
    assert pinned["minimonkey/ocrbench"]["max_new_tokens"] == 1024
    assert pinned["monkey/ocrbench"]["profile"] == "monkey_chat"
    assert pinned["hf/demo"]["prompt"] == "What is written on the sign?"
