"""GPU suite: full-size random-weight Monkey, TextMonkey and Mini-Monkey throughput, and bf16-vs-fp32 answers.

    python bench/gpu_suite.py --out results/gpu_suite.json           # full size (one H100/H200, < 8 min)
    python bench/gpu_suite.py --tiny --device cpu --out /tmp/s.json  # parity-fixture configs, any CPU

Throughput: each model is built from its real config (`real_models.py`; `--tiny`: the parity fixtures'
config.json) with random N(0, 0.02) weights and timed at batch 1/4/16 (tiny: 1/2) on real prompt sizes:
Monkey 1300 tokens (1280 image slots), TextMonkey 800 (768 image slots: 512 kept local + 256 global),
Mini-Monkey 13 and 25 tiles of 256 tokens (tiny: 1 and 2 tiles; the Monkey spans are fixed by the
architecture at every scale). Every row generates exactly 32 new tokens (tiny: 4; eos blocked). Per case:
samples/s, generated tokens/s, achieved TFLOP/s, its fraction of the device's bf16 dense peak
(`PEAK_BF16_TFLOPS`: H100 SXM 989, H100 PCIe 756, H200 989, A100 312; an unknown device, the CPU or a
float32 run: null, and `device.peak_note` says why) and the peak of `torch.cuda.max_memory_allocated`
(reset per case). A case is one warm-up plus 2 timed runs (tiny: 1 run, no warm-up); the fastest counts.
Vision / LM split: Monkey times the tower and `greedy_generate` apart; Mini-Monkey times a separate
vision pass and reports LM = the whole `greedy_generate` (vision included) minus that pass.

FLOPs (counted analytically, `real_models.py`; a multiply-add is 2 FLOPs; only matmul-class work counts:
linear layers, convolutions, attention scores and values; norms, activations, softmax, RoPE, interpolation
are left out, < 1 %):

- language model, per row with prompt L and N new tokens:
  `2 P (L + N - 1) + 2 H V N + layers [2 d L (L + 1) + 4 d ((N - 1) L + N (N - 1) / 2)]`;
  P = matmul weights of all decoder blocks (the embedding is a lookup), H x V = the untied head, run at the
  N positions that give logits; d = query heads x head_dim. Causal attention counts the attended pairs
  only: prefill L (L + 1) / 2, decode step t attends L + t keys; 4 d per pair (q.k and p.v).
- ViT block (width W, MLP width M) on a view of T tokens: `2 T (4 W^2 + 2 W M) + 4 T^2 W`; patch
  embedding `2 patches 3 p^2 W` (patch p).
- Monkey, per image: 4 windows (+ LoRA: `2 T W 160` per layer) and the global view, T = 1024; resampler
  (Q = 256 queries of width E = output_dim) per view `2 T W E + 4 T E^2 + 4 Q T E + 4 Q E^2`, plus
  `2 Q E^2` once per call (the shared queries).
- TextMonkey, per image: the same 5 views (no LoRA in the real config), 4 cross-window attentions over the
  64 x 64 patch map (downsample, qkv + proj on the 72 x 72 padded map, 12 x 12-window attention, MLP), and
  the token resampler (`2 n^2 E` redundancy scores, n = 1024 local tokens; downsample; Perceiver attention
  and feed-forward on the r = 512 kept tokens).
- Mini-Monkey, per tile: InternViT on 1025 tokens, then mlp1 `2 256 (4 W H + H^2)`.

tests/bench/test_gpu_suite.py checks these against a hand calculation and, on the tiny models, against
torch's FlopCounterMode (math attention): equal except the causal halving above. TFLOP/s = a batch's FLOPs
/ its wall seconds (vision + prefill + decode).

Agreement: every parity-fixture case (tests/fixtures/parity/{monkey,textmonkey,minimonkey}) runs through
the real adapter (`load`, `preprocessor()`, `generate`, batch 1) in float32 with TF32 off and in bf16;
reported: identical answers / cases, the first divergent case, and how many answers equal the recorded
upstream float32 answer. It runs first (it is small); then the throughput cases.

Budget: once `--budget-s` (default 420) wall seconds have passed, remaining cases are skipped with a note.
The JSON (`--out`) is rewritten atomically after every case, so an interrupted run still leaves figures.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import real_models as rm
import torch
from gpu_agreement import fixture_agreement

from monkeyeval.core.atomic import atomic_write_json
from monkeyeval.core.errors import UserError
from monkeyeval.models.minimonkey.model import MiniMonkeyConfig

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "parity"
MODELS = ("monkey", "textmonkey", "minimonkey")
PEAK_BF16_TFLOPS: tuple[tuple[tuple[str, ...], str, float], ...] = (  # (name contains all, label, peak)
    (("H100", "PCIE"), "H100 PCIe", 756.0),
    (("H100", "HBM3"), "H100 SXM", 989.0),
    (("H100", "SXM"), "H100 SXM", 989.0),
    (("H200",), "H200", 989.0),
    (("A100",), "A100", 312.0),
)


LM_FORMULA = (
    "LM per row: 2 P (L + N - 1) + 2 H V N + layers [2 d L (L + 1) + 4 d ((N - 1) L + N (N - 1) / 2)]; "
    "vision towers and symbols: the docstring of bench/gpu_suite.py"
)


class GpuSuiteError(UserError):
    """A bad option or input folder of the GPU suite."""


@dataclass(frozen=True)
class Scale:
    """Sizes of one suite scale."""

    batches: tuple[int, ...]
    new_tokens: int
    warmup: int
    repeats: int
    monkey_tokens: int
    textmonkey_tokens: int
    minimonkey_tiles: tuple[int, ...]


SCALES = {
    "full": Scale((1, 4, 16), 32, 1, 2, 1300, 800, (13, 25)),
    "tiny": Scale((1, 2), 4, 0, 1, 1300, 800, (1, 2)),
}


@dataclass
class Suite:
    """The run's settings and the JSON document, rewritten after every step."""

    out: Path
    device: torch.device
    dtype: torch.dtype
    scale: Scale
    budget_s: float
    peak: float | None
    start: float = field(default_factory=time.perf_counter)
    doc: dict[str, Any] = field(default_factory=dict)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def over_budget(self) -> str | None:
        """The skip note once the wall-time budget is spent, else None."""
        if self.elapsed() <= self.budget_s:
            return None
        return f"skipped: the wall-time budget of {self.budget_s:.0f} s was spent ({self.elapsed():.0f} s)"

    def save(self, complete: bool = False) -> None:
        self.doc["elapsed_s"] = round(self.elapsed(), 2)
        self.doc["complete"] = complete
        atomic_write_json(self.out, self.doc)


def device_peak(device: torch.device) -> tuple[str, float | None, str]:
    """(device name, bf16 dense peak TFLOP/s or None, where the peak came from or why it is absent)."""
    if device.type != "cuda":
        return device.type, None, f"{device.type}: the peak table covers GPUs only, so peak_fraction is null"
    name = torch.cuda.get_device_name(device)
    return (name, *peak_for_name(name))


def peak_for_name(name: str) -> tuple[float | None, str]:
    """The bf16 dense peak of a CUDA device name (first table row whose words it all contains)."""
    for needles, label, peak in PEAK_BF16_TFLOPS:
        if all(needle in name.upper() for needle in needles):
            return peak, f"{label} bf16 dense peak"
    known = ", ".join(f"{label} {peak:.0f}" for _, label, peak in PEAK_BF16_TFLOPS)
    return None, f"device {name!r} is not in the peak table ({known}), so peak_fraction is null"


def case_key(model: str, batch: int, prompt: str) -> dict[str, Any]:
    return {"model": model, "batch": batch, "prompt": prompt}


def record_case(
    suite: Suite, key: dict[str, Any], timing: dict[str, float], flops: rm.FlopCount, prompt_tokens: int
) -> dict[str, Any]:
    """One measured case as it goes into the JSON."""
    total, batch, new = timing["total_s"], key["batch"], suite.scale.new_tokens
    tflops = flops.total / total / 1e12
    peak_memory = None
    if suite.device.type == "cuda":
        peak_memory = round(torch.cuda.max_memory_allocated(suite.device) / 2**30, 3)
    return {
        **key,
        "status": "ok",
        "prompt_tokens": prompt_tokens,
        "new_tokens": new,
        "seconds": {k.removesuffix("_s"): round(v, 6) for k, v in timing.items()},
        "samples_per_s": batch / total,
        "generated_tokens_per_s": batch * new / total,
        "flops": {"vision": flops.vision, "language": flops.language, "total": flops.total},
        "tflops_per_s": tflops,
        "peak_fraction": None if suite.peak is None else tflops / suite.peak,
        "peak_memory_gib": peak_memory,
    }


def measure(suite: Suite, run_once: Callable[[], dict[str, float]]) -> dict[str, float]:
    """Warm-up runs, then the fastest of `repeats` timed runs (peak memory reset first)."""
    if suite.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(suite.device)
    for _ in range(suite.scale.warmup):
        run_once()
    return min((run_once() for _ in range(suite.scale.repeats)), key=lambda t: t["total_s"])


def monkey_prompt(suite: Suite, name: str, config: dict[str, Any]) -> tuple[list[int], str]:
    """The prompt ids of Monkey or TextMonkey at this scale, and their label."""
    tokens = suite.scale.monkey_tokens if name == "monkey" else suite.scale.textmonkey_tokens
    span = rm.image_span(config)
    ids = rm.prompt_ids(config, tokens, span)
    return ids, f"{len(ids)} tokens ({span} image)"


def tiles_label(tiles: int, per_tile: int) -> str:
    return f"{tiles} tile{'s' if tiles > 1 else ''} ({tiles * per_tile} image)"


def planned_keys(suite: Suite, name: str, config: dict[str, Any]) -> list[dict[str, Any]]:
    """The case keys of one model, in run order (known before the model is built)."""
    if name != "minimonkey":
        label = monkey_prompt(suite, name, config)[1]
        return [case_key(name, b, label) for b in suite.scale.batches]
    per_tile = MiniMonkeyConfig.from_dict(config).tokens_per_tile
    return [
        case_key(name, b, tiles_label(t, per_tile))
        for t in suite.scale.minimonkey_tiles
        for b in suite.scale.batches
    ]


def built(suite: Suite, name: str, model: torch.nn.Module, began: float) -> None:
    suite.doc["models"][name] = {
        "parameters": sum(p.numel() for p in model.parameters()),
        "build_s": round(time.perf_counter() - began, 2),
    }


def monkey_cases(suite: Suite, name: str, config: dict[str, Any]) -> Iterator[Callable[[], dict[str, Any]]]:
    """Monkey or TextMonkey: one thunk per batch size (in `planned_keys` order) that measures the case."""
    ids, label = monkey_prompt(suite, name, config)
    began = time.perf_counter()
    model = rm.random_monkey(config, suite.device, suite.dtype)
    built(suite, name, model, began)
    shape = rm.qwen_shape(config)
    vision = rm.textmonkey_vision_flops if name == "textmonkey" else rm.monkey_vision_flops
    for batch in suite.scale.batches:

        def run(batch: int = batch) -> dict[str, Any]:
            def once() -> dict[str, float]:
                seconds = rm.time_batch(model, ids, batch, suite.scale.new_tokens, suite.device)
                return {"total_s": sum(seconds), "vision_s": seconds[0], "language_s": seconds[1]}

            flops = rm.FlopCount(
                vision(config["visual"], batch),
                batch * rm.language_flops(shape, len(ids), suite.scale.new_tokens),
            )
            return record_case(suite, case_key(name, batch, label), measure(suite, once), flops, len(ids))

        yield run


def minimonkey_cases(suite: Suite, raw: dict[str, Any]) -> Iterator[Callable[[], dict[str, Any]]]:
    """Mini-Monkey: one thunk per (tiles, batch), in `planned_keys` order."""
    config = MiniMonkeyConfig.from_dict(raw)
    began = time.perf_counter()
    model = rm.random_minimonkey(config, str(suite.device), str(suite.dtype).removeprefix("torch."))
    built(suite, "minimonkey", model, began)
    settings = rm.forced_settings(config, suite.scale.new_tokens)
    shape = rm.internlm2_shape(config)
    generator = torch.Generator().manual_seed(0)
    for tiles in suite.scale.minimonkey_tiles:
        for batch in suite.scale.batches:

            def run(tiles: int = tiles, batch: int = batch) -> dict[str, Any]:
                requests = [rm.request(config, tiles, generator) for _ in range(batch)]
                length = int(requests[0].input_ids.shape[0])
                key = case_key("minimonkey", batch, tiles_label(tiles, config.tokens_per_tile))

                def once() -> dict[str, float]:
                    seconds = rm.time_minimonkey_batch(model, requests, settings, str(suite.device))
                    return {**seconds, "language_s": seconds["total_s"] - seconds["vision_s"]}

                flops = rm.FlopCount(
                    rm.minimonkey_vision_flops(config, batch * tiles),
                    batch * rm.language_flops(shape, length, suite.scale.new_tokens),
                )
                return record_case(suite, key, measure(suite, once), flops, length)

            yield run


def model_config(name: str, tiny: bool) -> dict[str, Any]:
    if tiny:
        loaded: dict[str, Any] = json.loads((FIXTURES / name / "checkpoint" / "config.json").read_text())
        return loaded
    return {"monkey": rm.REAL_MONKEY_CONFIG, "textmonkey": rm.REAL_TEXTMONKEY_CONFIG}.get(
        name, rm.REAL_MINIMONKEY_CONFIG
    )


def free_device_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def run_model(suite: Suite, name: str, config: dict[str, Any]) -> None:
    """Build one model and run its cases, each only while the budget lasts; then free its memory."""
    run_cases(suite, name, config)  # the model lives in this call's frames only
    free_device_memory(suite.device)


def run_cases(suite: Suite, name: str, config: dict[str, Any]) -> None:
    cases: list[dict[str, Any]] = suite.doc["cases"]
    keys = planned_keys(suite, name, config)
    note = suite.over_budget()
    if note is not None:  # not even built
        cases.extend({**key, "status": "skipped", "note": note} for key in keys)
        suite.save()
        return
    thunks = minimonkey_cases(suite, config) if name == "minimonkey" else monkey_cases(suite, name, config)
    for key, thunk in zip(keys, thunks, strict=True):
        note = suite.over_budget()
        if note is not None:
            row: dict[str, Any] = {**key, "status": "skipped", "note": note}
        else:
            try:
                row = thunk()
            except torch.cuda.OutOfMemoryError as exc:
                row = {**key, "status": "failed", "error": f"CUDA out of memory: {str(exc).splitlines()[0]}"}
                free_device_memory(suite.device)
        cases.append(row)
        print(f"[{suite.elapsed():6.1f}s] {format_row(row)}", file=sys.stderr, flush=True)
        suite.save()


def format_row(row: dict[str, Any]) -> str:
    head = f"{row['model']:<11} {row['prompt']:<26} {row['batch']:>5}"
    if row["status"] != "ok":
        return f"{head}  {row['status']}: {row.get('note') or row.get('error')}"
    fraction = "-" if row["peak_fraction"] is None else f"{100 * row['peak_fraction']:.1f}%"
    memory = "-" if row["peak_memory_gib"] is None else f"{row['peak_memory_gib']:.1f}"
    seconds = row["seconds"]
    return (
        f"{head} {row['samples_per_s']:10.3f} {row['generated_tokens_per_s']:10.1f} "
        f"{row['tflops_per_s']:9.3f} {fraction:>7} {memory:>8} "
        f"{seconds['vision']:9.3f} {seconds['language']:9.3f}"
    )


def print_table(doc: dict[str, Any]) -> None:
    device = doc["device"]
    peak = device["peak_bf16_tflops"]
    print(f"device: {device['name']} ({doc['dtype']}); bf16 peak: {peak} TFLOP/s ({device['peak_note']})")
    print(
        f"{'model':<11} {'prompt':<26} {'batch':>5} {'samples/s':>10} {'tokens/s':>10} {'TFLOP/s':>9} "
        f"{'%peak':>7} {'peak GiB':>8} {'vision s':>9} {'LM s':>9}"
    )
    for row in doc["cases"]:
        print(format_row(row))
    for family, result in doc["agreement"]["families"].items():
        if "note" in result:
            print(f"agreement {family}: {result['note']}")
            continue
        first = result["first_divergent"]
        print(
            f"agreement {family}: {result['identical']}/{result['cases']} identical bf16 vs fp32 "
            f"(first divergent: {first['id'] if first else 'none'}); fp32 = upstream "
            f"{result['fp32_matches_fixture']}/{result['cases']}"
        )
    print(f"elapsed {doc['elapsed_s']:.1f} s; complete: {doc['complete']}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="JSON file (rewritten after every case)")
    parser.add_argument("--tiny", action="store_true", help="same as --config-scale tiny")
    parser.add_argument("--config-scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["bf16", "fp16", "fp32"], help="default: bf16 on GPU, fp32 on CPU")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma list of {', '.join(MODELS)}")
    parser.add_argument("--budget-s", type=float, default=420.0, help="skip remaining cases after this")
    parser.add_argument("--parity-dir", type=Path, help="unpacked parity fixtures (default: the repo's)")
    parser.add_argument("--no-agreement", action="store_true", help="throughput only")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tiny = args.tiny or args.config_scale == "tiny"
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise GpuSuiteError(f"--models {args.models}: unknown {unknown}; choose from {', '.join(MODELS)}")
    device = torch.device(args.device)
    dtype_name = args.dtype or ("bf16" if device.type == "cuda" else "fp32")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype_name]
    name, peak, peak_note = device_peak(device)
    if peak is not None and dtype == torch.float32:
        peak, peak_note = None, f"{peak_note}; this run is float32, so peak_fraction is null"
    scale = SCALES["tiny" if tiny else "full"]
    suite = Suite(args.out, device, dtype, scale, args.budget_s, peak)
    suite.doc = {
        "suite": "bench/gpu_suite.py",
        "scale": "tiny" if tiny else "full",
        "device": {"type": device.type, "name": name, "peak_bf16_tflops": peak, "peak_note": peak_note},
        "dtype": str(dtype).removeprefix("torch."),
        "settings": {**scale.__dict__, "budget_s": args.budget_s, "models": models},
        "torch": torch.__version__,
        "flop_formula": LM_FORMULA,
        "cases": [],
        "models": {},
        "agreement": {"tf32": False, "families": {}},
    }
    suite.save()
    if not args.no_agreement:
        for family in models:
            families = suite.doc["agreement"]["families"]
            note = suite.over_budget()
            families[family] = {"note": note} if note else fixture_agreement(family, args.parity_dir, device)
            suite.save()
    for model in models:
        run_model(suite, model, model_config(model, tiny))
    suite.save(complete=True)
    print_table(suite.doc)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
