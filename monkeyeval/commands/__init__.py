"""CLI commands; each module exposes `register(app: typer.Typer) -> None` and imports heavy deps lazily."""
