"""Precomputed Paillier encryption randomness: the offline/online split.

Paillier encryption with ``g = n + 1`` is ``c = (1 + m·n) · r^n mod n²`` (Paillier 1999,
§3; the ``(1 + n)^m = 1 + m·n`` shortcut is from Damgård–Jurik 2001, §3). The expensive part,
``r^n mod n²``, does not depend on the message, so a participant computes a pool of them
*offline* (between rounds) and encryption *online* is one multiplication modulo ``n²``.

Every pooled value is handed out once and forgotten: reusing ``r^n`` for two plaintexts would
let anyone divide the two ciphertexts and read ``m1 - m2`` in the clear. For the same reason
a pool refuses to be copied or pickled (a restored copy would hand the same values out again).
Randomness comes from :mod:`secrets` only.

The pool keeps each ``r`` next to its ``r^n``: an update's proof of plaintext knowledge
(:mod:`~fedcrm.crypto.plaintext_proofs`) needs the ``r`` of every ciphertext it proves, and
its own commitment randomness ``(s, s^n)`` is one more pooled pair. ``r`` is never
serialised.
"""

from __future__ import annotations

import secrets
import threading
from collections import deque
from dataclasses import dataclass
from typing import Literal, NoReturn, Protocol

import gmpy2

from fedcrm.errors import ConfigError, CryptoError

OnEmpty = Literal["raise", "compute"]


class PaillierModulus(Protocol):
    """Anything with a Paillier modulus ``n``: phe's ``PaillierPublicKey`` or ours."""

    @property
    def n(self) -> int: ...


@dataclass(frozen=True, slots=True, repr=False)
class PooledRandomness:
    """One precomputed pair: ``r`` uniform in ``Z*_n`` and ``r_to_n = r^n mod n²``.

    ``r`` is a secret (it opens the ciphertext it randomised); it is used once and never
    serialised.
    """

    r: gmpy2.mpz
    r_to_n: gmpy2.mpz

    def __repr__(self) -> str:
        return "PooledRandomness(r=…, r_to_n=…)"

    def __reduce__(self) -> NoReturn:
        raise CryptoError("pooled randomness is secret and used once; it cannot be serialised")


def fresh_randomness(n: int) -> PooledRandomness:
    """A fresh ``(r, r^n mod n²)`` with ``r`` drawn uniformly from ``Z*_n`` by :mod:`secrets`."""
    modulus = gmpy2.mpz(n)
    while True:
        r = gmpy2.mpz(secrets.randbelow(n - 1) + 1)
        if gmpy2.gcd(r, modulus) == 1:
            return PooledRandomness(r, gmpy2.powmod(r, modulus, modulus * modulus))


def fresh_obfuscator(n: int) -> int:
    """A fresh ``r^n mod n²`` with ``r`` drawn uniformly from ``Z*_n`` by :mod:`secrets`."""
    return int(fresh_randomness(n).r_to_n)


def check_plaintexts(n: int, plaintexts: list[int]) -> None:
    """Raise :class:`CryptoError` unless every plaintext lies in ``[0, n)``."""
    for plaintext in plaintexts:
        if not 0 <= plaintext < n:
            raise CryptoError("a Paillier plaintext must lie in [0, n)")


def encrypt_with(
    n: int, plaintexts: list[int], randomness: list[PooledRandomness]
) -> list[int]:
    """Paillier-encrypt ``plaintexts[j]`` with ``randomness[j]`` (fresh pairs, each used once)."""
    check_plaintexts(n, plaintexts)
    modulus = gmpy2.mpz(n)
    nsquare = modulus * modulus
    # (1 + n)^m ≡ 1 + m·n (mod n²); Damgård–Jurik 2001, §3
    return [
        int((1 + gmpy2.mpz(plaintext) * modulus) * pair.r_to_n % nsquare)
        for plaintext, pair in zip(plaintexts, randomness, strict=True)
    ]


class RandomnessPool:
    """A one-use store of precomputed ``(r, r^n mod n²)`` pairs for one public key.

    Parameters
    ----------
    public_key:
        The Paillier key (phe ``PaillierPublicKey`` or ``ThresholdPublicKey``).
    on_empty:
        What :meth:`take` does when the pool is empty: ``"raise"`` (default) raises
        :class:`CryptoError`; ``"compute"`` computes a fresh value online (slow, counted in
        :attr:`fallback_count`). Neither ever reuses a value.
    """

    def __init__(self, public_key: PaillierModulus, *, on_empty: OnEmpty = "raise") -> None:
        if on_empty not in ("raise", "compute"):
            raise ConfigError(f"on_empty must be 'raise' or 'compute', got {on_empty!r}")
        self.n = int(public_key.n)
        self.on_empty: OnEmpty = on_empty
        self._values: deque[PooledRandomness] = deque()
        self._lock = threading.Lock()
        self.fallback_count = 0
        self.taken_count = 0

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return (
            f"RandomnessPool(available={len(self)}, taken={self.taken_count}, "
            f"on_empty={self.on_empty!r})"
        )

    def precompute(self, count: int) -> None:
        """Offline step: add ``count`` fresh values to the pool."""
        if count < 0:
            raise ConfigError(f"count must be ≥ 0, got {count}")
        fresh = [fresh_randomness(self.n) for _ in range(count)]
        with self._lock:
            self._values.extend(fresh)

    def take(self, count: int = 1) -> list[gmpy2.mpz]:
        """Remove and return ``count`` values ``r^n``; each value leaves the pool for good.

        With ``on_empty="raise"`` nothing is taken unless all ``count`` values are there.
        """
        return [pair.r_to_n for pair in self.take_pairs(count)]

    def take_pairs(self, count: int = 1) -> list[PooledRandomness]:
        """Like :meth:`take`, but each ``r^n`` comes with its ``r`` (for proofs)."""
        if count < 0:
            raise ConfigError(f"count must be ≥ 0, got {count}")
        with self._lock:
            available = len(self._values)
            if available < count and self.on_empty == "raise":
                raise CryptoError(
                    f"randomness pool exhausted: {count} values needed, {available} left; "
                    "call precompute() between rounds, or create the pool with "
                    "on_empty='compute' to accept slow online encryption"
                )
            taken = [self._values.popleft() for _ in range(min(count, available))]
            self.taken_count += count
        missing = count - len(taken)
        if missing:
            self.fallback_count += missing
            taken.extend(fresh_randomness(self.n) for _ in range(missing))
        return taken

    def encrypt(self, plaintexts: list[int]) -> list[int]:
        """Online step: Paillier-encrypt each plaintext with its own fresh pooled value."""
        check_plaintexts(self.n, plaintexts)
        return encrypt_with(self.n, plaintexts, self.take_pairs(len(plaintexts)))

    def __reduce__(self) -> NoReturn:
        raise CryptoError(
            "a RandomnessPool cannot be copied or pickled: a restored copy would hand out "
            "the same randomness twice"
        )

    def __copy__(self) -> NoReturn:
        self.__reduce__()

    def __deepcopy__(self, memo: object) -> NoReturn:
        self.__reduce__()
