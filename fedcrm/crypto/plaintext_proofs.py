"""Non-interactive proofs that the sender of a Paillier ciphertext knows its plaintext.

Why: the coordinator multiplies signed ciphertexts, and key holders check that the aggregate
is that product. Without these proofs a participant colluding with the coordinator can sign,
as its own update, a transform of another org's ciphertexts (their inverse, say): the
other org then cancels out of the sum, and the decrypted aggregate of a "quorum" of
contributors is one org's update alone. With a proof bound to its signer and position, every
signed ciphertext is one whose plaintext its signer knows, so it cannot depend on another
org's secret update.

The Σ-protocol is the proof of plaintext knowledge for Paillier (Cramer–Damgård–Nielsen 2001,
"Multiparty computation from threshold homomorphic encryption"; Damgård–Jurik 2001), made
non-interactive with Fiat–Shamir. For ``c = g^m · r^n mod n²`` with ``g = n + 1``:

* commitment: ``a = g^x · s^n mod n²`` with ``x`` uniform in ``Z_n`` and ``(s, s^n)`` a pooled
  pair (:mod:`~fedcrm.crypto.randomness`), so proving costs no online exponentiation by ``n``;
* challenge: ``e`` = the first :func:`challenge_bits` bits of SHA-256 over a domain tag, the
  federation, round, participant, context (key and packing), the ciphertext's index, ``c``
  and ``a``;
* response: ``z = x + e·m mod n`` and ``w = s · r^e mod n``;
* check: ``0 ≤ z < n``, ``w`` a unit mod ``n``, ``a`` a unit mod ``n²`` and
  ``g^z · w^n ≡ a · c^e (mod n²)``.

Completeness: ``g`` has order ``n`` in ``Z*_{n²}`` (``(1 + n)^n ≡ 1``), so dropping the
carry ``⌊(x + e·m)/n⌋`` changes nothing, and ``w^n mod n²`` depends on ``w`` mod ``n`` only.
Special soundness: two answers ``(z, w)``, ``(z', w')`` to challenges ``e ≠ e'`` for one ``a``
give ``g^(z−z') (w/w')^n = c^(e−e')``; ``0 < |e − e'|`` is below both prime factors of ``n``,
so with ``α(e − e') + βn = 1`` the plaintext is ``α(z − z') mod n`` and the randomness
``(w/w')^α c^β mod n``. Zero knowledge (honest verifier, hence Fiat–Shamir in the random
oracle model): ``z`` is uniform in ``Z_n`` and ``w`` uniform in ``Z*_n`` whatever ``m`` is.
Because the hash covers the signer, round, index, ``c`` and ``a``, a proof cannot be copied
to another participant, round or position, nor mauled into one for ``c^(-1)`` (that needs
the same ``e`` for a different ``(c, a)``).

Verification is batched (small-exponent test, Bellare–Garay–Rabin 1998): with fresh 128-bit
``ρ_j`` from :mod:`secrets`, one update's proofs pass together iff
``(g^(Σρ_j z_j) · (Π w_j^ρ_j mod n)^n)² ≡ (Π a_j^ρ_j · c_j^(ρ_j e_j))² (mod n²)``: one
exponentiation by ``n`` per update instead of one per ciphertext, and
:func:`~fedcrm.crypto.threshold.multi_exponentiate` for the products. Squaring removes the
elements of order 2 of ``Z*_{n²}`` (``−1`` among them), which a random ``ρ_j`` would miss
half the time, as in :func:`~fedcrm.crypto.threshold.verify_partial`; all other element
orders have only large prime factors (safe primes), so a false batch passes with probability
about ``2^-128``. An answer wrong only by an order-2 factor ``δ`` is still a proof of
knowledge: ``δ = δ^n``, so ``(z, w·δ mod n)`` answers exactly.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import gmpy2

from fedcrm.crypto import _wire
from fedcrm.crypto.randomness import RandomnessPool, check_plaintexts, encrypt_with
from fedcrm.crypto.threshold import ThresholdPublicKey, _hash, multi_exponentiate
from fedcrm.errors import CryptoError

MAX_CHALLENGE_BITS = 128
_BATCH_EXPONENT_BITS = 128
_CHALLENGE_TAG = b"fedcrm.crypto.plaintext_knowledge.challenge.v1"
#: pooled ``(r, r^n)`` pairs one ciphertext needs: its encryption and its proof commitment
POOL_PAIRS_PER_CIPHERTEXT = 2


@dataclass(frozen=True)
class ProofBinding:
    """What every proof of one update is bound to, besides its ciphertext and index."""

    federation_id: str
    round_number: int
    participant_id: str
    context: bytes


@dataclass(frozen=True)
class PlaintextProof:
    """One ciphertext's proof: commitment ``a`` (mod ``n²``), responses ``z``, ``w`` (mod ``n``)."""

    commitment: int
    plaintext_response: int
    randomness_response: int


def challenge_bits(public_key: ThresholdPublicKey) -> int:
    """Challenge length: 128 bits, fewer only for toy keys whose primes are shorter.

    Special soundness needs every challenge difference to be invertible modulo ``n``, i.e.
    below its smallest prime factor (``bits/2`` bits for keys from :func:`deal`).
    """
    return min(MAX_CHALLENGE_BITS, public_key.n.bit_length() // 2 - 2)


def proof_bytes(public_key: ThresholdPublicKey) -> int:
    """Bytes of one serialised proof: ``a`` as wide as a ciphertext, ``z`` and ``w`` mod n."""
    return public_key.ciphertext_bytes + 2 * _wire.int_width(public_key.n - 1)


def _challenge(
    public_key: ThresholdPublicKey,
    binding: ProofBinding,
    index: int,
    ciphertext: int,
    commitment: int,
) -> int:
    digest = _hash(
        _CHALLENGE_TAG,
        binding.federation_id,
        binding.round_number,
        binding.participant_id,
        binding.context,
        index,
        ciphertext,
        commitment,
    ).digest()
    return int.from_bytes(digest, "big") >> (8 * len(digest) - challenge_bits(public_key))


def encrypt_and_prove(
    public_key: ThresholdPublicKey,
    pool: RandomnessPool,
    plaintexts: list[int],
    binding: ProofBinding,
) -> tuple[list[int], list[PlaintextProof]]:
    """Encrypt ``plaintexts`` with pooled randomness and prove knowledge of each one.

    Takes :data:`POOL_PAIRS_PER_CIPHERTEXT` pairs per plaintext from ``pool`` (all or none
    when the pool raises on empty); each ``r`` is used once and dropped on return.
    """
    check_plaintexts(public_key.n, plaintexts)
    count = len(plaintexts)
    pairs = pool.take_pairs(POOL_PAIRS_PER_CIPHERTEXT * count)
    encryption, commitment_randomness = pairs[:count], pairs[count:]
    ciphertexts = encrypt_with(public_key.n, plaintexts, encryption)
    n = gmpy2.mpz(public_key.n)
    nsquare = n * n
    proofs = []
    for index, (plaintext, ciphertext, used, blinding) in enumerate(
        zip(plaintexts, ciphertexts, encryption, commitment_randomness, strict=True)
    ):
        mask = gmpy2.mpz(secrets.randbelow(public_key.n))  # x
        # a = g^x · s^n with g^x = 1 + x·n (mod n²)
        commitment = (1 + mask * n) * blinding.r_to_n % nsquare
        challenge = _challenge(public_key, binding, index, ciphertext, int(commitment))
        plaintext_response = (mask + challenge * plaintext) % n
        randomness_response = blinding.r * gmpy2.powmod(used.r, challenge, n) % n
        proofs.append(
            PlaintextProof(int(commitment), int(plaintext_response), int(randomness_response))
        )
    return ciphertexts, proofs


def proofs_to_bytes(public_key: ThresholdPublicKey, proofs: Sequence[PlaintextProof]) -> bytes:
    """Fixed-width big-endian ``a ‖ z ‖ w`` per proof, in ciphertext order."""
    commitment_width = public_key.ciphertext_bytes
    response_width = _wire.int_width(public_key.n - 1)
    return b"".join(
        proof.commitment.to_bytes(commitment_width, "big")
        + proof.plaintext_response.to_bytes(response_width, "big")
        + proof.randomness_response.to_bytes(response_width, "big")
        for proof in proofs
    )


def proofs_from_bytes(
    public_key: ThresholdPublicKey, blob: bytes, count: int
) -> list[PlaintextProof]:
    """Parse :func:`proofs_to_bytes` output for ``count`` ciphertexts; checks the length only."""
    width = proof_bytes(public_key)
    if len(blob) != count * width:
        raise CryptoError(
            f"malformed: {len(blob)} bytes of proofs of plaintext knowledge, expected {count} "
            f"proofs of {width} bytes"
        )
    commitment_width = public_key.ciphertext_bytes
    response_width = _wire.int_width(public_key.n - 1)
    proofs = []
    for start in range(0, len(blob), width):
        middle = start + commitment_width
        end = middle + response_width
        proofs.append(
            PlaintextProof(
                int.from_bytes(blob[start:middle], "big"),
                int.from_bytes(blob[middle:end], "big"),
                int.from_bytes(blob[end : start + width], "big"),
            )
        )
    return proofs


def verify_plaintext_proofs(
    public_key: ThresholdPublicKey,
    binding: ProofBinding,
    ciphertexts: Sequence[int],
    proofs: Sequence[PlaintextProof],
) -> None:
    """Check one update's proofs together; raise :class:`CryptoError` if any fails.

    ``ciphertexts`` must already be units modulo ``n²``. The caller names the participant.
    """
    if len(proofs) != len(ciphertexts):
        raise CryptoError(
            f"{len(proofs)} proofs of plaintext knowledge for {len(ciphertexts)} ciphertexts"
        )
    if not proofs:
        return
    n = gmpy2.mpz(public_key.n)
    nsquare = n * n
    for index, proof in enumerate(proofs):
        if not (
            0 < proof.commitment < nsquare
            and gmpy2.gcd(proof.commitment, n) == 1
            and 0 <= proof.plaintext_response < n
            and 0 < proof.randomness_response < n
            and gmpy2.gcd(proof.randomness_response, n) == 1
        ):
            raise CryptoError(f"malformed proof of plaintext knowledge for ciphertext {index}")
    challenges = [
        _challenge(public_key, binding, index, int(ciphertext), proof.commitment)
        for index, (ciphertext, proof) in enumerate(zip(ciphertexts, proofs, strict=True))
    ]
    # verifier-private weights: the prover cannot choose errors that cancel
    weights = [secrets.randbits(_BATCH_EXPONENT_BITS) for _ in proofs]
    plaintext_sum = sum(w * p.plaintext_response for w, p in zip(weights, proofs, strict=True))
    randomness_product = multi_exponentiate(
        [p.randomness_response for p in proofs], weights, n
    )
    # left = g^(Σρz) · (Πw^ρ)^n with g^k = 1 + k·n (mod n²)
    left = (1 + plaintext_sum % n * n) * gmpy2.powmod(randomness_product, n, nsquare) % nsquare
    right = multi_exponentiate(
        [*(p.commitment for p in proofs), *ciphertexts],
        [*weights, *(w * e for w, e in zip(weights, challenges, strict=True))],
        nsquare,
    )
    if left * left % nsquare != right * right % nsquare:
        raise CryptoError(
            "its proofs of plaintext knowledge do not verify (ciphertexts it did not encrypt "
            "itself, a proof copied from another participant, round or position, or an "
            "altered proof)"
        )
