"""Plain-record messages of encrypted aggregation and their canonical byte form.

Records hold only ``str``, ``int`` and ``bytes`` so that any transport (in-process, Flower,
HTTP, a file) can carry them. Ciphertexts travel as one ``bytes`` value: fixed-width
big-endian integers of ``ThresholdPublicKey.ciphertext_bytes`` each, so the encoding is
canonical and the signature covers exactly what is aggregated.

``EncryptedUpdate`` wire format, version 4 (all integers big-endian)::

    b"FCEU" | version u8 = 4 | federation_id (u32 len + UTF-8) | round u64
            | participant_id (u32 len + UTF-8) | context (u32 len + 32 bytes)
            | model (u32 len + 32 bytes) | n_values u64
            | ciphertexts (u32 len + bytes) | proof (u32 len + bytes)
            | signature (u32 len + 0 or 64 bytes)

``model`` is :func:`model_digest` of the global model the update was trained from: key
holders use it to refuse two sums of different participants trained from one model (their
difference would isolate an update). ``proof`` is the update's one proof of plaintext
knowledge for all its ciphertexts, fixed-width (:mod:`~fedcrm.crypto.plaintext_proofs`).
Versions 1 (no proof), 2 (one proof per ciphertext) and 3 (no model digest) are refused with
an error saying the sender runs an older fedcrm. The Ed25519 signature is over the same
fields with the domain tag ``fedcrm.crypto.EncryptedUpdate.signature.v4`` in place of the
magic and without the signature field, so it binds the federation, the round, the
participant, the key and packing parameters (``context``), the model trained from, every
ciphertext and the proof.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

import numpy as np

from fedcrm.crypto import _wire
from fedcrm.crypto.packing import PackingSpec
from fedcrm.crypto.threshold import ThresholdPublicKey
from fedcrm.errors import ConfigError, CryptoError

CONTEXT_BYTES = 32
MODEL_DIGEST_BYTES = 32
#: round numbers travel as u64 and are read back as at most 2**63 - 1
MAX_ROUND = (1 << 63) - 1
SIGNATURE_BYTES = 64
MAX_MESSAGE_BYTES = 1 << 30
MAX_CONTRIBUTORS = 1 << 16
_UPDATE_MAGIC = b"FCEU"
_UPDATE_SIGNING_TAG = b"fedcrm.crypto.EncryptedUpdate.signature.v4"
#: 2 added proofs of plaintext knowledge, 3 made them one proof per update, 4 added the
#: digest of the model trained from; other records stay at ``_wire.VERSION``
UPDATE_VERSION = 4
#: a proof is ``|n²| + 2·|n|`` bytes: 1,024 for a 2048-bit key; verifiers check the exact size
MAX_PROOF_BYTES = 1 << 14
_AGGREGATE_MAGIC = b"FCEA"


def context_digest(public_key: ThresholdPublicKey, spec: PackingSpec) -> bytes:
    """SHA-256 binding a message to one public key and one packing spec."""
    if public_key.n.bit_length() < spec.key_bits:
        raise ConfigError(
            f"the packing spec assumes a {spec.key_bits}-bit key but the public key has "
            f"{public_key.n.bit_length()} bits; build the spec with "
            f"key_bits={public_key.n.bit_length()}"
        )
    return hashlib.sha256(
        b"fedcrm.crypto.context.v1" + public_key.fingerprint() + spec.fingerprint()
    ).digest()


def model_digest(parameters: np.ndarray) -> bytes:
    """SHA-256 naming one global model: its values as little-endian float32, in order.

    A participant signs it into each update (the model it trained from); key holders compare
    it across rounds. Two models equal as float32 arrays have the same digest: ``-0.0`` is
    hashed as ``0.0`` (equal values; otherwise a coordinator could flip the sign of one zero
    to have a second sum from the same model decrypted). A model with a NaN or an infinity
    has no digest (:class:`~fedcrm.errors.CryptoError`): nothing trains from it.
    """
    values = np.asarray(parameters, dtype="<f4").ravel()
    if not np.all(np.isfinite(values)):
        raise CryptoError("the global model has NaN or infinite values; refusing to train "
                          "from it or to name it")
    values = np.ascontiguousarray(values + np.float32(0.0))  # IEEE 754: -0 + +0 = +0
    return hashlib.sha256(b"fedcrm.crypto.model.v1" + len(values).to_bytes(8, "big")
                          + values.tobytes()).digest()


@dataclass(frozen=True)
class EncryptedUpdate:
    """One participant's encrypted, signed update for one round (a plain record)."""

    federation_id: str
    round_number: int
    participant_id: str
    context: bytes
    model: bytes
    n_values: int
    ciphertexts: bytes
    proof: bytes = b""
    signature: bytes = b""

    def _fields(self, writer: _wire.Writer) -> _wire.Writer:
        return (
            writer.text(self.federation_id)
            .u64(self.round_number)
            .text(self.participant_id)
            .blob(self.context)
            .blob(self.model)
            .u64(self.n_values)
            .blob(self.ciphertexts)
            .blob(self.proof)
        )

    def signing_payload(self) -> bytes:
        """The canonical bytes the participant signs (everything but the signature)."""
        return self._fields(_wire.Writer(_UPDATE_SIGNING_TAG, UPDATE_VERSION)).getvalue()

    def with_signature(self, signature: bytes) -> EncryptedUpdate:
        """A copy carrying ``signature``."""
        return dataclasses.replace(self, signature=signature)

    def to_bytes(self) -> bytes:
        """Serialise to the wire format in the module docstring."""
        writer = _wire.Writer(_UPDATE_MAGIC, UPDATE_VERSION)
        return self._fields(writer).blob(self.signature).getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> EncryptedUpdate:
        """Parse the wire format, validating every length; raises ``CryptoError``."""
        if len(data) > max_bytes:
            raise _too_large("encrypted update", len(data), max_bytes)
        reader = _wire.Reader(data, _UPDATE_MAGIC, "encrypted update", UPDATE_VERSION)
        federation_id = reader.text(field="federation_id")
        round_number = reader.u64()
        participant_id = reader.text(field="participant_id")
        context = reader.blob(CONTEXT_BYTES, field="context")
        if len(context) != CONTEXT_BYTES:
            raise reader.fail(f"context must be {CONTEXT_BYTES} bytes, got {len(context)}")
        model = reader.blob(MODEL_DIGEST_BYTES, field="model")
        if len(model) != MODEL_DIGEST_BYTES:
            raise reader.fail(f"model must be {MODEL_DIGEST_BYTES} bytes, got {len(model)}")
        n_values = reader.u64(maximum=1 << 40)
        ciphertexts = reader.blob(max_bytes, field="ciphertexts")
        proof = reader.blob(MAX_PROOF_BYTES, field="proof")
        signature = reader.blob(SIGNATURE_BYTES, field="signature")
        if len(signature) not in (0, SIGNATURE_BYTES):
            raise reader.fail(f"signature must be {SIGNATURE_BYTES} bytes, got {len(signature)}")
        reader.done()
        return cls(
            federation_id,
            round_number,
            participant_id,
            context,
            model,
            n_values,
            ciphertexts,
            proof,
            signature,
        )


@dataclass(frozen=True)
class EncryptedAggregate:
    """The homomorphic sum of a round's accepted updates, sent to key holders to decrypt."""

    federation_id: str
    round_number: int
    context: bytes
    n_values: int
    contributors: tuple[str, ...]
    ciphertexts: bytes

    def digest(self) -> bytes:
        """SHA-256 of the serialised aggregate (what a key holder agreed to decrypt)."""
        return hashlib.sha256(self.to_bytes()).digest()

    def to_bytes(self) -> bytes:
        """Serialise (magic ``FCEA``, version, then the fields in declaration order)."""
        writer = (
            _wire.Writer(_AGGREGATE_MAGIC)
            .text(self.federation_id)
            .u64(self.round_number)
            .blob(self.context)
            .u64(self.n_values)
            .u64(len(self.contributors))
        )
        for contributor in self.contributors:
            writer.text(contributor)
        return writer.blob(self.ciphertexts).getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> EncryptedAggregate:
        """Parse :meth:`to_bytes` output, validating every length; raises ``CryptoError``."""
        if len(data) > max_bytes:
            raise _too_large("encrypted aggregate", len(data), max_bytes)
        reader = _wire.Reader(data, _AGGREGATE_MAGIC, "encrypted aggregate")
        federation_id = reader.text(field="federation_id")
        round_number = reader.u64()
        context = reader.blob(CONTEXT_BYTES, field="context")
        if len(context) != CONTEXT_BYTES:
            raise reader.fail(f"context must be {CONTEXT_BYTES} bytes, got {len(context)}")
        n_values = reader.u64(maximum=1 << 40)
        count = reader.u64(maximum=MAX_CONTRIBUTORS)
        contributors = tuple(reader.text(field="contributor") for _ in range(count))
        ciphertexts = reader.blob(max_bytes, field="ciphertexts")
        reader.done()
        return cls(federation_id, round_number, context, n_values, contributors, ciphertexts)


def _too_large(record: str, size: int, maximum: int) -> CryptoError:
    return CryptoError(f"malformed {record}: {size} bytes, at most {maximum} allowed")
