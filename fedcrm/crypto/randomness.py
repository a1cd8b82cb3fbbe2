"""Precomputed Paillier encryption randomness: the offline/online split.

Paillier encryption with ``g = n + 1`` is ``c = (1 + m·n) · r^n mod n²`` (Paillier 1999,
§3; the ``(1 + n)^m = 1 + m·n`` shortcut is from Damgård–Jurik 2001, §3). The expensive part,
``r^n mod n²``, does not depend on the message, so a participant computes a pool of them
*offline* (between rounds) and encryption *online* is one multiplication modulo ``n²``.

Every pooled value is handed out once and forgotten: reusing ``r^n`` for two plaintexts would
let anyone divide the two ciphertexts and read ``m1 - m2`` in the clear. For the same reason
a pool refuses to be copied or pickled (a restored copy would hand the same values out again).
Randomness comes from :mod:`secrets` only.
"""

from __future__ import annotations

import secrets
import threading
from collections import deque
from typing import Literal, NoReturn, Protocol

import gmpy2

from fedcrm.errors import ConfigError, CryptoError

OnEmpty = Literal["raise", "compute"]


class PaillierModulus(Protocol):
    """Anything with a Paillier modulus ``n``: phe's ``PaillierPublicKey`` or ours."""

    @property
    def n(self) -> int: ...


def fresh_obfuscator(n: int) -> int:
    """A fresh ``r^n mod n²`` with ``r`` drawn uniformly from ``Z*_n`` by :mod:`secrets`."""
    modulus = gmpy2.mpz(n)
    while True:
        r = gmpy2.mpz(secrets.randbelow(n - 1) + 1)
        if gmpy2.gcd(r, modulus) == 1:
            return int(gmpy2.powmod(r, modulus, modulus * modulus))


class RandomnessPool:
    """A one-use store of precomputed ``r^n mod n²`` values for one public key.

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
        self._nsquare = gmpy2.mpz(self.n) ** 2
        self._values: deque[gmpy2.mpz] = deque()
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
        fresh = [gmpy2.mpz(fresh_obfuscator(self.n)) for _ in range(count)]
        with self._lock:
            self._values.extend(fresh)

    def take(self, count: int = 1) -> list[gmpy2.mpz]:
        """Remove and return ``count`` values; each value leaves the pool for good.

        With ``on_empty="raise"`` nothing is taken unless all ``count`` values are there.
        """
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
            taken.extend(gmpy2.mpz(fresh_obfuscator(self.n)) for _ in range(missing))
        return taken

    def encrypt(self, plaintexts: list[int]) -> list[int]:
        """Online step: Paillier-encrypt each plaintext with its own fresh pooled value."""
        n = gmpy2.mpz(self.n)
        for plaintext in plaintexts:
            if not 0 <= plaintext < self.n:
                raise CryptoError("a Paillier plaintext must lie in [0, n)")
        obfuscators = self.take(len(plaintexts))
        nsquare = self._nsquare
        # (1 + n)^m ≡ 1 + m·n (mod n²); Damgård–Jurik 2001, §3
        return [
            int((1 + gmpy2.mpz(plaintext) * n) * obfuscator % nsquare)
            for plaintext, obfuscator in zip(plaintexts, obfuscators, strict=True)
        ]

    def __reduce__(self) -> NoReturn:
        raise CryptoError(
            "a RandomnessPool cannot be copied or pickled: a restored copy would hand out "
            "the same randomness twice"
        )

    def __copy__(self) -> NoReturn:
        self.__reduce__()

    def __deepcopy__(self, memo: object) -> NoReturn:
        self.__reduce__()
