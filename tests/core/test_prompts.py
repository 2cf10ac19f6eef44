"""Snapshot tests: every shipped prompt profile, to the byte (facts doc 2.2, 3.2, 4.2)."""

from __future__ import annotations

import pytest

from monkeyeval.tasks.prompts import PROFILES, format_options, get_profile

IMAGE = "data/estvqa/test_image/011364.jpg"
QUESTION = "What is this store?"

EXPECTED = {
    "plain": "What is this store?",
    "monkey_vqa": "<img>data/estvqa/test_image/011364.jpg</img>What is this store? Answer:",
    "monkey_vizwiz": (
        "<img>data/estvqa/test_image/011364.jpg</img> What is this store? When the provided information is "
        'insufficient, respond with "Unanswerable". Answer:'
    ),
    "monkey_vizwiz_alt": (
        "<img>data/estvqa/test_image/011364.jpg</img> What is this store? When the provided information is "
        'insufficient, respond with "unanswerable". Answer: '
    ),
    "monkey_chat": "<img>data/estvqa/test_image/011364.jpg</img> What is this store? Answer: ",
    "monkey_vlmeval_mcq": "<img>data/estvqa/test_image/011364.jpg</img> \n What is this store? Answer: ",
    "textmonkey_vqa": "<img>data/estvqa/test_image/011364.jpg</img> What is this store? Answer:",
    "minimonkey_vqa": "<image>\nWhat is this store?\nAnswer the question using a single word or phrase.",
    "minimonkey_mme": "<image>\nWhat is this store? Answer the question using a single word or phrase.",
    "minimonkey_yesno": (
        "<image>\nWhat is this store? Please answer yes or no. "
        "Answer the question using a single word or phrase."
    ),
    "minimonkey_mcq": (
        "<image>\nWhat is this store?\nA. pizzeria\nB. bakery\n"
        "Answer with the option's letter from the given choices directly."
    ),
    "minimonkey_bare": "<image>\nWhat is this store?",
}


def test_every_profile_has_a_snapshot() -> None:
    assert set(PROFILES) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_profile_renders_byte_exact(name: str) -> None:
    options = format_options({"A": "pizzeria", "B": "bakery"})
    assert get_profile(name).render(question=QUESTION, image=IMAGE, options=options) == EXPECTED[name]


def test_braces_in_questions_and_paths_are_inserted_verbatim() -> None:
    rendered = get_profile("monkey_vqa").render(question="Is {x} = {0}?", image="img/{a}.png")
    assert rendered == "<img>img/{a}.png</img>Is {x} = {0}? Answer:"


def test_format_options_from_list_letters_in_order() -> None:
    assert format_options(["red", "blue", "green"]) == "\nA. red\nB. blue\nC. green"
    assert format_options(None) == ""


def test_unknown_profile_lists_known_names() -> None:
    with pytest.raises(KeyError, match="monkey_vqa"):
        get_profile("monkey_vqaa")
