"""One non-interactive proof that the sender of an update knows every plaintext in it.

Why: the coordinator multiplies signed ciphertexts, and key holders check that the aggregate
is that product. Without a proof a participant colluding with the coordinator can sign, as
its own update, a transform of another org's ciphertexts (their inverse, say): the other org
then cancels out of the sum, and the decrypted aggregate of a "quorum" of contributors is one
org's update alone. With a proof bound to its signer, every signed ciphertext is one whose
plaintext its signer knows, so it cannot be derived from another org's ciphertexts without
knowing that org's plaintexts.

The protocol is a batched form of the Σ-protocol for Paillier plaintext knowledge
(Cramer–Damgård–Nielsen 2001, "Multiparty computation from threshold homomorphic
encryption"; Damgård–Jurik 2001): all ``N`` ciphertexts of an update are proved at once with
one commitment and a vector of independent challenges (random-linear-combination
amortisation, cf. Cramer–Damgård 2009, "On the amortized complexity of zero-knowledge
protocols"), made non-interactive with Fiat–Shamir. For ``c_j = g^m_j · r_j^n mod n²`` with
``g = n + 1``:

* commitment: ``a = g^x · s^n mod n²`` with ``x`` uniform in ``Z_n`` and ``(s, s^n)`` a pooled
  pair (:mod:`~fedcrm.crypto.randomness`), so proving costs no online exponentiation by ``n``;
* challenges: ``ρ_1 … ρ_N`` of :func:`challenge_bits` bits each, expanded from SHA-256 over a
  domain tag, the public key's fingerprint, the federation, round, participant, context (key
  and packing), ``N``, ``a`` and every ciphertext in order;
* response: ``z = x + Σ ρ_j·m_j mod n`` and ``w = s · Π r_j^ρ_j mod n``;
* check: ``0 ≤ z < n``, ``w`` a unit mod ``n``, ``a`` a unit mod ``n²`` and
  ``g^z · w^n ≡ a · Π c_j^ρ_j (mod n²)``.

Completeness: ``g`` has order ``n`` in ``Z*_{n²}`` (``(1 + n)^n ≡ 1``), so dropping the
carry of ``z`` changes nothing, and ``w^n mod n²`` depends on ``w`` mod ``n`` only.
Soundness: every unit of ``Z*_{n²}`` is ``g^m · u^n`` for exactly one ``m ∈ Z_n`` and
``u ∈ Z*_n`` (Paillier 1999, §2), so two accepted answers ``(z, w)``, ``(z', w')`` for one
``a`` and challenge vectors ``ρ ≠ ρ'`` give ``z − z' ≡ Σ (ρ_j − ρ'_j)·m_j (mod n)``. ``N + 1``
answers whose challenge differences are linearly independent mod ``p`` and mod ``q`` give
every ``m_j``. A fresh challenge vector falls into a fixed proper hyperplane mod ``p`` (or
``q``) with probability at most ``2^-bits``, because its entries are independent and below
both prime factors (:func:`~fedcrm.crypto.threshold.deal` makes them the same size). So in
the random-oracle model, except with probability about ``(Q + 1)·2^-bits`` for a prover
making ``Q`` hash queries, the plaintexts of an accepted update can be extracted from its
prover (extraction from ``N + 1`` transcripts rather than two: Attema–Fehr–Klooß 2022,
"Fiat–Shamir transformation of multi-round interactive proofs"). The attacker here also sees
the honest orgs' proofs of the same round, so the proofs must not be malleable: the responses
are unique (``z ∈ [0, n)``, and ``w ↦ w^n mod n²`` is one-to-one on ``(0, n)``) and the
signer is hashed into the challenges, so a seen proof cannot be turned into another valid
one. Zero knowledge (honest verifier, hence Fiat–Shamir): ``z`` is uniform in ``Z_n`` and
``w`` uniform in ``Z*_n`` whatever the ``m_j``.
Because the hash covers the signer, round, context, every ciphertext and their order, a proof
cannot be copied to another participant, round or update, nor kept when a ciphertext is
changed, moved or re-randomised (that changes every ``ρ_j``).

Cost, for ``N`` ciphertexts: the prover takes one pooled pair and computes ``Π r_j^ρ_j mod n``
and the verifier ``Π c_j^ρ_j mod n²`` (:func:`~fedcrm.crypto.threshold.multi_exponentiate`,
about 16 multiplications per ciphertext for 128-bit challenges), plus one exponentiation by
``n``. The proof is ``|n²| + 2·|n|`` bytes whatever ``N`` is. (Version 2 of the update
message carried one such proof per ciphertext: two pooled pairs and three times the bytes per
ciphertext, and about three times the verifier's work.)
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import gmpy2

from fedcrm.crypto import _wire
from fedcrm.crypto.randomness import RandomnessPool, check_plaintexts, encrypt_with
from fedcrm.crypto.threshold import ThresholdPublicKey, _hash, multi_exponentiate
from fedcrm.errors import CryptoError

MAX_CHALLENGE_BITS = 128
#: a key whose challenges would be shorter is refused (deal's smallest test key gives 62)
MIN_CHALLENGE_BITS = 32
_CHALLENGE_TAG = b"fedcrm.crypto.plaintext_knowledge.challenges.v2"
#: pooled ``(s, s^n)`` pairs one proof needs for its commitment (besides one per ciphertext)
POOL_PAIRS_PER_PROOF = 1


@dataclass(frozen=True)
class ProofBinding:
    """What the proof of one update is bound to, besides its ciphertexts."""

    federation_id: str
    round_number: int
    participant_id: str
    context: bytes


@dataclass(frozen=True)
class PlaintextProof:
    """One update's proof: commitment ``a`` (mod ``n²``), responses ``z``, ``w`` (mod ``n``)."""

    commitment: int
    plaintext_response: int
    randomness_response: int


def challenge_bits(public_key: ThresholdPublicKey) -> int:
    """Challenge length: 128 bits, fewer only for toy keys whose primes are shorter.

    Soundness needs every challenge difference to be invertible modulo ``n``, i.e. below its
    smallest prime factor (``bits/2`` bits for keys from :func:`deal`). Keys too small for
    :data:`MIN_CHALLENGE_BITS` are refused.
    """
    bits = min(MAX_CHALLENGE_BITS, public_key.n.bit_length() // 2 - 2)
    if bits < MIN_CHALLENGE_BITS:
        raise CryptoError(
            f"a {public_key.n.bit_length()}-bit key is too small for proofs of plaintext "
            f"knowledge (challenges of {bits} bits; at least {MIN_CHALLENGE_BITS} needed)"
        )
    return bits


def proof_bytes(public_key: ThresholdPublicKey) -> int:
    """Bytes of a serialised proof: ``a`` as wide as a ciphertext, ``z`` and ``w`` mod n."""
    return public_key.ciphertext_bytes + 2 * _wire.int_width(public_key.n - 1)


def _challenges(
    public_key: ThresholdPublicKey,
    binding: ProofBinding,
    ciphertexts: Sequence[int],
    commitment: int,
) -> list[int]:
    """``ρ_1 … ρ_N``: SHA-256 of everything the proof binds, expanded per position."""
    seed = _hash(
        _CHALLENGE_TAG,
        public_key.fingerprint(),
        binding.federation_id,
        binding.round_number,
        binding.participant_id,
        binding.context,
        len(ciphertexts),
        commitment,
    )
    width = public_key.ciphertext_bytes
    for ciphertext in ciphertexts:
        seed.update(int(ciphertext).to_bytes(width, "big"))
    root = seed.digest()
    bits = challenge_bits(public_key)
    drop = 256 - bits
    return [
        int.from_bytes(hashlib.sha256(root + position.to_bytes(8, "big")).digest(), "big")
        >> drop
        for position in range(len(ciphertexts))
    ]


def encrypt_and_prove(
    public_key: ThresholdPublicKey,
    pool: RandomnessPool,
    plaintexts: list[int],
    binding: ProofBinding,
) -> tuple[list[int], PlaintextProof]:
    """Encrypt ``plaintexts`` with pooled randomness and prove knowledge of all of them.

    Takes one pooled pair per plaintext and :data:`POOL_PAIRS_PER_PROOF` more from ``pool``
    (all or none when the pool raises on empty); each ``r`` is used once and dropped on
    return.
    """
    check_plaintexts(public_key.n, plaintexts)
    count = len(plaintexts)
    pairs = pool.take_pairs(count + POOL_PAIRS_PER_PROOF)
    encryption, blinding = pairs[:count], pairs[count]
    ciphertexts = encrypt_with(public_key.n, plaintexts, encryption)
    n = gmpy2.mpz(public_key.n)
    mask = gmpy2.mpz(secrets.randbelow(public_key.n))  # x
    # a = g^x · s^n with g^x = 1 + x·n (mod n²)
    commitment = int((1 + mask * n) * blinding.r_to_n % (n * n))
    challenges = _challenges(public_key, binding, ciphertexts, commitment)
    combination = sum(e * m for e, m in zip(challenges, plaintexts, strict=True))  # Σρ_j·m_j
    plaintext_response = (mask + combination) % n
    randomness_response = (
        blinding.r * multi_exponentiate([pair.r for pair in encryption], challenges, n) % n
    )
    return ciphertexts, PlaintextProof(
        commitment, int(plaintext_response), int(randomness_response)
    )


def proof_to_bytes(public_key: ThresholdPublicKey, proof: PlaintextProof) -> bytes:
    """Fixed-width big-endian ``a ‖ z ‖ w``."""
    response_width = _wire.int_width(public_key.n - 1)
    return (
        proof.commitment.to_bytes(public_key.ciphertext_bytes, "big")
        + proof.plaintext_response.to_bytes(response_width, "big")
        + proof.randomness_response.to_bytes(response_width, "big")
    )


def proof_from_bytes(public_key: ThresholdPublicKey, blob: bytes) -> PlaintextProof:
    """Parse :func:`proof_to_bytes` output; checks the length only."""
    width = proof_bytes(public_key)
    if len(blob) != width:
        raise CryptoError(
            f"malformed: a proof of plaintext knowledge of {len(blob)} bytes, expected {width}"
        )
    middle = public_key.ciphertext_bytes
    end = middle + _wire.int_width(public_key.n - 1)
    return PlaintextProof(
        int.from_bytes(blob[:middle], "big"),
        int.from_bytes(blob[middle:end], "big"),
        int.from_bytes(blob[end:], "big"),
    )


def verify_plaintext_proof(
    public_key: ThresholdPublicKey,
    binding: ProofBinding,
    ciphertexts: Sequence[int],
    proof: PlaintextProof,
) -> None:
    """Check one update's proof; raise :class:`CryptoError` if it fails.

    ``ciphertexts`` must be units modulo ``n²`` (a non-unit fails the check). The caller
    names the participant.
    """
    n = gmpy2.mpz(public_key.n)
    nsquare = n * n
    if not all(0 < c < nsquare for c in ciphertexts):
        raise CryptoError("a ciphertext is outside (0, n²)")
    if not (
        0 < proof.commitment < nsquare
        and gmpy2.gcd(proof.commitment, n) == 1
        and 0 <= proof.plaintext_response < n
        and 0 < proof.randomness_response < n
        and gmpy2.gcd(proof.randomness_response, n) == 1
    ):
        raise CryptoError("malformed proof of plaintext knowledge (a value out of range)")
    challenges = _challenges(public_key, binding, ciphertexts, proof.commitment)
    # g^z · w^n with g^z = 1 + z·n (mod n²)
    left = (1 + proof.plaintext_response * n) * gmpy2.powmod(
        proof.randomness_response, n, nsquare
    )
    right = proof.commitment * multi_exponentiate(ciphertexts, challenges, nsquare)
    if left % nsquare != right % nsquare:
        raise CryptoError(
            "its proof of plaintext knowledge does not verify (ciphertexts it did not encrypt "
            "itself, a proof copied from another participant, round or update, or an altered "
            "proof or ciphertext)"
        )
