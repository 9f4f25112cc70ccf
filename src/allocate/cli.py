"""The ``allocate`` command line (FORMAT.md §4): exit 0 on success, 1 when a check finds
violations, 2 on unreadable or invalid input. Each command is a thin wrapper over the library."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from allocate.errors import AllocateError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Plan and check humanitarian convoys, escorts and aid distribution.")
err_console = Console(stderr=True)
EXIT_INVALID = 2


def fail_input(error: Exception) -> None:
    """Report bad input in one clear message and exit 2 (never a traceback)."""
    err_console.print(f"[bold red]error:[/] {error}", markup=True, highlight=False)
    raise typer.Exit(EXIT_INVALID)


@app.callback()
def _root() -> None:
    """allocate: plan the joint use of humanitarian and military resources, and check plans."""


class SchemaKind(str, Enum):
    scenario = "scenario"
    plan = "plan"


@app.command()
def schema(kind: Annotated[SchemaKind, typer.Argument(help="scenario or plan")]) -> None:
    """Print the published JSON Schema of the scenario or plan format."""
    from allocate.schema import json_schema

    typer.echo(json.dumps(json_schema(kind.value), indent=1))


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except AllocateError as exc:  # a library error that escaped a command: still exit 2, no traceback
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(EXIT_INVALID)


if __name__ == "__main__":
    main()
