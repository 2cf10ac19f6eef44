"""Worker-side preprocessing: a torch DataLoader over (sample, prompt) items, errors recorded per sample.

Each item is preprocessed by the adapter's picklable `preprocessor()` in DataLoader worker processes
(overlapping with generation in the main process). A sample whose image path escapes the image root, whose
image is missing or cannot be decoded, carries an error string instead of a payload; the run goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from monkeyeval.types import Sample


@dataclass(frozen=True)
class WorkItem:
    """One sample to run: `prompt` is the rendered prompt, `model_text` the exact model input stored."""

    sample: Sample
    prompt: str
    model_text: str


@dataclass
class Prepared:
    """A work item after preprocessing: payload, or the error that replaced it."""

    item: WorkItem
    payload: Any = None
    error: str | None = None


def describe_preprocess_error(sample: Sample, exc: BaseException) -> str:
    """A one-line error for predictions.jsonl that names the image and what went wrong."""
    if isinstance(exc, FileNotFoundError):
        return f"missing image {sample.image!r}: {sample.image_path} does not exist"
    if isinstance(exc, (OSError, SyntaxError)):  # PIL's UnidentifiedImageError is an OSError
        return f"cannot decode image {sample.image!r} ({sample.image_path}): {type(exc).__name__}: {exc}"
    return f"preprocessing failed for image {sample.image!r}: {type(exc).__name__}: {exc}"


def prepare(item: WorkItem, preprocess: Callable[[Sample, str], Any]) -> Prepared:
    """Run the adapter's preprocessor on one item, turning any exception into a per-sample error."""
    if item.sample.error is not None:
        return Prepared(item, error=item.sample.error)
    try:
        return Prepared(item, payload=preprocess(item.sample, item.prompt))
    except Exception as exc:
        return Prepared(item, error=describe_preprocess_error(item.sample, exc))


class PreprocessDataset:
    """Map-style dataset for torch's DataLoader: item i -> Prepared."""

    def __init__(self, items: Sequence[WorkItem], preprocess: Callable[[Sample, str], Any]) -> None:
        self.items = list(items)
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, position: int) -> Prepared:
        return prepare(self.items[position], self.preprocess)


def _as_list(batch: list[Prepared]) -> list[Prepared]:
    return batch


def iterate_batches(
    items: Sequence[WorkItem],
    preprocess: Callable[[Sample, str], Any],
    batch_size: int,
    num_workers: int,
) -> Iterator[list[Prepared]]:
    """Batches of prepared items in the given order (workers preprocess ahead of the consumer)."""
    if batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {batch_size}")
    if not items:
        return
    if num_workers <= 0:
        for start in range(0, len(items), batch_size):
            yield [prepare(item, preprocess) for item in items[start : start + batch_size]]
        return
    from torch.utils.data import DataLoader

    loader: DataLoader[Prepared] = DataLoader(
        PreprocessDataset(items, preprocess),  # type: ignore[arg-type]
        batch_size=batch_size,
        shuffle=False,
        num_workers=min(num_workers, max(1, len(items) // batch_size)),
        collate_fn=_as_list,
        prefetch_factor=4,
    )
    yield from loader
