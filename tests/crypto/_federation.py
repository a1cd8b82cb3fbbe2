"""The shared test federation: a dealt 3-of-5 key, its primes and the signing keys."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fedcrm.crypto import KeyShare, ThresholdPublicKey

TEST_KEY_BITS = 512
PARTICIPANTS = ("org-a", "org-b", "org-c", "org-d", "org-e")


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
