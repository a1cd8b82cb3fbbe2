"""The shared test federation: a dealt 3-of-5 key, its primes and the signing keys."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fedcrm.crypto import (
    KeyShare,
    PackingSpec,
    ParticipantEncryptor,
    ThresholdPublicKey,
    model_digest,
)

TEST_KEY_BITS = 512
PARTICIPANTS = ("org-a", "org-b", "org-c", "org-d", "org-e")
FEDERATION_ID = "acme-federation"
N_VALUES = 60  # three ciphertexts per update with the 512-bit test key


def model_for(round_number: int) -> bytes:
    """The digest of round ``round_number``'s global model: each round its own, as in an
    honest federation."""
    return model_digest(np.full(N_VALUES, round_number, dtype=np.float32))


@dataclass(frozen=True)
class Federation:
    """A dealt 3-of-5 threshold key, the primes behind it and everyone's signing keys."""

    public_key: ThresholdPublicKey
    shares: list[KeyShare]
    p: int
    q: int
    signing_keys: dict[str, Ed25519PrivateKey]

    @property
    def ids(self) -> tuple[str, ...]:
        return self.public_key.participant_ids

    @property
    def roster(self) -> dict[str, Ed25519PublicKey]:
        return {pid: key.public_key() for pid, key in self.signing_keys.items()}

    def share(self, participant_id: str) -> KeyShare:
        return self.shares[self.ids.index(participant_id)]


def make_encryptor(federation: Federation, spec: PackingSpec, participant_id: str, *,
                   rounds: int = 1, seed: int | None = None) -> ParticipantEncryptor:
    """``participant_id``'s encryptor with randomness for ``rounds`` updates of ``N_VALUES``
    values; its stochastic rounding is seeded by ``seed`` (default: from the id)."""
    encryptor = ParticipantEncryptor(
        participant_id,
        federation.public_key,
        spec,
        federation.signing_keys[participant_id],
        federation_id=FEDERATION_ID,
        rng=np.random.default_rng(zlib.crc32(participant_id.encode()) if seed is None
                                  else seed),
    )
    encryptor.precompute(N_VALUES, rounds=rounds)
    return encryptor
