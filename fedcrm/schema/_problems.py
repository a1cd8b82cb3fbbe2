"""Strict/lenient handling of bad metadata shared by all loaders."""

from __future__ import annotations

from pathlib import Path

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
            raise SchemaError(message, path=path, sobject=sobject, field=field)
        self.warnings.append(
            LoadWarning(
                message=message,
                path=str(path) if path is not None else None,
                sobject=sobject,
                field=field,
                skipped=True,
            )
        )

    def note(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        sobject: str | None = None,
        field: str | None = None,
    ) -> None:
        """Record something worth telling the user that loses no data (never raises)."""
        self.warnings.append(
            LoadWarning(
                message=message,
                path=str(path) if path is not None else None,
                sobject=sobject,
                field=field,
                skipped=False,
            )
        )
