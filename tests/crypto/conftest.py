"""Shared, session-scoped key material for the crypto tests (small, insecure 512-bit keys)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fedcrm.crypto import PackingSpec, deal
from fedcrm.crypto._primes import generate_safe_prime
from tests.crypto._federation import PARTICIPANTS, TEST_KEY_BITS, Federation


@pytest.fixture(scope="session")
def federation() -> Federation:
    p = generate_safe_prime(TEST_KEY_BITS // 2)
    q = generate_safe_prime(TEST_KEY_BITS // 2)
    while q == p:
        q = generate_safe_prime(TEST_KEY_BITS // 2)
    public_key, shares = deal(
        PARTICIPANTS, bits=TEST_KEY_BITS, safe_primes=(p, q), allow_insecure_bits=True
    )
    signing_keys = {pid: Ed25519PrivateKey.generate() for pid in PARTICIPANTS}
    return Federation(public_key, shares, p, q, signing_keys)


@pytest.fixture(scope="session")
def spec() -> PackingSpec:
    return PackingSpec(
        clip=1.0, max_participants=len(PARTICIPANTS), max_weight=1000.0, key_bits=TEST_KEY_BITS
    )
