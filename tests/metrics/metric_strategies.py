"""Shared generators for metric tests: short answer-like strings with whitespace, case and unicode edges."""

from __future__ import annotations

import random

from hypothesis import strategies as st

# Characters chosen to exercise every normalisation rule: ASCII case, padding and internal whitespace runs,
# tabs/newlines, unicode whitespace (U+3000), case mappings that change length (ß -> SS, ﬁ -> FI,
# İ -> i̇), a combining accent, an astral-plane letter, digits, punctuation and periods.
EDGE_ALPHABET = [*"abcAB  \t\n.,%1-", "ß", "ﬁ", "İ", "é", "e\u0301", "\u3000", "\U0001d518", "Σ"]

edge_text = st.lists(st.sampled_from(EDGE_ALPHABET), max_size=10).map("".join)
ascii_text = st.text(alphabet="abcdeABCDE xyz", max_size=10)


def random_edge_text(rng: random.Random, max_len: int = 10) -> str:
    """A random string over EDGE_ALPHABET (seeded; for the bulk cross-checks)."""
    return "".join(rng.choice(EDGE_ALPHABET) for _ in range(rng.randint(0, max_len)))


def random_answer_pairs(
    seed: int, count: int, max_golds: int = 3, similar: bool = True
) -> tuple[list[str], list[list[str]]]:
    """`count` predictions with 1..max_golds golds each; with `similar`, golds are often small edits of the
    prediction so that scores land on both sides of the 0.5 threshold."""
    rng = random.Random(seed)
    predictions: list[str] = []
    answers: list[list[str]] = []
    for _ in range(count):
        pred = random_edge_text(rng)
        golds = []
        for _ in range(rng.randint(1, max_golds)):
            if similar and pred and rng.random() < 0.6:
                chars = list(pred)
                for _ in range(rng.randint(0, 3)):
                    position = rng.randrange(len(chars) + 1)
                    op = rng.random()
                    if op < 0.4 and chars:
                        del chars[min(position, len(chars) - 1)]
                    elif op < 0.7:
                        chars.insert(position, rng.choice(EDGE_ALPHABET))
                    elif chars:
                        chars[min(position, len(chars) - 1)] = rng.choice(EDGE_ALPHABET)
                golds.append("".join(chars))
            else:
                golds.append(random_edge_text(rng))
        predictions.append(pred)
        answers.append(golds)
    return predictions, answers
