"""`monkeyeval run`, `monkeyeval merge` and `monkeyeval check-invariance`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from monkeyeval.cli.errors import EXIT_CODES_HELP, EXIT_FAILED, reported
from monkeyeval.core.errors import UserError
from monkeyeval.core.paths import expand_checkpoint_alias

if TYPE_CHECKING:
    from rich.console import Console

RUN_HELP = """Run tasks through a model and write predictions + scores to results/<model>/<task>/.

Examples:

\b
  monkeyeval run --task demo --ckpt demo
  monkeyeval run --task monkey_paper --ckpt echo840/Monkey --nproc 4
  torchrun --nproc-per-node 8 -m monkeyeval run --task docvqa_test --ckpt DIR
  monkeyeval run --task ocrbench --ckpt mx262/MiniMonkey --shard 3/16
  monkeyeval merge results/mx262__MiniMonkey/ocrbench      (after all shards)

Re-running the same command resumes: finished samples are skipped, whatever world size wrote them.

"""
RUN_HELP += EXIT_CODES_HELP


def _stdout_console() -> Console:
    """stdout; 140 columns when it is not a terminal (logs), so the summary table is not squeezed."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=140)


def run_command(
    task: list[str] = typer.Option(
        ..., "--task", "-t", help="Task or group name (repeatable, or a comma list: demo,ocrbench)."
    ),
    ckpt: str = typer.Option(
        ...,
        "--ckpt",
        help="Checkpoint: local folder, hub id, a predictions .jsonl (replay), or `demo` (the bundled "
        "random-weight demo checkpoint; a local folder ./demo holding a config.json wins).",
    ),
    model: str | None = typer.Option(
        None,
        "--model",
        help="Model family (hf, monkey, textmonkey, minimonkey, replay, ...); default: detect.",
    ),
    batch_size: str = typer.Option(
        "4",
        "--batch-size",
        metavar="N|auto",
        help="Samples per generate call (left padding); auto: the largest that fits, found by halving on "
        "out-of-memory and remembered per model, task and device.",
    ),
    num_workers: int | None = typer.Option(
        None,
        "--num-workers",
        min=0,
        help="Processes that decode images while the model generates (0: inline). Default: 0 on CPU "
        "(generation uses every core), on a GPU the rank's cores minus one, at most 4.",
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N samples of each task."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Render prompts and check images; load no weights."
    ),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda (each rank uses its own GPU)."),
    dtype: str = typer.Option("auto", "--dtype", help="auto | bf16 | fp16 | fp32."),
    results: Path = typer.Option(Path("results"), "--results", help="Results root folder."),
    model_name: str | None = typer.Option(
        None, "--model-name", help="Results folder name (default: from --ckpt)."
    ),
    nproc: int | None = typer.Option(
        None, "--nproc", min=1, help="Start N processes on this machine through torch.distributed.run."
    ),
    shard: str | None = typer.Option(None, "--shard", help="i/N: this independent job runs shard i of N."),
    prompt_profile: str | None = typer.Option(None, "--prompt-profile", help="Override the prompt profile."),
    max_new_tokens: int | None = typer.Option(
        None, "--max-new-tokens", min=1, help="Override max_new_tokens."
    ),
    model_option: list[str] | None = typer.Option(
        None, "--model-option", help="key=value family option (repeatable), e.g. tiles=OCRBench."
    ),
    trust_remote_code: bool = typer.Option(
        False, "--trust-remote-code", help="Allow the checkpoint's own Python code to run (hf adapter)."
    ),
    data_root: Path | None = typer.Option(
        None, "--data-root", help="Folder task data paths resolve against."
    ),
    tasks_dir: list[Path] | None = typer.Option(
        None, "--tasks-dir", help="Extra task YAML folder (repeatable)."
    ),
    fresh: bool = typer.Option(
        False, "--fresh", help="Move an earlier run of the same model/task aside and start over."
    ),
    keep_errors: bool = typer.Option(
        False, "--keep-errors", help="On resume, keep samples whose generation failed (default: retry them)."
    ),
    rank_timeout: float = typer.Option(
        1800.0, "--rank-timeout", min=1, help="Seconds without progress after which a rank counts as dead."
    ),
    max_input_tokens: int | None = typer.Option(
        None,
        "--max-input-tokens",
        min=1,
        help="Longer prompts (tokens, images included) are per-sample errors; default: the model's context "
        "minus max_new_tokens.",
    ),
    predict_only: bool = typer.Option(
        False,
        "--predict-only",
        help="Generate, do not score: keeps samples without answers (a test split) and writes "
        "predictions.jsonl + predict_only.json instead of scores.json.",
    ),
    preprocess_timeout: float = typer.Option(
        600.0,
        "--preprocess-timeout",
        min=1,
        help="Seconds a DataLoader worker may take for one batch (a hung image read) before the batch is "
        "retried; a second failure records its samples as errors.",
    ),
) -> None:
    """Run tasks through a model (see RUN_HELP)."""
    from monkeyeval.core.lifeline import die_with_launcher
    from monkeyeval.runner.distributed import DistContext, relaunch_with_torchrun

    launched = DistContext.from_env().launched
    if nproc is not None and nproc > 1:
        if launched:
            raise UserError("--nproc starts torchrun itself; drop it there")
        raise typer.Exit(relaunch_with_torchrun(nproc, _run_args_from_argv()))
    if launched:
        die_with_launcher()  # a torchrun worker: stop when the launcher is killed
    from rich.console import Console

    from monkeyeval.runner.request import RunRequest, parse_batch_size, parse_model_options
    from monkeyeval.runner.session import RunSession
    from monkeyeval.runner.sharding import ShardSpec
    from monkeyeval.runner.summary import print_summary

    request = RunRequest(
        tasks=tuple(task),
        checkpoint=expand_checkpoint_alias(ckpt),
        family=model,
        batch_size=parse_batch_size(batch_size),
        num_workers=num_workers,
        limit=limit,
        dry_run=dry_run,
        device=device,
        dtype=dtype,
        results=results,
        model_name=model_name,
        shard=ShardSpec.parse(shard) if shard else None,
        prompt_profile=prompt_profile,
        max_new_tokens=max_new_tokens,
        model_options=parse_model_options(model_option or []),
        trust_remote_code=trust_remote_code,
        data_root=data_root,
        tasks_dirs=tuple(tasks_dir or ()),
        fresh=fresh,
        keep_errors=keep_errors,
        rank_timeout_s=rank_timeout,
        max_input_tokens=max_input_tokens,
        preprocess_timeout_s=preprocess_timeout,
        predict_only=predict_only,
    )
    session = RunSession(request, Console(stderr=True))
    outcomes = session.execute()
    rows = [(o.task, o.scores, o.note or f"results in {o.run_dir}") for o in outcomes]
    if session.ctx.is_main or request.shard is not None:
        title = "monkeyeval run (dry run)" if dry_run else f"monkeyeval run: {session.model_name}"
        print_summary(_stdout_console(), rows, title)


def _run_args_from_argv() -> list[str]:
    """The arguments after `run` on this process's command line (for the torchrun relaunch)."""
    argv = sys.argv[1:]
    return argv[argv.index("run") + 1 :] if "run" in argv else argv


def merge_command(
    run_dir: Path = typer.Argument(..., help="results/<model>/<task> folder of a run (holds run.json)."),
    allow_missing: bool = typer.Option(
        False,
        "--allow-missing",
        help="Score samples that no shard predicted as wrong (counted in n_missing).",
    ),
    data_root: Path | None = typer.Option(None, "--data-root", help="Override the run's data root."),
    tasks_dir: list[Path] | None = typer.Option(None, "--tasks-dir", help="Override the run's task folders."),
) -> None:
    """Merge the part files of a (sharded) run into predictions.jsonl + scores.json.

    Example (after `monkeyeval run --task demo --ckpt demo --shard 0/2`, then the same with `--shard 1/2`):
    monkeyeval merge results/demo__checkpoint/demo
    """
    from monkeyeval.runner.merge import merge_run
    from monkeyeval.runner.parts import read_manifest
    from monkeyeval.runner.summary import print_summary
    from monkeyeval.tasks.dataset import load_samples
    from monkeyeval.tasks.registry import TaskRegistry

    manifest = read_manifest(run_dir)
    if manifest is None:
        raise UserError(f"{run_dir}: no run.json; pass the results/<model>/<task> folder of a run")
    dirs = tuple(tasks_dir) if tasks_dir else tuple(Path(d) for d in manifest.get("tasks_dirs", []))
    root = data_root if data_root is not None else Path(manifest["data_root"])
    task = TaskRegistry.discover(dirs, root).get(manifest["task"])
    predict_only = bool(manifest.get("predict_only"))
    dataset = load_samples(
        task, limit=manifest.get("limit"), require_answers=not predict_only, resolve_images=False
    )
    result = merge_run(
        run_dir,
        task,
        dataset,
        manifest["model_name"],
        allow_missing=allow_missing,
        predict_only=predict_only,
    )
    print_summary(_stdout_console(), [(task.name, result.to_json(), str(run_dir))], "monkeyeval merge")


def check_invariance_command(
    task: str = typer.Option(..., "--task", "-t", help="Task name."),
    ckpt: str = typer.Option(..., "--ckpt", help="Checkpoint (local folder, hub id, or `demo`)."),
    limit: int = typer.Option(32, "--limit", min=1, help="How many samples to compare."),
    batch_size: int = typer.Option(8, "--batch-size", min=2, help="The larger batch size compared with 1."),
    model: str | None = typer.Option(None, "--model", help="Model family (default: detect)."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda."),
    dtype: str = typer.Option("auto", "--dtype", help="auto | bf16 | fp16 | fp32."),
    num_workers: int | None = typer.Option(
        None, "--num-workers", min=0, help="Image decoding processes (default: as for run)."
    ),
    prompt_profile: str | None = typer.Option(None, "--prompt-profile", help="Override the prompt profile."),
    max_new_tokens: int | None = typer.Option(
        None, "--max-new-tokens", min=1, help="Override max_new_tokens."
    ),
    model_option: list[str] | None = typer.Option(None, "--model-option", help="key=value (repeatable)."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Allow remote code."),
    data_root: Path | None = typer.Option(
        None, "--data-root", help="Folder task data paths resolve against."
    ),
    tasks_dir: list[Path] | None = typer.Option(None, "--tasks-dir", help="Extra task YAML folder."),
    fail_on_change: bool = typer.Option(False, "--fail-on-change", help="Exit 1 when any answer changes."),
) -> None:
    """Run samples at batch size 1 and at --batch-size; list the samples whose answer changes.

    Example: monkeyeval check-invariance --task demo --ckpt demo --limit 16 --batch-size 8
    """
    from monkeyeval.runner.invariance import run_invariance_check

    changed = run_invariance_check(
        task=task,
        checkpoint=expand_checkpoint_alias(ckpt),
        limit=limit,
        batch_size=batch_size,
        family=model,
        device=device,
        dtype=dtype,
        num_workers=num_workers,
        prompt_profile=prompt_profile,
        max_new_tokens=max_new_tokens,
        model_options=model_option or [],
        trust_remote_code=trust_remote_code,
        data_root=data_root,
        tasks_dirs=tuple(tasks_dir or ()),
        console=_stdout_console(),
    )
    if changed and fail_on_change:
        raise typer.Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    """Add `run`, `merge` and `check-invariance`."""
    app.command("run", help=RUN_HELP)(reported(run_command))
    app.command("merge")(reported(merge_command))
    app.command("check-invariance")(reported(check_invariance_command))
