"""Reading saved engine state, whichever mode wrote it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import TypeAdapter, ValidationError

from fedcrm.privacy._engine import LedgerLike
from fedcrm.privacy.budget import LedgerError
from fedcrm.privacy.models import ClientLevelState, EngineState, RecordLevelState

if TYPE_CHECKING:
    from fedcrm.privacy.client_level import ClientLevelDP
    from fedcrm.privacy.record_level import RecordLevelDP

__all__ = ["load_engine", "read_state"]

_STATE_ADAPTER: TypeAdapter[RecordLevelState | ClientLevelState] = TypeAdapter(EngineState)


def read_state(path: str | os.PathLike[str]) -> RecordLevelState | ClientLevelState:
    """Read and validate a state file written by ``RecordLevelDP.save``/``ClientLevelDP.save``.

    Raises:
        LedgerError: the file is missing or not a valid engine state.
    """
    path = Path(path)
    if not path.is_file():
        raise LedgerError(f"privacy engine state {path} does not exist")
    try:
        return _STATE_ADAPTER.validate_json(path.read_bytes())
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise LedgerError(
            f"privacy engine state {path} is not valid ({where}: {first['msg']})"
        ) from error


def load_engine(
    path: str | os.PathLike[str], *, ledger: LedgerLike = None
) -> RecordLevelDP | ClientLevelDP:
    """Restore whichever engine (record- or client-level) saved ``path``.

    Raises:
        LedgerError: the file is missing, invalid, or behind the ledger (see ``load``).
    """
    from fedcrm.privacy.client_level import ClientLevelDP
    from fedcrm.privacy.record_level import RecordLevelDP

    state = read_state(path)
    if isinstance(state, RecordLevelState):
        return RecordLevelDP._from_state(state, ledger, path)
    return ClientLevelDP._from_state(state, ledger, source=path)
