"""Errors of the review workflow. The field errors are :class:`fedcrm.MappingError`, so callers
that catch mapping problems in general catch them too; :class:`ReviewBusy` is a
:class:`fedcrm.FedcrmError` of its own (try again later)."""

from __future__ import annotations

from fedcrm.errors import FedcrmError, MappingError


class UnknownFieldError(MappingError, KeyError):
    """A decision or look-up names a field the review store has not imported."""

    def __init__(self, org: str, sobject: str, field: str, hint: str = "") -> None:
        self.org = org
        self.sobject = sobject
        self.field = field
        message = (
            f"org {org!r} has no field {sobject}.{field} in the review store; "
            "import the mapping that contains it first (fedcrm review import)"
        )
        super().__init__(message + (f" ({hint})" if hint else ""))

    @classmethod
    def by_id(cls, field_id: int) -> UnknownFieldError:
        """The error for a store id that names no (present) field."""
        error = cls.__new__(cls)
        error.org = error.sobject = error.field = ""
        MappingError.__init__(
            error, f"the review store has no field with id {field_id}; reload the queue"
        )
        return error

    def __str__(self) -> str:
        # KeyError would quote the message; keep it readable
        return str(self.args[0])


class StaleVersionError(MappingError):
    """A reviewer decided on an older version of a field than the one now stored.

    Someone else decided (or a re-import changed the proposal) in between; reload the field,
    look at what changed, and decide again.
    """

    def __init__(
        self, org: str, sobject: str, field: str, seen_version: int, current_version: int
    ) -> None:
        self.org = org
        self.sobject = sobject
        self.field = field
        self.seen_version = seen_version
        self.current_version = current_version
        super().__init__(
            f"{org} {sobject}.{field}: you decided on version {seen_version}, but the field is "
            f"now at version {current_version} (another reviewer or a re-import changed it); "
            "reload the field and decide again"
        )


class ReviewBusy(FedcrmError):
    """The review database stayed locked by another process for longer than the busy
    timeout; nothing was changed, and the same request can simply be made again."""
