"""The fedcrm exception hierarchy.

Every error a user can cause derives from :class:`FedcrmError`, so a notebook can catch one
type and the CLI can turn any of them into a one-line message instead of a traceback.
Messages name the file, object, field or participant involved and say how to fix it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError


class FedcrmError(Exception):
    """Base class of every error fedcrm raises on purpose."""


class ConfigError(FedcrmError, ValueError):
    """A parameter or configuration value is invalid."""


class SchemaError(FedcrmError):
    """Org metadata could not be read or is invalid.

    ``path``, ``sobject`` and ``field`` say where the problem is, as far as known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        sobject: str | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.sobject = sobject
        self.field = field
        self.reason = message
        #: whether lenient loading (``strict=False``, ``--lenient``) would skip it and go on
        self.skippable = False
        super().__init__(self._compose())

    def _compose(self) -> str:
        where = []
        if self.path:
            where.append(f"file {self.path}")
        if self.sobject:
            where.append(f"object {self.sobject}")
        if self.field:
            where.append(f"field {self.field}")
        return f"{'; '.join(where)}: {self.reason}" if where else self.reason


class OntologyError(FedcrmError):
    """The canonical vocabulary in ``ontology/`` is missing or invalid."""


class MappingError(FedcrmError):
    """A mapping (proposal, decision or approved mapping) is invalid or inconsistent."""


class NotFittedError(FedcrmError, AttributeError):
    """An estimator was used before ``fit`` (or ``load``)."""


class FeatureError(FedcrmError):
    """Records could not be turned into a feature matrix."""


class PrivacyBudgetExceeded(FedcrmError):
    """A participant's next step would spend more privacy budget than it has left."""


class AggregationError(FedcrmError):
    """A federated round could not be aggregated."""


class CryptoError(FedcrmError):
    """Encryption, decryption, signature or key material failed verification."""


#: pydantic findings whose message names what was expected but not what was given
_SAYS_NOT_WHAT = frozenset({"literal_error", "enum", "string_pattern_mismatch"})


def validation_problems(error: ValidationError, *, root: str = "",
                        limit: int | None = None, options: bool = False) -> str:
    """pydantic's findings in one line: ``field.path: message; …``.

    ``root`` names the whole input for a finding without a field path (``"row"``, ``"the
    file"``); without it such a finding is the message alone. ``limit`` keeps the first few
    and says how many more there were. ``options`` words each field as the command-line
    option it came from, with the value given: ``--rounds -1: message``.
    """
    found = error.errors(include_url=False)
    shown = found if limit is None else found[:limit]
    parts = []
    for problem in shown:
        where = ".".join(str(part) for part in problem["loc"]) or root
        # a validator's own ValueError reads as written, without pydantic's "Value error, "
        message = problem["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if options and where:
            where = f"--{where} {problem['input']!r}"
        elif problem["type"] in _SAYS_NOT_WHAT and isinstance(problem.get("input"), str | int):
            message += f" (got {problem['input']!r})"  # "should be 'a' or 'b'" alone hides it
        parts.append(f"{where}: {message}" if where else message)
    more = f" (and {len(found) - len(shown)} more)" if len(found) > len(shown) else ""
    return "; ".join(parts) + more
