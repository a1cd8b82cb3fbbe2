"""Safe-prime generation for the threshold Paillier key ceremony.

A safe prime is ``p = 2·p' + 1`` with ``p'`` prime. Threshold Paillier needs ``n = p·q``
with both factors safe so that the group of squares modulo ``n`` is cyclic of order
``p'·q'`` (Shoup 2000, "Practical threshold signatures", §2; Fouque–Poupard–Stern 2000, §3).

The search draws a random starting point from :mod:`secrets` (key material), sieves a window
of candidates ``q ≡ 5 (mod 6)`` so that neither ``q`` nor ``2q + 1`` has a small factor, and
runs gmpy2's probabilistic primality test (Baillie–PSW followed by Miller–Rabin rounds) on
the few survivors. Sieving first is what makes 1024-bit safe primes take seconds, not minutes.
"""

from __future__ import annotations

import secrets
from functools import lru_cache

import gmpy2
import numpy as np

from fedcrm.errors import ConfigError

# Miller–Rabin repetitions passed to gmpy2.is_prime (after its Baillie–PSW test); the error
# probability is far below 2^-80 for random candidates.
_PRIMALITY_REPS = 40
_SIEVE_LIMIT = 1 << 16
_WINDOW = 1 << 13
MIN_SAFE_PRIME_BITS = 16


@lru_cache(maxsize=1)
def _small_primes() -> tuple[int, ...]:
    """Odd primes 5 ≤ s < ``_SIEVE_LIMIT`` (2 and 3 are handled by the q ≡ 5 mod 6 step)."""
    flags = np.ones(_SIEVE_LIMIT, dtype=bool)
    flags[:2] = False
    for k in range(2, int(_SIEVE_LIMIT**0.5) + 1):
        if flags[k]:
            flags[k * k :: k] = False
    return tuple(int(s) for s in np.flatnonzero(flags) if s > 3)


def is_safe_prime(p: int) -> bool:
    """Whether ``p`` and ``(p - 1) / 2`` are both (probable) primes."""
    if p < 7 or p % 2 == 0:
        return False
    return bool(gmpy2.is_prime(p, _PRIMALITY_REPS)) and bool(
        gmpy2.is_prime((p - 1) // 2, _PRIMALITY_REPS)
    )


def generate_safe_prime(bits: int) -> int:
    """Return a random safe prime of exactly ``bits`` bits whose two top bits are set.

    Setting the two top bits guarantees that the product of two such primes has exactly
    ``2 · bits`` bits. Randomness comes from :mod:`secrets`.
    """
    if bits < MIN_SAFE_PRIME_BITS:
        raise ConfigError(f"safe primes need at least {MIN_SAFE_PRIME_BITS} bits, got bits={bits}")
    q_bits = bits - 1
    small_primes = _small_primes()
    while True:
        start = secrets.randbits(q_bits) | (3 << (q_bits - 2)) | 1
        start += (5 - start % 6) % 6  # q ≡ 5 (mod 6): q odd, and 3 divides neither q nor 2q+1
        alive = np.ones(_WINDOW, dtype=bool)
        for s in small_primes:
            if s >= 1 << (q_bits - 1):  # never strike a candidate for being a small prime itself
                break
            residue = start % s
            inverse_six = pow(6, -1, s)
            # candidate k is q = start + 6k; strike q ≡ 0 and 2q + 1 ≡ 0 (q ≡ (s-1)/2) mod s
            alive[(-residue * inverse_six) % s :: s] = False
            alive[(((s - 1) // 2 - residue) * inverse_six) % s :: s] = False
        for k in np.flatnonzero(alive):
            q = gmpy2.mpz(start + 6 * int(k))
            if q.bit_length() != q_bits:
                break
            p = 2 * q + 1
            # a cheap base-2 Fermat test on both numbers rejects almost every candidate
            if gmpy2.powmod(2, q - 1, q) != 1 or gmpy2.powmod(2, 2 * q, p) != 1:
                continue
            if gmpy2.is_prime(q, _PRIMALITY_REPS) and gmpy2.is_prime(p, _PRIMALITY_REPS):
                return int(p)
