"""`monkeyeval convert vlmevalkit`: VLMEvalKit TSV -> monkeyeval jsonl + image folder."""

from __future__ import annotations

from pathlib import Path

import typer

from monkeyeval.cli.errors import reported


def register(app: typer.Typer) -> None:
    """Add the `convert` command group to the app."""
    convert_app = typer.Typer(
        name="convert",
        help="Convert other harnesses' dataset files into monkeyeval task data.",
        no_args_is_help=True,
    )
    convert_app.command("vlmevalkit")(reported(vlmevalkit))
    app.add_typer(convert_app, name="convert")


def vlmevalkit(
    tsv: Path = typer.Argument(..., help="VLMEvalKit <DATASET>.tsv (base64 images inside)."),
    out_dir: Path = typer.Argument(..., help="Output folder, usually the data root's LMUData/."),
    dataset: str | None = typer.Option(
        None, "--dataset", "-d", help="Dataset name for the output files (default: the TSV file name)."
    ),
) -> None:
    """Write OUT_DIR/<DATASET>.jsonl and the images, byte for byte, to OUT_DIR/images/<DATASET>/.

    Answers become lists (list literals are parsed), option columns A..Z become `options`, other columns
    are kept. Prints the jsonl's sha256 for the task YAML's `dataset.sha256`. Exit codes: 0 ok, 2 the
    TSV is malformed (the error names the line and row index).

    Example: `monkeyeval convert vlmevalkit ~/LMUData/DocVQA_VAL.tsv data/LMUData`
    """
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from monkeyeval.convert.vlmevalkit import convert_tsv
    from monkeyeval.report.render import make_console

    err = make_console(stderr=True)
    columns = (TextColumn("converting"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task_id = bar.add_task("convert", total=None)

        def report(done: int, total: int) -> None:
            bar.update(task_id, completed=done, total=total)

        result = convert_tsv(tsv, out_dir, dataset=dataset, progress=report)
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    err.print(
        f"{result.n_rows} rows -> {result.jsonl}; images in {result.image_dir} ({result.n_images} written, "
        f"{result.n_images_unchanged} unchanged, {result.n_references} rows share another row's image)",
        highlight=False,
    )
    typer.echo(f"sha256 {result.sha256}  {result.jsonl}")
