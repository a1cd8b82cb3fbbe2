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


def vector_of(content: RecordDict, name: str, size: int) -> np.ndarray:
    """A model-sized vector received from an org: float32, exactly ``size`` values, all
    finite (ConfigError saying which of these it is not). The coordinator reads every delta
    through here, so one org's NaN or short vector cannot reach the global model."""
    records = content.array_records
    if ARRAYS not in records or name not in records[ARRAYS]:
        raise ConfigError(f"the message has no array {name!r}")
    array = records[ARRAYS][name]
    if array.dtype != "float32":
        raise ConfigError(f"array {name!r} is {array.dtype}, expected float32")
    vector = array_of(content, name)
    if vector.size != size:
        raise ConfigError(f"array {name!r} has {vector.size} values, the model has {size}")
    if not np.isfinite(vector).all():
        raise ConfigError(f"array {name!r} has {int((~np.isfinite(vector)).sum())} NaN or "
                          "infinite value(s)")
    return vector


def field_of(fields: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    """Field ``key`` of a received message, which must be present and of type ``kind``
    (ConfigError otherwise). A boolean does not pass for an ``int`` or ``float``, and an
    ``int`` passes for a ``float`` (returned as one)."""
    if key not in fields:
        raise ConfigError(f"the message lacks the field {key!r}")
    value = fields[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise ConfigError(f"field {key!r} is a boolean, expected {_names(kinds)}")
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kinds):
        raise ConfigError(f"field {key!r} is {type(value).__name__}, expected {_names(kinds)}")
    return value


def _names(kinds: tuple[type, ...]) -> str:
    return " or ".join(kind.__name__ for kind in kinds)


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
