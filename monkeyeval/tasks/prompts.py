"""Named prompt profiles: how each model family turns a task's question into its exact input text.

A task YAML has a generic `prompt` (a template with `{question}`) and may map model families to profile
names (`profiles: {monkey: monkey_vizwiz}`); otherwise the family's default profile applies, and
`--prompt-profile` overrides both. Templates are filled with `{image}` (the jsonl image field, verbatim, as
upstream writes it into Monkey prompts), `{question}` and, for multiple choice, `{options}` (the lettered
option block). Every string below is pinned to the byte by snapshot tests: see the facts doc sections 2.2,
3.2 and 4.2 for where each comes from.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from monkeyeval.core.errors import UserError

MINIMONKEY_VQA_SUFFIX = "\nAnswer the question using a single word or phrase."


@dataclass(frozen=True)
class PromptProfile:
    """A named prompt template, with the upstream source it reproduces."""

    name: str
    template: str
    source: str

    def render(self, *, question: str, image: str = "", options: str = "") -> str:
        """Fill the template. Question and image text are inserted verbatim (never re-parsed as templates)."""
        values = {"question": question, "image": image, "options": options}
        return "".join(
            literal + (values[field] if field is not None else "")
            for literal, field, _spec, _conv in string.Formatter().parse(self.template)
        )


def _profiles(*items: PromptProfile) -> Mapping[str, PromptProfile]:
    return MappingProxyType({p.name: p for p in items})


PROFILES: Mapping[str, PromptProfile] = _profiles(
    PromptProfile("plain", "{question}", "the task's own prompt, no model-specific wrapping"),
    PromptProfile(
        "monkey_vqa",
        "<img>{image}</img>{question} Answer:",
        "Monkey eval/evaluate_vqa.py @498e1d9 (paper-time 51fea27): no space after </img>, no trailing space",
    ),
    PromptProfile(
        "monkey_vizwiz",
        "<img>{image}</img> {question} When the provided information is insufficient, "
        'respond with "Unanswerable". Answer:',
        "Monkey eval/evaluate_vqa.py vizwiz_val prompt ('#vizwiz 61.2')",
    ),
    PromptProfile(
        "monkey_vizwiz_alt",
        "<img>{image}</img> {question} When the provided information is insufficient, "
        'respond with "unanswerable". Answer: ',
        "Monkey eval/evaluate_vqa.py commented alternative ('#vizwiz 68.37')",
    ),
    PromptProfile(
        "monkey_chat",
        "<img>{image}</img> {question} Answer: ",
        "Monkey inference.py, VLMEvalKit Monkey/MonkeyChat, MultimodalOCR OCRBench/scripts/monkey.py",
    ),
    PromptProfile(
        "monkey_vlmeval_mcq",
        "<img>{image}</img> \n {question} Answer: ",
        "VLMEvalKit MonkeyChat multiple-choice / Y-N / HallusionBench prompt",
    ),
    PromptProfile(
        "textmonkey_vqa",
        "<img>{image}</img> {question} Answer:",
        "Monkey eval/evaluate_vqa_doc.py (TextMonkey): space after </img>, no trailing space",
    ),
    PromptProfile(
        "minimonkey_vqa",
        "<image>\n{question}" + MINIMONKEY_VQA_SUFFIX,
        "Mini-Monkey eval/internvl_chat.py build_prompt (VQA-type datasets, OCRBench); "
        "MultimodalOCR MiniMonkey.py",
    ),
    PromptProfile(
        "minimonkey_mme",
        "<image>\n{question} Answer the question using a single word or phrase.",
        "Mini-Monkey eval/internvl_chat.py build_prompt, MME",
    ),
    PromptProfile(
        "minimonkey_yesno",
        "<image>\n{question} Please answer yes or no. Answer the question using a single word or phrase.",
        "Mini-Monkey eval/internvl_chat.py build_prompt, HallusionBench",
    ),
    PromptProfile(
        "minimonkey_mcq",
        "<image>\n{question}{options}\nAnswer with the option's letter from the given choices directly.",
        "Mini-Monkey eval/internvl_chat.py build_prompt, multiple choice (options as '\\nA. text' lines)",
    ),
    PromptProfile(
        "minimonkey_bare",
        "<image>\n{question}",
        "Mini-Monkey eval/internvl_chat.py build_prompt, MathVista / MMVet (bare question)",
    ),
)


class UnknownProfileError(UserError, KeyError):
    """A prompt profile name no built-in profile has."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def get_profile(name: str) -> PromptProfile:
    """Look up a profile by name, with the list of known names in the error."""
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise UnknownProfileError(f"unknown prompt profile {name!r}; known profiles: {known}") from None


def format_options(options: Any) -> str:
    """Lettered option block for multiple choice: a dict {'A': text} or a list -> '\\nA. text\\nB. text'."""
    if not options:
        return ""
    if isinstance(options, Mapping):
        items = [(str(k), str(v)) for k, v in options.items()]
    else:
        items = [(chr(ord("A") + i), str(v)) for i, v in enumerate(options)]
    return "".join(f"\n{letter}. {text}" for letter, text in items)
