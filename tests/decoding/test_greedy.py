"""The shared greedy loop on a scripted decoder: eos blocking, fill ids, stopping, flags, raw step logits."""

from __future__ import annotations

import pytest
import torch

from monkeyeval.models.decoding.cache import KVCache
from monkeyeval.models.decoding.greedy import GreedyConfig, greedy_decode
from monkeyeval.models.decoding.masks import allowed_keys

EOS, FILL, VOCAB = 0, 9, 10


def one_hot_logits(tokens: list[int]) -> torch.Tensor:
    """(B, VOCAB) logits whose argmax is tokens[row] (score 2) with eos always the runner-up (score 1)."""
    logits = torch.zeros(len(tokens), VOCAB)
    logits[:, EOS] = 1.0
    for row, token in enumerate(tokens):
        logits[row, token] = 2.0
    return logits


class ScriptedDecoder:
    """Returns scripted logits per step and remembers what it was fed."""

    def __init__(self, script: list[list[int]]) -> None:
        self.script = script
        self.fed: list[list[int]] = []

    def next_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        self.fed.append(tokens.tolist())
        return one_hot_logits(self.script[len(self.fed)])


def test_rows_stop_at_eos_finished_rows_are_fed_the_fill_id_and_flags_are_per_row():
    script = [[3, 4], [EOS, 5], [7, 6], [8, 8]]
    decoder = ScriptedDecoder(script)
    config = GreedyConfig(max_new_tokens=4, eos_id=EOS, fill_id=FILL, keep_step_logits=True)
    result = greedy_decode(one_hot_logits(script[0]), decoder, config)
    assert result.token_ids == [[3, EOS], [4, 5, 6, 8]]
    assert result.stopped_on_eos == [True, False] and result.hit_max_new_tokens == [False, True]
    assert decoder.fed == [[3, 4], [EOS, 5], [FILL, 6]]  # the row that stopped is fed the fill id after eos
    assert len(result.step_logits) == 4 and result.step_logits[0].dtype == torch.float32


def test_generation_ends_when_every_row_has_stopped():
    script = [[5], [EOS], [6]]
    decoder = ScriptedDecoder(script)
    result = greedy_decode(one_hot_logits(script[0]), decoder, GreedyConfig(8, EOS, FILL))
    assert result.token_ids == [[5, EOS]] and decoder.fed == [[5]]
    assert result.stopped_on_eos == [True] and result.hit_max_new_tokens == [False]


def test_min_new_tokens_blocks_eos_but_step_logits_stay_raw():
    first = torch.zeros(1, VOCAB)
    first[0, EOS] = 5.0
    first[0, 2] = 1.0
    config = GreedyConfig(max_new_tokens=1, eos_id=EOS, fill_id=FILL, min_new_tokens=1, keep_step_logits=True)
    result = greedy_decode(first, ScriptedDecoder([[0]]), config)
    assert result.token_ids == [[2]] and result.hit_max_new_tokens == [True]
    assert torch.equal(result.step_logits[0], first)  # recorded before eos was blocked
    unblocked = greedy_decode(first, ScriptedDecoder([[0]]), GreedyConfig(1, EOS, FILL))
    assert unblocked.token_ids == [[EOS]] and unblocked.stopped_on_eos == [True]


def test_ties_take_the_first_index_and_the_budget_must_be_positive():
    tied = torch.zeros(1, VOCAB)
    tied[0, 3] = tied[0, 7] = 1.0
    assert greedy_decode(tied, ScriptedDecoder([[0]]), GreedyConfig(1, EOS, FILL)).token_ids == [[3]]
    with pytest.raises(ValueError, match="max_new_tokens must be >= 1"):
        GreedyConfig(0, EOS, FILL)


def test_kv_cache_appends_after_what_it_holds_and_rows_fill_from_their_start():
    cache = KVCache(1, (2, 1, 4, 2), torch.device("cpu"), torch.float32)
    key = torch.arange(8.0).reshape(2, 1, 2, 2)
    keys, values = cache.store(0, key, -key)
    assert keys.shape == (2, 1, 2, 2) and torch.equal(values, -key)
    row = cache.row(1, start=2)
    row_keys, _ = row.store(0, torch.ones(1, 1, 1, 2), torch.ones(1, 1, 1, 2))
    assert row_keys.shape == (1, 1, 1, 2) and torch.equal(cache.keys[0][0, 0, 2:], torch.zeros(2, 2))
    with pytest.raises(RuntimeError, match="KV cache full"):
        cache.length = 4
        cache.store(0, key[:, :, :1], key[:, :, :1])


def test_allowed_keys_is_causal_and_hides_padding_keys():
    valid = torch.tensor([[False, True, True], [True, True, True]])
    allowed = allowed_keys(valid, query_length=2, total=3, device=torch.device("cpu"))
    assert allowed.shape == (2, 1, 2, 3)
    assert allowed[0, 0].tolist() == [[False, True, False], [False, True, True]]  # padding key 0 hidden
    assert allowed[1, 0].tolist() == [[True, True, False], [True, True, True]]  # queries are positions 1, 2
    unpadded = allowed_keys(None, query_length=1, total=3, device=torch.device("cpu"))
    assert unpadded.shape == (1, 1, 1, 3) and bool(unpadded.all())
