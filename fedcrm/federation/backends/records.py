"""What crosses the network between the Flower ServerApp and the ClientApps: plain records.

Every message is a Flower ``RecordDict`` holding one ``ConfigRecord`` named ``fedcrm`` (ints,
floats, strings, booleans, bytes, lists of bytes) and, where a model travels, one
``ArrayRecord`` of float32 vectors. Never records of an org's data: an org sends its
enrolment facts, validation/test metrics, a norm-bounded parameter delta (plaintext mode) or
signed Paillier ciphertexts (encrypted mode, as the ``bytes`` of
:class:`fedcrm.crypto.EncryptedUpdate`), and partial decryptions.

This module also keeps a participant's state between messages (Flower runs each message in a
fresh ClientApp process or a pooled simulation actor): the validation gate's reference model
and metric, the stochastic-rounding generator of the encryptor and the rounds a key holder
already decrypted, all kept in the node's ``Context.state``, which never leaves the node.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, RecordDict

from fedcrm.errors import ConfigError

#: the one ConfigRecord of every fedcrm message
FIELDS = "fedcrm"
#: the ArrayRecord of every message that carries model vectors
ARRAYS = "fedcrm_arrays"
#: node-local state (Context.state) of the gate and of the encryption roles
GATE_STATE = "fedcrm_gate"
GATE_PARAMETERS = "fedcrm_gate_parameters"
SECURE_STATE = "fedcrm_secure"

ConfigValue = int | float | str | bytes | bool | list[bytes] | list[str] | list[float]


def pack(fields: dict[str, ConfigValue | None], arrays: dict[str, np.ndarray] | None = None
         ) -> RecordDict:
    """A message body: ``fields`` (None values are left out) and float32 ``arrays``."""
    content = RecordDict({FIELDS: ConfigRecord(
        {key: value for key, value in fields.items() if value is not None})})
    if arrays:
        content[ARRAYS] = ArrayRecord({
            name: Array(np.ascontiguousarray(vector, dtype=np.float32))
            for name, vector in arrays.items()})
    return content


def fields_of(content: RecordDict) -> dict[str, Any]:
    """The ``fedcrm`` fields of a message body (ConfigError if it is not a fedcrm message)."""
    if FIELDS not in content.config_records:
        raise ConfigError(f"not a fedcrm message: it has no {FIELDS!r} config record "
                          f"(records: {sorted(content.keys())})")
    return dict(content.config_records[FIELDS])


def array_of(content: RecordDict, name: str) -> np.ndarray:
    """One float32 vector of a message body."""
    records = content.array_records
    if ARRAYS not in records or name not in records[ARRAYS]:
        raise ConfigError(f"fedcrm message has no array {name!r}")
    # a writable copy: torch warns on (and must not write through) read-only buffers
    return np.array(records[ARRAYS][name].numpy(), dtype=np.float32).reshape(-1)


def optional_float(fields: dict[str, Any], key: str) -> float | None:
    """A float field that may be absent (None cannot travel in a ConfigRecord)."""
    value = fields.get(key)
    return None if value is None else float(value)


def to_json(value: Any) -> str:
    """Structured values (privacy spend reports) travel as one JSON string."""
    return json.dumps(value, sort_keys=True, allow_nan=True)


def from_json(text: str | None) -> Any:
    """Inverse of :func:`to_json` (empty dict for a missing field)."""
    return json.loads(text) if text else {}
