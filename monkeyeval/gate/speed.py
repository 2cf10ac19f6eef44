"""The gate's speed check (`monkeyeval gate --max-slowdown FRACTION`): samples/s against the baseline's.

A baseline entry stores the approved run's throughput with the device it ran on and the settings that set
its speed (`SPEED_SETTINGS`, from the scores.json model fingerprint). The check compares samples/s only when
both sides have a throughput and the device (name, count) and those settings match; otherwise it is skipped
with a one-line reason, which is never a failure. It fails when samples/s fell by more than the fraction:
`1 - new / baseline > max_slowdown` (a slowdown exactly at the fraction passes; a speed-up never fails).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monkeyeval.results.schema import RunResult

SPEED_SETTINGS = ("family", "family_options", "dtype", "batch_size", "world_size", "max_new_tokens")
"""Model-fingerprint fields that change how fast a run goes; the speed check needs them equal.

The checkpoint hash is left out on purpose: new weights of the same model (a fine-tuning step) run at the
same speed, and the gate is per (model, task) already. Prompts are checked by the score fingerprint.
"""
SLACK = 1e-9


@dataclass(frozen=True)
class SpeedRecord:
    """What a baseline entry keeps of a run's throughput: its rates, device and speed settings."""

    samples_per_s: float
    generated_tokens_per_s: float | None
    device: str | tuple[str, ...]
    device_count: int
    settings: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The baseline entry's `throughput` object."""
        return {
            "samples_per_s": self.samples_per_s,
            "generated_tokens_per_s": self.generated_tokens_per_s,
            "device": self.device if isinstance(self.device, str) else list(self.device),
            "device_count": self.device_count,
            "settings": dict(self.settings),
        }

    @property
    def device_text(self) -> str:
        """`name ×count` (names joined by " / " when ranks differ)."""
        name = self.device if isinstance(self.device, str) else " / ".join(self.device)
        return f"{name} ×{self.device_count}"


def speed_settings(run: RunResult) -> dict[str, Any]:
    """The run's `SPEED_SETTINGS` from its scores.json model fingerprint (absent fields: None)."""
    model = run.fingerprint.get("model")
    model = model if isinstance(model, dict) else {}
    return {key: model.get(key) for key in SPEED_SETTINGS}


def speed_record(run: RunResult) -> SpeedRecord | None:
    """The run's speed as a baseline keeps it; None when scores.json has no throughput or no samples/s."""
    throughput = run.throughput
    if throughput is None or throughput.samples_per_s is None:
        return None
    return SpeedRecord(
        samples_per_s=throughput.samples_per_s,
        generated_tokens_per_s=throughput.generated_tokens_per_s,
        device=throughput.device,
        device_count=throughput.device_count,
        settings=speed_settings(run),
    )


@dataclass(frozen=True)
class SpeedCheck:
    """The outcome of one speed comparison: `skipped` says why none was made ("" when compared)."""

    base_samples_per_s: float | None = None
    new_samples_per_s: float | None = None
    slowdown: float | None = None  # 1 - new / baseline: 0.3 = 30 % fewer samples per second
    max_slowdown: float = 0.0
    skipped: str = ""

    @property
    def failed(self) -> bool:
        """True when samples/s fell by more than `max_slowdown`."""
        return self.slowdown is not None and self.slowdown > self.max_slowdown + SLACK

    def describe(self) -> str:
        """One line: the comparison, or why it was skipped."""
        if self.skipped:
            return f"speed check skipped: {self.skipped}"
        assert self.slowdown is not None
        change = "fell" if self.slowdown > 0 else "rose"
        return (
            f"speed: samples/s {change} {abs(self.slowdown):.1%} ({self.base_samples_per_s:.4g} -> "
            f"{self.new_samples_per_s:.4g}; allowed slowdown {self.max_slowdown:.0%}, --max-slowdown)"
        )


def check_speed(base: SpeedRecord | None, run: RunResult, max_slowdown: float) -> SpeedCheck:
    """Compare `run`'s samples/s with the baseline's `base`, or say why they cannot be compared."""
    if base is None:
        return SpeedCheck(
            max_slowdown=max_slowdown,
            skipped="the baseline entry has no throughput (approved from an untimed run or by an older "
            "monkeyeval; re-approve with --write-baseline from a timed run)",
        )
    new = speed_record(run)
    if new is None:
        why = run.throughput_note or "its scores.json records none"
        return SpeedCheck(max_slowdown=max_slowdown, skipped=f"the new run has no throughput ({why})")
    if (new.device, new.device_count) != (base.device, base.device_count):
        return SpeedCheck(
            max_slowdown=max_slowdown,
            skipped=f"device differs (baseline {base.device_text}, new {new.device_text})",
        )
    differing = [key for key in sorted(set(base.settings) | set(new.settings)) if _differs(base, new, key)]
    if differing:
        changes = ", ".join(
            f"{key} {base.settings.get(key)!r} -> {new.settings.get(key)!r}" for key in differing
        )
        return SpeedCheck(max_slowdown=max_slowdown, skipped=f"settings differ ({changes})")
    return SpeedCheck(
        base_samples_per_s=base.samples_per_s,
        new_samples_per_s=new.samples_per_s,
        slowdown=1.0 - new.samples_per_s / base.samples_per_s if base.samples_per_s > 0 else None,
        max_slowdown=max_slowdown,
        skipped="" if base.samples_per_s > 0 else "the baseline's samples/s is 0",
    )


def _differs(base: SpeedRecord, new: SpeedRecord, key: str) -> bool:
    return bool(base.settings.get(key) != new.settings.get(key))
