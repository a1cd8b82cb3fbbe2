"""Console plumbing shared by every command: rich consoles, JSON output, and turning fedcrm
errors into one-line messages. Lives outside fedcrm.cli so sub-command modules in other
packages can use it without importing the whole command tree."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console

from fedcrm.errors import FedcrmError

console = Console()
error_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")

#: exit code for errors the user can fix (bad input, bad configuration)
EXIT_USER_ERROR = 2


def friendly_errors(function: Callable[P, R]) -> Callable[P, R]:
    """Print a fedcrm error as one red line and exit 2, never a traceback."""

    @wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except FedcrmError as exc:
            error_console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
            raise typer.Exit(EXIT_USER_ERROR) from None

    return wrapper


def print_json(data: Any) -> None:
    """Write ``data`` (pydantic models allowed) to stdout as JSON for machines."""
    if isinstance(data, BaseModel):
        text = data.model_dump_json(indent=2)
    else:
        text = json.dumps(
            data,
            indent=2,
            default=lambda o: o.model_dump(mode="json") if isinstance(o, BaseModel) else str(o),
        )
    sys.stdout.write(text + "\n")
