"""Threshold Paillier decryption (s = 1) with verifiable partial decryptions.

Why hand-written: ``phe`` (python-paillier) implements Paillier encryption and single-key
decryption only; it has no threshold decryption. This module adds the dealer-based scheme of
Fouque–Poupard–Stern 2000 ("Sharing decryption in the context of voting or lotteries") in the
form of Damgård–Jurik 2001 ("A generalisation, a simplification and some applications of
Paillier's probabilistic public-key system", §4) with ``s = 1``, using Shoup's 2000 technique
("Practical threshold signatures") for integer Lagrange interpolation with ``Δ = l!``.
The public key is an ordinary Paillier key with ``g = n + 1``, so phe's
``PaillierPublicKey(n)`` encrypts for it exactly (see :attr:`ThresholdPublicKey.paillier`).

Scheme, for ``l`` participants and quorum ``t + 1``:

* Dealer: safe primes ``p = 2p' + 1``, ``q = 2q' + 1``; ``n = pq``, ``m = p'q'``. The secret
  exponent ``d`` satisfies ``d ≡ 0 (mod m)`` and ``d ≡ 1 (mod n)``. Shamir-share ``d`` with a
  random polynomial ``f`` of degree ``t`` over ``Z_{nm}``: ``s_i = f(i)``. Publish a random
  square ``v`` and verification keys ``v_i = v^(Δ·s_i) mod n²``.
* Participant ``i``: partial decryption ``c_i = c^(2·Δ·s_i) mod n²`` with a proof that
  ``log_{c^4}(c_i^2) = log_v(v_i)`` (Chaum–Pedersen, made non-interactive with Fiat–Shamir
  over SHA-256). Many ciphertexts share one proof: they are first combined with random
  128-bit exponents derived from a hash of all of them (small-exponent batch test,
  Bellare–Garay–Rabin 1998), so one wrong value anywhere fails the whole proof.
* Combiner: any ``t + 1`` valid partials give ``c' = Π c_i^(2·μ_i) = c^(4·Δ²·d)`` with
  ``μ_i = Δ·λ_{0,i}``, and ``m = L(c') · (4Δ²)^(-1) mod n`` where ``L(u) = (u - 1) / n``.

Trust model (also in ``docs/crypto.md``):

* The **dealer** knows ``p, q, m, d`` and every share during the ceremony; it can decrypt
  anything. It must run in a short-lived process and forget them afterwards (Python cannot
  wipe memory, so exit the process). A malicious dealer is *not* defended against: it could
  keep ``d``. Inconsistent shares are caught when combining (the result must be
  ``≡ 1 (mod n)``) but cannot be attributed to anyone.
* The **coordinator** (combiner) sees ciphertexts and partial decryptions of what it asks to
  decrypt, hence only what a quorum agrees to decrypt — in ``fedcrm`` the aggregate.
* Fewer than a quorum of **colluding participants** learn nothing about ``d`` (Shamir
  sharing); a quorum of them together can decrypt any ciphertext they obtain.
* A **wrong partial decryption** is detected by its proof and named; fewer valid partials
  than the quorum fail with :class:`CryptoError`, never with a wrong plaintext.
* **Not protected**: a malicious dealer; a coordinator colluding with a quorum; participants
  who lie about their weight or values within the packing bounds (there are no range proofs;
  defences against poisoning are client-side); timing side channels of big-integer code.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import gmpy2
from phe import PaillierPublicKey

from fedcrm.crypto import _wire
from fedcrm.crypto._primes import generate_safe_prime, is_safe_prime
from fedcrm.errors import ConfigError, CryptoError

DEFAULT_KEY_BITS = 2048
# Keys below this are accepted only with allow_insecure_bits=True (tests, demos).
MIN_SECURE_KEY_BITS = 2048
MIN_TEST_KEY_BITS = 128
_CHALLENGE_BITS = 256  # SHA-256 output used whole as the Fiat–Shamir challenge
_BATCH_EXPONENT_BITS = 128
_STATISTICAL_HIDING_BITS = 128
_PARTIAL_MAGIC = b"FCPD"
_PIPPENGER_THRESHOLD = 32
_PIPPENGER_WINDOW = 8


def default_quorum(n_participants: int) -> int:
    """60 % of the participants, rounded up: ``⌈3l / 5⌉``."""
    if n_participants < 1:
        raise ConfigError(f"need at least one participant, got {n_participants}")
    return -(-3 * n_participants // 5)


def _hash(tag: bytes, *parts: int | bytes | str) -> hashlib._Hash:
    digest = hashlib.sha256()
    digest.update(len(tag).to_bytes(4, "big") + tag)
    for part in parts:
        if isinstance(part, str):
            raw = part.encode("utf-8")
        elif isinstance(part, bytes):
            raw = part
        else:
            raw = int(part).to_bytes(_wire.int_width(part), "big")
        digest.update(len(raw).to_bytes(4, "big") + raw)
    return digest


@dataclass(frozen=True)
class ThresholdPublicKey:
    """Public part of a threshold Paillier key: modulus, quorum and verification keys.

    ``participant_ids[i - 1]`` holds share ``i``; ``verification_keys[i - 1] = v^(Δ·s_i)``.
    """

    n: int
    participant_ids: tuple[str, ...]
    quorum: int
    verification_base: int
    verification_keys: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.n < 15 or self.n % 2 == 0:
            raise ConfigError("the modulus n must be an odd composite number")
        ids = self.participant_ids
        if not ids or len(set(ids)) != len(ids) or not all(isinstance(i, str) and i for i in ids):
            raise ConfigError("participant_ids must be distinct non-empty strings")
        if not 1 <= self.quorum <= len(ids):
            raise ConfigError(f"quorum must be in [1, {len(ids)}], got {self.quorum}")
        if 2 * self.quorum <= len(ids):
            # the rule deal() enforces, re-checked for keys read from a file or dealt elsewhere
            raise ConfigError(
                f"quorum {self.quorum} of {len(ids)} key holders is not a majority: two "
                "disjoint groups could each decrypt a different sum of one round; deal the "
                f"key again with a quorum of at least {len(ids) // 2 + 1}")
        if len(self.verification_keys) != len(ids):
            raise ConfigError(
                f"{len(ids)} participants need {len(ids)} verification keys, "
                f"got {len(self.verification_keys)}"
            )
        for value in (self.verification_base, *self.verification_keys):
            if not 1 <= value < self.nsquare:
                raise ConfigError("verification keys must lie in [1, n²)")

    def check_size(self, *, allow_insecure_bits: bool = False) -> None:
        """Refuse a modulus under :data:`MIN_SECURE_KEY_BITS` (as :func:`deal` does) unless
        ``allow_insecure_bits``; for keys read from a file or dealt outside fedcrm."""
        # two primes of b/2 bits each make a modulus of b or b - 1 bits
        if self.n.bit_length() + 1 < MIN_SECURE_KEY_BITS and not allow_insecure_bits:
            raise ConfigError(
                f"the threshold public key has a {self.n.bit_length()}-bit modulus; keys under "
                f"{MIN_SECURE_KEY_BITS} bits are insecure: run the key ceremony again with "
                "2048 or 3072 bits ([encryption] allow_insecure_bits is for tests only)")

    @property
    def nsquare(self) -> int:
        """``n²``, the ciphertext modulus."""
        return self.n * self.n

    @property
    def n_participants(self) -> int:
        """``l``, the number of shares."""
        return len(self.participant_ids)

    @cached_property
    def delta(self) -> int:
        """``Δ = l!`` (Shoup 2000, §2), which makes the Lagrange coefficients integral."""
        return math.factorial(self.n_participants)

    @cached_property
    def ciphertext_bytes(self) -> int:
        """Bytes of one ciphertext in fixed-width big-endian form."""
        return _wire.int_width(self.nsquare - 1)

    @cached_property
    def paillier(self) -> PaillierPublicKey:
        """The same key as phe's ``PaillierPublicKey`` (``g = n + 1``), for encryption."""
        return PaillierPublicKey(self.n)

    def encrypt(self, plaintext: int) -> int:
        """Encrypt one integer in ``[0, n)`` with fresh randomness (phe's ``raw_encrypt``)."""
        if not 0 <= plaintext < self.n:
            raise CryptoError("a Paillier plaintext must lie in [0, n)")
        r = 0
        while gmpy2.gcd(r, self.n) != 1:
            r = secrets.randbelow(self.n - 1) + 1
        return int(self.paillier.raw_encrypt(int(plaintext), r_value=r))

    def index_of(self, participant_id: str) -> int:
        """The share index (1-based) of ``participant_id``."""
        try:
            return self.participant_ids.index(participant_id) + 1
        except ValueError:
            raise CryptoError(
                f"participant {participant_id!r} holds no share of this key"
            ) from None

    def describe(self, index: int) -> str:
        """``"participant 'org-b' (share 2)"``, for error messages."""
        if 1 <= index <= self.n_participants:
            return f"participant {self.participant_ids[index - 1]!r} (share {index})"
        return f"unknown share {index}"

    def fingerprint(self) -> bytes:
        """SHA-256 over the whole public key; binds messages to this key."""
        return _hash(
            b"fedcrm.crypto.ThresholdPublicKey.v1",
            self.n,
            self.quorum,
            self.verification_base,
            *self.participant_ids,
            *self.verification_keys,
        ).digest()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (integers as hex strings)."""
        return {
            "n": format(self.n, "x"),
            "participant_ids": list(self.participant_ids),
            "quorum": self.quorum,
            "verification_base": format(self.verification_base, "x"),
            "verification_keys": [format(v, "x") for v in self.verification_keys],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ThresholdPublicKey:
        """Inverse of :meth:`to_dict`; raises :class:`ConfigError` on malformed input."""
        try:
            if not isinstance(data["participant_ids"], list):
                raise TypeError("participant_ids must be a list of participant ids")
            return cls(
                n=int(data["n"], 16),
                participant_ids=tuple(str(p) for p in data["participant_ids"]),
                quorum=int(data["quorum"]),
                verification_base=int(data["verification_base"], 16),
                verification_keys=tuple(int(v, 16) for v in data["verification_keys"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"malformed threshold public key: {exc!r}") from exc


@dataclass(frozen=True, repr=False)
class KeyShare:
    """One participant's secret share ``s_i`` of the decryption exponent. Keep it private."""

    def check(self, public_key: ThresholdPublicKey) -> None:
        """Raise :class:`ConfigError` unless this share belongs to ``public_key``: its key, its
        index and owner, and ``v^(Δ·s_i) = v_i`` (the dealt verification key; Shoup 2000, §2).
        A corrupted or mixed-up share is named on receipt, not at the first decryption."""
        index = self.index
        if (self.n != public_key.n or not 1 <= index <= len(public_key.participant_ids)
                or public_key.participant_ids[index - 1] != self.participant_id):
            raise ConfigError(f"the key share of {self.participant_id!r} does not belong to "
                              "this public key (wrong key, index or owner)")
        expected = public_key.verification_keys[index - 1]
        nsquare = public_key.n * public_key.n
        if gmpy2.powmod(public_key.verification_base, public_key.delta * self.secret,
                        nsquare) != expected:
            raise ConfigError(f"the key share of {self.participant_id!r} does not match its "
                              "verification key (corrupted, or from another dealing); ask "
                              "the dealer for it again")

    index: int
    participant_id: str
    secret: int
    n: int

    def __repr__(self) -> str:
        return f"KeyShare(index={self.index}, participant_id={self.participant_id!r}, secret=…)"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; contains the secret, store it like a private key."""
        return {
            "index": self.index,
            "participant_id": self.participant_id,
            "secret": format(self.secret, "x"),
            "n": format(self.n, "x"),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeyShare:
        """Inverse of :meth:`to_dict`. A malformed share is refused with the name of the bad
        entry, never its value (Python's own parse errors quote the text, which here is part
        of the secret, and would carry it into logs and tracebacks)."""
        if not isinstance(data, dict):
            raise ConfigError("malformed key share: not a JSON object")
        missing = [key for key in ("index", "participant_id", "secret", "n") if key not in data]
        if missing:
            raise ConfigError(f"malformed key share: no {', '.join(map(repr, missing))}")
        index = data["index"]
        if isinstance(index, bool) or not isinstance(index, int):
            raise ConfigError("malformed key share: 'index' is not a whole number")
        return cls(index=index, participant_id=str(data["participant_id"]),
                   secret=_hex_integer(data["secret"], "secret"), n=_hex_integer(data["n"], "n"))


def _hex_integer(value: Any, name: str) -> int:
    """``int(value, 16)`` for a key share's entry, refused without quoting the value."""
    if not isinstance(value, str):
        raise ConfigError(f"malformed key share: {name!r} is not a hexadecimal string")
    try:
        return int(value, 16)
    except ValueError:
        raise ConfigError(f"malformed key share: {name!r} is not a hexadecimal number "
                          "(a line break or other character inside it?)") from None


@dataclass(frozen=True)
class PartialDecryption:
    """Share ``index``'s partial decryptions of a batch of ciphertexts, with one proof.

    ``values[j] = c_j^(2·Δ·s_i) mod n²``; ``(challenge, response)`` is the Fiat–Shamir
    Chaum–Pedersen proof over the batch. A plain record: ints only.
    """

    index: int
    values: tuple[int, ...]
    challenge: int
    response: int

    def to_bytes(self) -> bytes:
        """Serialise (magic ``FCPD``, version, index, values, challenge, response)."""
        width = max((_wire.int_width(v) for v in self.values), default=1)
        return (
            _wire.Writer(_PARTIAL_MAGIC)
            .u64(self.index)
            .int_array(self.values, width)
            .big_int(self.challenge)
            .big_int(self.response)
            .getvalue()
        )

    @classmethod
    def from_bytes(
        cls, data: bytes, *, max_values: int = 1 << 24, max_value_bytes: int = 2048
    ) -> PartialDecryption:
        """Parse :meth:`to_bytes` output, validating every length."""
        reader = _wire.Reader(data, _PARTIAL_MAGIC, "partial decryption")
        index = reader.u64(maximum=1 << 16)
        values, _ = reader.int_array(
            field="values", max_count=max_values, max_width=max_value_bytes
        )
        challenge = reader.big_int(_CHALLENGE_BITS // 8, field="challenge")
        response = reader.big_int(4 * max_value_bytes, field="response")
        reader.done()
        return cls(index, tuple(values), challenge, response)


@dataclass(frozen=True)
class ThresholdDecryption:
    """Result of :func:`combine`: plaintexts, who was used, and who was rejected and why."""

    plaintexts: list[int]
    used: tuple[str, ...]
    rejected: dict[str, str] = field(default_factory=dict)


def deal(
    participant_ids: Sequence[str],
    quorum: int | None = None,
    *,
    bits: int = DEFAULT_KEY_BITS,
    safe_primes: tuple[int, int] | None = None,
    allow_insecure_bits: bool = False,
) -> tuple[ThresholdPublicKey, list[KeyShare]]:
    """The dealer's key ceremony: generate a threshold key and one share per participant.

    Parameters
    ----------
    participant_ids:
        Who receives shares; ``participant_ids[i - 1]`` gets share ``i``.
    quorum:
        How many shares decrypt; default :func:`default_quorum` (60 %, rounded up). It must
        be a majority (more than half of the shares): key holders each refuse a second
        aggregate for a round, and only a majority makes every two quorums share a holder,
        so two disjoint groups cannot decrypt two different sums whose difference is one
        org's update.
    bits:
        Modulus size: 2048 (default) or 3072. Smaller sizes need ``allow_insecure_bits``
        and are for tests only.
    safe_primes:
        Use these safe primes ``(p, q)`` instead of generating them (tests and benchmarks
        that cache slow key generation); they are checked.

    The dealer learns ``p, q, d``: run this in a short-lived process, send each share to its
    participant over an authenticated private channel, publish the public key, and exit.
    """
    ids = tuple(participant_ids)
    if not ids or len(set(ids)) != len(ids):
        raise ConfigError("participant_ids must be a non-empty list of distinct ids")
    n_participants = len(ids)
    quorum = default_quorum(n_participants) if quorum is None else quorum
    if isinstance(quorum, bool) or not 1 <= quorum <= n_participants:
        raise ConfigError(f"quorum must be in [1, {n_participants}], got {quorum!r}")
    if 2 * quorum <= n_participants:
        raise ConfigError(
            f"quorum {quorum} of {n_participants} key holders is not a majority: two disjoint "
            f"groups of {quorum} could each decrypt a different sum in one round, and the "
            f"difference of two sums can be one org's update; use a quorum of at least "
            f"{n_participants // 2 + 1} (the default is {default_quorum(n_participants)})")
    if bits % 2 or bits < MIN_TEST_KEY_BITS:
        raise ConfigError(f"bits must be an even number ≥ {MIN_TEST_KEY_BITS}, got {bits}")
    if bits < MIN_SECURE_KEY_BITS and not allow_insecure_bits:
        raise ConfigError(
            f"{bits}-bit keys are insecure; use bits=2048 or 3072 "
            "(tests may pass allow_insecure_bits=True)"
        )
    if safe_primes is None:
        p = generate_safe_prime(bits // 2)
        q = generate_safe_prime(bits // 2)
        while q == p:
            q = generate_safe_prime(bits // 2)
    else:
        p, q = (int(x) for x in safe_primes)
        if p == q or not (is_safe_prime(p) and is_safe_prime(q)):
            raise ConfigError("safe_primes must be two distinct safe primes")
        if p.bit_length() != bits // 2 or q.bit_length() != bits // 2:
            # balanced factors: proofs take challenges below both (plaintext_proofs)
            raise ConfigError(
                f"safe_primes must both have {bits // 2} bits for a {bits}-bit key, got "
                f"{p.bit_length()} and {q.bit_length()}"
            )
    n = p * q
    if n.bit_length() != bits:
        raise ConfigError(f"the safe primes give a {n.bit_length()}-bit modulus, not {bits}")
    p_prime, q_prime = (p - 1) // 2, (q - 1) // 2
    if min(p_prime, q_prime) <= n_participants:
        raise ConfigError("the primes are too small for this many participants")
    m = p_prime * q_prime
    nm = n * m
    nsquare = n * n
    # d ≡ 0 (mod m), d ≡ 1 (mod n); Damgård–Jurik 2001, §4.1
    d = m * int(gmpy2.invert(m, n))
    # Shamir sharing of d over Z_{nm}; Shoup 2000, §2
    coefficients = [d] + [secrets.randbelow(nm) for _ in range(quorum - 1)]
    secrets_by_index = [_evaluate(coefficients, i, nm) for i in range(1, n_participants + 1)]
    delta = math.factorial(n_participants)
    r = 0
    while gmpy2.gcd(r, n) != 1:
        r = secrets.randbelow(nsquare - 1) + 1
    v = int(gmpy2.powmod(r, 2, nsquare))  # a random square generates Q_{n²} w.h.p.
    public_key = ThresholdPublicKey(
        n=n,
        participant_ids=ids,
        quorum=quorum,
        # v_i = v^(Δ·s_i); Fouque–Poupard–Stern 2000, §3
        verification_base=v,
        verification_keys=tuple(int(gmpy2.powmod(v, delta * s, nsquare)) for s in secrets_by_index),
    )
    shares = [
        KeyShare(index=i, participant_id=ids[i - 1], secret=s, n=n)
        for i, s in enumerate(secrets_by_index, start=1)
    ]
    _self_test(public_key, shares)
    return public_key, shares


def _evaluate(coefficients: list[int], x: int, modulus: int) -> int:
    result = 0
    for coefficient in reversed(coefficients):
        result = (result * x + coefficient) % modulus
    return result


def _self_test(public_key: ThresholdPublicKey, shares: list[KeyShare]) -> None:
    """The ceremony's last step: a quorum decrypts a random message, or the deal fails."""
    message = secrets.randbelow(public_key.n)
    ciphertext = public_key.encrypt(message)
    partials = [partial_decrypt(s, public_key, [ciphertext]) for s in shares[: public_key.quorum]]
    if combine(public_key, [ciphertext], partials).plaintexts != [message]:
        raise CryptoError("key ceremony self-test failed: the shares do not decrypt")


def _check_ciphertexts(public_key: ThresholdPublicKey, ciphertexts: Sequence[int]) -> None:
    if not ciphertexts:
        raise CryptoError("nothing to decrypt: no ciphertexts given")
    nsquare = public_key.nsquare
    for position, ciphertext in enumerate(ciphertexts):
        if not 0 < ciphertext < nsquare:
            raise CryptoError(f"ciphertext {position} is outside [1, n²)")


def _batch(
    public_key: ThresholdPublicKey, index: int, ciphertexts: Sequence[int], values: Sequence[int]
) -> tuple[gmpy2.mpz, gmpy2.mpz]:
    """Combine a batch with hash-derived 128-bit exponents (Bellare–Garay–Rabin 1998, §3)."""
    width = public_key.ciphertext_bytes
    seed = _hash(b"fedcrm.crypto.threshold.batch.v1", public_key.fingerprint(), index, len(values))
    for number in (*ciphertexts, *values):
        seed.update(int(number).to_bytes(width, "big"))
    root = seed.digest()
    exponents = [
        int.from_bytes(
            hashlib.sha256(root + position.to_bytes(8, "big")).digest()[
                : _BATCH_EXPONENT_BITS // 8
            ],
            "big",
        )
        for position in range(len(values))
    ]
    nsquare = gmpy2.mpz(public_key.nsquare)
    return (
        multi_exponentiate(ciphertexts, exponents, nsquare),
        multi_exponentiate(values, exponents, nsquare),
    )


def multi_exponentiate(bases: Sequence[int], exponents: Sequence[int], modulus: int) -> gmpy2.mpz:
    """``Π bases[j]^exponents[j] mod modulus`` for non-negative exponents.

    Long batches use Pippenger's bucket method (Pippenger 1980, "On the evaluation of powers"):
    per 8-bit window of the exponents, each base is multiplied into the bucket of its digit
    and the buckets are combined with two running products, so a 128-bit exponent costs
    about 16 multiplications per base instead of ~150 for separate exponentiations.
    """
    modulus = gmpy2.mpz(modulus)
    if len(bases) != len(exponents):
        raise CryptoError("multi-exponentiation needs one exponent per base")
    if len(bases) < _PIPPENGER_THRESHOLD:
        result = gmpy2.mpz(1)
        for base, exponent in zip(bases, exponents, strict=True):
            result = result * gmpy2.powmod(base, exponent, modulus) % modulus
        return result
    window, mask = _PIPPENGER_WINDOW, (1 << _PIPPENGER_WINDOW) - 1
    top_bits = max(int(e).bit_length() for e in exponents)
    mpz_bases = [gmpy2.mpz(b) for b in bases]
    result = gmpy2.mpz(1)
    for shift in range((top_bits - 1) // window * window, -1, -window):
        result = gmpy2.powmod(result, 1 << window, modulus)
        buckets = [gmpy2.mpz(1)] * (mask + 1)
        for base, exponent in zip(mpz_bases, exponents, strict=True):
            digit = (exponent >> shift) & mask
            if digit:
                buckets[digit] = buckets[digit] * base % modulus
        # Σ_d d·bucket_d as a product: running = Π_{d' ≥ d} bucket_d', window_sum = Π running
        running = window_sum = gmpy2.mpz(1)
        for digit in range(mask, 0, -1):
            running = running * buckets[digit] % modulus
            window_sum = window_sum * running % modulus
        result = result * window_sum % modulus
    return result


def _challenge(
    public_key: ThresholdPublicKey,
    index: int,
    base: int,
    target: int,
    commitment_base: int,
    commitment_key: int,
) -> int:
    digest = _hash(
        b"fedcrm.crypto.threshold.proof.v1",
        public_key.fingerprint(),
        index,
        base,
        target,
        public_key.verification_base,
        public_key.verification_keys[index - 1],
        commitment_base,
        commitment_key,
    )
    return int.from_bytes(digest.digest(), "big")


def _response_bits(public_key: ThresholdPublicKey) -> int:
    # r must hide e·Δ·s_i statistically: |n²| + |Δ| + |e| + 128 bits (Shoup 2000, §2)
    return (
        public_key.nsquare.bit_length()
        + public_key.delta.bit_length()
        + _CHALLENGE_BITS
        + _STATISTICAL_HIDING_BITS
    )


def partial_decrypt(
    share: KeyShare, public_key: ThresholdPublicKey, ciphertexts: Sequence[int]
) -> PartialDecryption:
    """Participant side: ``c^(2·Δ·s_i) mod n²`` for every ciphertext, with one proof."""
    if share.n != public_key.n:
        raise CryptoError(
            f"the key share of {share.participant_id!r} belongs to a different public key"
        )
    if not (1 <= share.index <= public_key.n_participants
            and public_key.participant_ids[share.index - 1] == share.participant_id):
        raise CryptoError(f"share {share.index} is not registered to {share.participant_id!r}")
    _check_ciphertexts(public_key, ciphertexts)
    nsquare = gmpy2.mpz(public_key.nsquare)
    secret_exponent = public_key.delta * share.secret  # the common discrete log Δ·s_i
    exponent = gmpy2.mpz(2 * secret_exponent)
    # c_i = c^(2Δs_i) mod n²; Fouque–Poupard–Stern 2000, §3
    values = tuple(int(gmpy2.powmod(c, exponent, nsquare)) for c in ciphertexts)
    combined_ciphertext, combined_value = _batch(public_key, share.index, ciphertexts, values)
    base = gmpy2.powmod(combined_ciphertext, 4, nsquare)
    target = gmpy2.powmod(combined_value, 2, nsquare)
    # Chaum–Pedersen proof of log_base(target) = log_v(v_i), Fiat–Shamir; Shoup 2000, §2
    blinding = secrets.randbits(_response_bits(public_key))
    commitment_base = gmpy2.powmod(base, blinding, nsquare)
    commitment_key = gmpy2.powmod(public_key.verification_base, blinding, nsquare)
    challenge = _challenge(public_key, share.index, base, target, commitment_base, commitment_key)
    response = blinding + challenge * secret_exponent
    return PartialDecryption(share.index, values, challenge, response)


def verify_partial(
    public_key: ThresholdPublicKey, ciphertexts: Sequence[int], partial: PartialDecryption
) -> None:
    """Check a partial decryption's proof; raise :class:`CryptoError` naming the participant."""
    who = public_key.describe(partial.index)
    if not 1 <= partial.index <= public_key.n_participants:
        raise CryptoError(f"partial decryption from {who}: no such share in this key")
    _check_ciphertexts(public_key, ciphertexts)
    if len(partial.values) != len(ciphertexts):
        raise CryptoError(
            f"partial decryption from {who} has {len(partial.values)} values for "
            f"{len(ciphertexts)} ciphertexts"
        )
    nsquare = gmpy2.mpz(public_key.nsquare)
    if any(not 0 < value < nsquare for value in partial.values):
        raise CryptoError(f"partial decryption from {who} has a value outside [1, n²)")
    if not 0 <= partial.challenge < 1 << _CHALLENGE_BITS or not (
        0 <= partial.response < 1 << (_response_bits(public_key) + 1)
    ):
        raise CryptoError(f"partial decryption from {who} has a malformed proof")
    combined_ciphertext, combined_value = _batch(
        public_key, partial.index, ciphertexts, partial.values
    )
    base = gmpy2.powmod(combined_ciphertext, 4, nsquare)
    target = gmpy2.powmod(combined_value, 2, nsquare)
    verification_key = public_key.verification_keys[partial.index - 1]
    try:
        target_inverse = gmpy2.invert(target, nsquare)
        key_inverse = gmpy2.invert(verification_key, nsquare)
    except ZeroDivisionError:
        raise CryptoError(
            f"partial decryption from {who} is invalid: a value is not invertible mod n²"
        ) from None
    commitment_base = (
        gmpy2.powmod(base, partial.response, nsquare)
        * gmpy2.powmod(target_inverse, partial.challenge, nsquare)
        % nsquare
    )
    commitment_key = (
        gmpy2.powmod(public_key.verification_base, partial.response, nsquare)
        * gmpy2.powmod(key_inverse, partial.challenge, nsquare)
        % nsquare
    )
    expected = _challenge(public_key, partial.index, base, target, commitment_base, commitment_key)
    if expected != partial.challenge:
        raise CryptoError(
            f"partial decryption from {who} is invalid: its correctness proof does not "
            "verify (wrong key share, tampered values, or values for other ciphertexts)"
        )


def lagrange_coefficients(indices: Iterable[int], delta: int) -> dict[int, int]:
    """Integer coefficients ``μ_i = Δ·Π_{j≠i} j / (j - i)`` at 0 (Shoup 2000, §2)."""
    chosen = sorted(set(indices))
    coefficients = {}
    for i in chosen:
        numerator, denominator = delta, 1
        for j in chosen:
            if j != i:
                numerator *= j
                denominator *= j - i
        if numerator % denominator:
            raise CryptoError("internal error: Lagrange coefficient is not an integer")
        coefficients[i] = numerator // denominator
    return coefficients


def combine(
    public_key: ThresholdPublicKey,
    ciphertexts: Sequence[int],
    partials: Sequence[PartialDecryption],
) -> ThresholdDecryption:
    """Verify every partial, then decrypt with a quorum of the valid ones.

    Invalid partials are left out and reported by participant in ``rejected``; a holder
    that sent a valid one is never listed there (an invalid partial before or a second one
    after its valid one is forgotten: it decrypted, and the round log named it in both
    lists). Fewer valid partials than the quorum raise :class:`CryptoError` naming the
    rejected participants. The result is never computed from an unverified partial.
    """
    _check_ciphertexts(public_key, ciphertexts)
    valid: dict[int, PartialDecryption] = {}
    rejected: dict[str, str] = {}
    duplicates = 0
    for partial in partials:
        who = public_key.describe(partial.index)
        if partial.index in valid:  # a second partial of a holder that decrypted: unused
            duplicates += 1
            continue
        try:
            verify_partial(public_key, ciphertexts, partial)
        except CryptoError as exc:
            rejected[who] = str(exc)
            continue
        valid[partial.index] = partial
        # a valid partial after an invalid one of the same holder: the holder did decrypt
        # (the round log listed it as both refused and decrypting)
        rejected.pop(who, None)
    if len(valid) < public_key.quorum:
        details = "; ".join(f"{who}: {why}" for who, why in rejected.items()) or "none"
        extra = (f"; {duplicates} duplicate partial(s) of a holder already counted "
                 "ignored" if duplicates else "")
        raise CryptoError(
            f"threshold decryption needs {public_key.quorum} valid partial decryptions, "
            f"got {len(valid)} (rejected: {details}{extra})"
        )
    chosen = sorted(valid)[: public_key.quorum]
    delta = public_key.delta
    coefficients = lagrange_coefficients(chosen, delta)
    n = gmpy2.mpz(public_key.n)
    nsquare = n * n
    scale_inverse = gmpy2.invert(4 * delta * delta, n)
    exponents = [(valid[i].values, gmpy2.mpz(2 * coefficients[i])) for i in chosen]
    plaintexts = []
    for position in range(len(ciphertexts)):
        # c' = Π c_i^(2μ_i) = c^(4Δ²d) = 1 + 4Δ²·m·n (mod n²); Damgård–Jurik 2001, §4.1
        accumulated = gmpy2.mpz(1)
        for values, exponent in exponents:
            accumulated = accumulated * gmpy2.powmod(values[position], exponent, nsquare)
            accumulated %= nsquare
        if (accumulated - 1) % n:
            raise CryptoError(
                f"threshold decryption of ciphertext {position} is inconsistent although "
                "every proof verified; the key material is corrupt"
            )
        plaintexts.append(int((accumulated - 1) // n * scale_inverse % n))
    used = tuple(public_key.participant_ids[i - 1] for i in chosen)
    return ThresholdDecryption(plaintexts, used, rejected)
