"""Strict/lenient handling of bad metadata shared by all loaders."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from fedcrm.errors import SchemaError
from fedcrm.schema.models import LoadWarning


class ProblemLog:
    """Raise on the first problem (strict) or collect each as a :class:`LoadWarning` (lenient).

    Loaders call :meth:`problem` for anything that makes them skip data; lenient mode then
    reports exactly what was skipped instead of silently dropping it.
    """

    def __init__(self, *, strict: bool) -> None:
        self.strict = strict
        self.warnings: list[LoadWarning] = []

    def problem(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        sobject: str | None = None,
        field: str | None = None,
    ) -> None:
        """Record a problem that makes the loader skip something (raises when strict)."""
        if self.strict:
            error = SchemaError(message, path=path, sobject=sobject, field=field)
            error.skippable = True
            raise error
        self.skip(message, path=path, sobject=sobject, field=field)

    def skip(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        sobject: str | None = None,
        field: str | None = None,
    ) -> None:
        """Record something deliberately not read (listed as skipped, never raises: it is a
        rule of the loader, such as not following links out of the folder, not bad data)."""
        self._record(message, path, sobject, field, skipped=True)

    def note(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        sobject: str | None = None,
        field: str | None = None,
    ) -> None:
        """Record something worth telling the user that loses no data (never raises)."""
        self._record(message, path, sobject, field, skipped=False)

    def _record(
        self,
        message: str,
        path: str | Path | None,
        sobject: str | None,
        field: str | None,
        *,
        skipped: bool,
    ) -> None:
        self.warnings.append(
            LoadWarning(
                message=message,
                path=str(path) if path is not None else None,
                sobject=sobject,
                field=field,
                skipped=skipped,
            )
        )


def describe_validation_error(exc: ValidationError, names: Mapping[str, str] | None = None) -> str:
    """One line listing what pydantic rejected (``length: must be >= 0 (found -1)``), with
    model attribute names shown as the source file spells them (``names``: attribute → key)."""
    names = names or {}
    problems = []
    for error in exc.errors():
        where = ".".join(names.get(str(part), str(part)) for part in error["loc"])
        found = error.get("input")
        shown = ""
        if isinstance(found, str | int | float):
            text = repr(found)
            shown = f" (found {text if len(text) <= 60 else text[:57] + '...'})"
        problems.append(f"{where}: {error['msg']}{shown}" if where else f"{error['msg']}{shown}")
    return "; ".join(problems)
