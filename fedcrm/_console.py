"""Console plumbing shared by every command: rich consoles, JSON output, and turning fedcrm
errors into one-line messages. Lives outside fedcrm.cli so sub-command modules in other
packages can use it without importing the whole command tree."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.text import Text

from fedcrm._files import check_writable
from fedcrm.errors import ConfigError, FedcrmError, validation_problems

console = Console()
error_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")

#: exit code for errors the user can fix (bad input, bad configuration)
EXIT_USER_ERROR = 2


def plain(text: object, style: str = "") -> Text:
    """``text`` shown exactly as written: rich markup (``[red]``, ``[/]``) and emoji codes in
    it are not interpreted. Use it for everything that comes from a user's files, arguments
    or records (labels, paths, error messages) before printing it or putting it in a table."""
    return Text(str(text), style=style)


@contextmanager
def status_lines(title: str) -> Iterator[Callable[[str], None]]:
    """A spinner with the latest step in a terminal; elsewhere (a pipe, a notebook's ``!``,
    CI) one line per step on stderr, so a long command is not silent until it ends."""
    if console.is_terminal:
        with console.status(title) as status:
            yield lambda message: status.update(f"{title}: {message}")
        return
    yield lambda message: error_console.print(plain(f"{title}: {message}"), highlight=False)


def print_error(message: str) -> None:
    """Print ``message`` as one ``error:`` line on stderr (never wrapped or read as markup)."""
    error_console.print(Text.assemble(("error:", "bold red"), " ", message),
                        highlight=False, soft_wrap=True)


def friendly_errors(function: Callable[P, R]) -> Callable[P, R]:
    """Print a fedcrm error as one line (never wrapped, its text never read as markup) and
    exit 2, never a traceback. A file-system error a command did not foresee (a path that
    cannot be read or written) is printed the same way, with the path it concerns."""

    @wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except FedcrmError as exc:
            print_error(str(exc))
            raise typer.Exit(EXIT_USER_ERROR) from None
        except ValidationError as exc:  # a record built from an option no check caught first
            print_error(f"invalid {exc.title}: {validation_problems(exc)}")
            raise typer.Exit(EXIT_USER_ERROR) from None
        except BrokenPipeError:
            raise  # the reader went away (`| head`): nothing to tell anyone
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename is not None else ""
            print_error(f"{where}{exc.strerror or exc}")
            raise typer.Exit(EXIT_USER_ERROR) from None

    return wrapper


def check_output_file(path: Path, *, option: str, example: str,
                      inputs: Mapping[str, Path | Sequence[Path] | None] | None = None) -> None:
    """Refuse an output file given as ``option`` that cannot be written (a folder, a path
    under a file, a read-only place) before a command does any work; missing parent folders
    are fine (writers create them). ``example`` is a file name to suggest inside a folder.

    ``inputs`` maps an input's option (``"--db"``) to its path(s): an output that is one of
    them, or lies inside an input folder, is refused, since writing it would overwrite what
    the command reads (a review database, a federation's data, a corpus label file).
    """
    target = Path(os.path.realpath(path))
    for input_option, given in (inputs or {}).items():
        paths = [given] if isinstance(given, Path) else list(given or [])
        for source in paths:
            real = Path(os.path.realpath(source))
            if target == real:
                raise ConfigError(f"{option} {path} is the input given as {input_option}; "
                                  "writing it would overwrite that input: write elsewhere")
            if real.is_dir() and target.is_relative_to(real):
                raise ConfigError(f"{option} {path} lies inside {real}, the folder given as "
                                  f"{input_option}, and could overwrite a file it reads: write "
                                  "it elsewhere")
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder; give a file name such as "
                          f"{path / example}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{option} {path}: {parent} is a file, not a folder")
            break
    try:
        check_writable(path)
    except OSError as exc:
        raise ConfigError(f"{option} {path} cannot be written ({exc.strerror or exc}); "
                          "write it elsewhere") from None


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
