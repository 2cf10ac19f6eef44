"""The batched generation loop shared by `run` and `check-invariance`.

Records depend only on the sample and the model's answer (no rank, batch or timing information), so
predictions are identical however the samples were sharded, batched, killed and resumed. Timing goes to an
optional `ThroughputMeter` (`runner.throughput`), never into the records.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from monkeyeval.core.types import Generation, PredictionRecord, Sample
from monkeyeval.models.base import (
    INPUT_TOO_LONG,
    DecodeSettings,
    ModelAdapter,
    ModelInput,
    input_limit,
    too_long_error,
)
from monkeyeval.runner.data import DEFAULT_PREPROCESS_TIMEOUT_S, Prepared, WorkItem, cut
from monkeyeval.runner.workers import BatchPreparer, iterate_batches

if TYPE_CHECKING:
    from monkeyeval.runner.throughput import ThroughputMeter

GENERATION_FAILED = "generation failed"  # the error prefix of a sample whose generation raised (retried)
RETRIED_ERRORS = (GENERATION_FAILED, INPUT_TOO_LONG)  # errors a resumed run tries again


def refuse_long_inputs(adapter: ModelAdapter, batch: Sequence[Prepared], settings: DecodeSettings) -> None:
    """Turn every prepared sample whose prompt is over the input limit into a per-sample error."""
    limit, source = input_limit(adapter.context_length(), settings)
    if limit is None:
        return
    for prepared in batch:
        if prepared.error is not None:
            continue
        length = adapter.input_tokens(prepared.payload)
        if length is not None and length > limit:
            prepared.error = too_long_error(length, limit, source)
            prepared.payload = None


def record_for(item: WorkItem, generation: Generation | None, error: str | None) -> PredictionRecord:
    """The part-file record of one sample (unscored)."""
    sample = item.sample
    if generation is not None and generation.error is not None:  # the adapter refused this sample
        error = generation.error
        generation = None
    if generation is None:
        return PredictionRecord(
            index=sample.index,
            id=sample.id,
            prompt=item.model_text,
            prediction="",
            answers=sample.answers,
            error=error or "no generation",
        )
    return PredictionRecord(
        index=sample.index,
        id=sample.id,
        prompt=item.model_text,
        prediction=generation.text,
        answers=sample.answers,
        error=None,
        n_new_tokens=generation.n_new_tokens,
        truncated=generation.hit_max_new_tokens,
    )


def is_out_of_memory(exc: BaseException) -> bool:
    """True for torch's out-of-memory error (any device), or a RuntimeError that says so."""
    torch = sys.modules.get("torch")
    oom_type = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, (RuntimeError, MemoryError)) and "out of memory" in str(exc).lower()


def _generate_safely(
    adapter: ModelAdapter, inputs: list[ModelInput], settings: DecodeSettings, raise_oom: bool = False
) -> list[tuple[Generation | None, str | None]]:
    """Generate a batch; if it fails, retry its samples one by one and record what still fails.

    `raise_oom` (the `--batch-size auto` search) lets an out-of-memory error of the whole batch propagate.
    """
    try:
        generations = adapter.generate(inputs, settings)
        if len(generations) != len(inputs):
            raise RuntimeError(f"adapter returned {len(generations)} generations for {len(inputs)} inputs")
        return [(g, None) for g in generations]
    except Exception as batch_exc:
        if raise_oom and is_out_of_memory(batch_exc):
            raise
        if len(inputs) == 1:
            return [(None, f"{GENERATION_FAILED}: {type(batch_exc).__name__}: {batch_exc}")]
    results: list[tuple[Generation | None, str | None]] = []
    for model_input in inputs:
        results.extend(_generate_safely(adapter, [model_input], settings))
    return results


def prefill_tokens(adapter: ModelAdapter, ready: Sequence[Prepared]) -> int | None:
    """Prompt tokens of the samples that reach the model (None when the adapter cannot say for one)."""
    total = 0
    for prepared in ready:
        length = adapter.input_tokens(prepared.payload)
        if length is None:
            return None
        total += length
    return total


def generate_batch(
    adapter: ModelAdapter,
    batch: Sequence[Prepared],
    settings: DecodeSettings,
    raise_oom: bool = False,
    meter: ThroughputMeter | None = None,
) -> list[PredictionRecord]:
    """Records for one prepared batch (errored samples skip the model), in the batch's order.

    `meter` (optional) counts the batch once it succeeded: its records, their generated tokens and the
    prompt tokens of the samples that reached the model.
    """
    refuse_long_inputs(adapter, batch, settings)
    ready = [p for p in batch if p.error is None]
    inputs = [ModelInput(sample=p.item.sample, prompt=p.item.prompt, payload=p.payload) for p in ready]
    outcomes = iter(_generate_safely(adapter, inputs, settings, raise_oom) if inputs else [])
    records = []
    for prepared in batch:
        if prepared.error is not None:
            records.append(record_for(prepared.item, None, prepared.error))
        else:
            generation, error = next(outcomes)
            records.append(record_for(prepared.item, generation, error))
    if meter is not None:
        meter.add_batch(records, prefill_tokens(adapter, ready))
    return records


def predict(
    adapter: ModelAdapter,
    items: Sequence[WorkItem],
    settings: DecodeSettings,
    batch_size: int,
    num_workers: int,
    preprocess: Callable[[Sample, str], Any] | None = None,
    preprocess_timeout_s: float = DEFAULT_PREPROCESS_TIMEOUT_S,
    meter: ThroughputMeter | None = None,
    preparer: BatchPreparer | None = None,
) -> Iterator[list[PredictionRecord]]:
    """Yield one list of records per batch, in item order (the caller appends each to its part file);
    `meter` (optional) counts every batch (see `generate_batch`). A `preparer` (its workers kept from an
    earlier loop) replaces `num_workers` and `preprocess_timeout_s`."""
    step = preprocess if preprocess is not None else adapter.preprocessor()
    if preparer is None:
        batches = iterate_batches(items, step, batch_size, num_workers, preprocess_timeout_s)
    else:
        batches = preparer.batches(cut(items, batch_size), step)
    for batch in batches:
        yield generate_batch(adapter, batch, settings, meter=meter)
