"""Wire format of the plain-record messages: round trips and strict validation."""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np
import pytest

from fedcrm.crypto import EncryptedAggregate, EncryptedUpdate, model_digest
from fedcrm.errors import CryptoError

UPDATE = EncryptedUpdate(
    federation_id="acme-federation",
    round_number=7,
    participant_id="org-b",
    context=bytes(range(32)),
    model=bytes(range(32, 64)),
    n_values=3,
    ciphertexts=b"\x01" * 64,
    proof=b"\x04" * 128,
    signature=b"\x02" * 64,
)
AGGREGATE = EncryptedAggregate(
    federation_id="acme-federation",
    round_number=7,
    context=bytes(range(32)),
    n_values=3,
    contributors=("org-a", "org-b"),
    ciphertexts=b"\x03" * 64,
)


def test_records_round_trip() -> None:
    assert EncryptedUpdate.from_bytes(UPDATE.to_bytes()) == UPDATE
    assert EncryptedAggregate.from_bytes(AGGREGATE.to_bytes()) == AGGREGATE
    unsigned = UPDATE.with_signature(b"")
    assert EncryptedUpdate.from_bytes(unsigned.to_bytes()) == unsigned


def test_the_signing_payload_covers_every_field_but_the_signature() -> None:
    payload = UPDATE.signing_payload()
    assert UPDATE.with_signature(b"\x09" * 64).signing_payload() == payload
    changes = {
        "federation_id": "other",
        "round_number": 8,
        "participant_id": "org-c",
        "context": bytes(32),
        "model": bytes(32),
        "n_values": 4,
        "ciphertexts": b"\x01" * 63 + b"\x00",
        "proof": b"\x04" * 127 + b"\x00",
    }
    for field, value in changes.items():
        changed = EncryptedUpdate(**{**UPDATE.__dict__, field: value})
        assert changed.signing_payload() != payload, field
    assert not UPDATE.to_bytes().startswith(payload[:4])  # signing tag ≠ wire magic


def test_every_truncation_is_rejected() -> None:
    raw = UPDATE.to_bytes()
    for cut in range(len(raw)):
        with pytest.raises(CryptoError, match="malformed encrypted update"):
            EncryptedUpdate.from_bytes(raw[:cut])


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda raw: raw + b"\x00", "trailing"),
        (lambda raw: b"FCEA" + raw[4:], "magic"),
        (lambda raw: raw[:4] + b"\x09" + raw[5:], "version"),
        # federation_id length claims 2 GiB: refused without allocating
        (lambda raw: raw[:5] + struct.pack(">I", 2**31) + raw[9:], "federation_id"),
        (lambda raw: raw[:5] + struct.pack(">I", 0) + raw[9:], "federation_id is empty"),
        (lambda raw: raw[:9] + b"\xff" + raw[10:], "UTF-8"),
    ],
)
def test_corrupt_bytes_are_rejected(mutate: Callable[[bytes], bytes], message: str) -> None:
    with pytest.raises(CryptoError, match=message):
        EncryptedUpdate.from_bytes(mutate(UPDATE.to_bytes()))


def test_field_sizes_are_validated() -> None:
    with pytest.raises(CryptoError, match="context"):
        EncryptedUpdate.from_bytes(
            EncryptedUpdate(**{**UPDATE.__dict__, "context": b"short"}).to_bytes()
        )
    with pytest.raises(CryptoError, match="model must be 32 bytes, got 31"):
        EncryptedUpdate.from_bytes(
            EncryptedUpdate(**{**UPDATE.__dict__, "model": bytes(31)}).to_bytes()
        )
    with pytest.raises(CryptoError, match="signature"):
        EncryptedUpdate.from_bytes(UPDATE.with_signature(b"\x01" * 10).to_bytes())
    with pytest.raises(CryptoError, match="participant_id"):
        EncryptedUpdate.from_bytes(
            EncryptedUpdate(**{**UPDATE.__dict__, "participant_id": "x" * 300}).to_bytes()
        )
    with pytest.raises(CryptoError, match="at most 100 allowed"):
        EncryptedUpdate.from_bytes(UPDATE.to_bytes(), max_bytes=100)
    with pytest.raises(CryptoError, match="expected bytes"):
        EncryptedUpdate.from_bytes("not bytes")  # type: ignore[arg-type]
    # one proof per update: |n²| + 2·|n| bytes, 16 KiB would be a 16384-bit key
    with pytest.raises(CryptoError, match="proof is 16385 bytes, at most 16384 allowed"):
        EncryptedUpdate.from_bytes(
            EncryptedUpdate(**{**UPDATE.__dict__, "proof": b"\x04" * 16385}).to_bytes()
        )


def test_updates_from_an_older_fedcrm_are_refused_clearly() -> None:
    raw = UPDATE.to_bytes()
    # 2 added proofs of plaintext knowledge, 3 made them one per update, 4 added the model
    assert raw[4] == 4
    # version 1 had no proof field, version 2 one proof per ciphertext, 3 no model digest
    for old in (1, 2, 3):
        with pytest.raises(CryptoError, match=f"version {old} comes from an older fedcrm.*upgrade"):
            EncryptedUpdate.from_bytes(raw[:4] + bytes([old]) + raw[5:])
    with pytest.raises(CryptoError, match="unsupported version 5"):
        EncryptedUpdate.from_bytes(raw[:4] + b"\x05" + raw[5:])
    # the other records keep version 1
    assert AGGREGATE.to_bytes()[4] == 1


def test_aggregate_truncations_are_rejected() -> None:
    raw = AGGREGATE.to_bytes()
    for cut in range(0, len(raw), 7):
        with pytest.raises(CryptoError, match="malformed encrypted aggregate"):
            EncryptedAggregate.from_bytes(raw[:cut])


def test_model_digest_names_values_so_a_flipped_zero_is_the_same_model() -> None:
    # key holders decrypt one sum per global model, by its digest; -0.0 == 0.0 trains the
    # same, so a coordinator that flipped one zero's sign had a second sum decrypted
    model = np.array([0.5, 0.0, -1.25, 0.0], dtype=np.float32)
    flipped = model.copy()
    flipped[1] = -0.0
    assert np.array_equal(model, flipped) and flipped.tobytes() != model.tobytes()
    assert model_digest(flipped) == model_digest(model)
    assert model_digest(model.astype(np.float64)) == model_digest(model)
    nudged = model.copy()
    nudged[0] = np.nextafter(np.float32(0.5), np.float32(1.0))
    assert model_digest(nudged) != model_digest(model)
    assert model_digest(model[:3]) != model_digest(model)
    for bad in (np.nan, np.inf, -np.inf):
        broken = model.copy()
        broken[2] = bad
        with pytest.raises(CryptoError, match="NaN or infinite"):
            model_digest(broken)
