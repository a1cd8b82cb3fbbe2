"""Proofs of plaintext knowledge: no participant can sign a transform of another's ciphertexts.

The attack they stop: a participant colluding with the coordinator signs, as its own update,
the inverse of another org's ciphertexts, so that org cancels out of the sum and the
"aggregate of three" decrypts to one org's update.
"""

from __future__ import annotations

import dataclasses

import gmpy2
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fedcrm.crypto import (
    EncryptedAggregate,
    EncryptedUpdate,
    KeyHolder,
    PackingSpec,
    ParticipantEncryptor,
    RandomnessPool,
    SecureAggregator,
    UpdateRejected,
    combine,
    partial_decrypt,
)
from fedcrm.crypto.plaintext_proofs import (
    PlaintextProof,
    ProofBinding,
    _challenges,
    challenge_bits,
    encrypt_and_prove,
    proof_bytes,
    proof_from_bytes,
    proof_to_bytes,
    verify_plaintext_proof,
)
from fedcrm.crypto.randomness import fresh_obfuscator
from fedcrm.crypto.secure_aggregation import _ciphertexts_from_bytes, _ciphertexts_to_bytes
from fedcrm.errors import CryptoError
from tests.crypto._federation import (
    FEDERATION_ID,
    N_VALUES,
    Federation,
    make_encryptor,
    model_for,
)

ROUND = 7
PROOF_FAILURE = "proof of plaintext knowledge does not verify"


@dataclasses.dataclass(frozen=True)
class Round:
    """Honest, signed updates of org-a and org-b for one round, and tools to forge more."""

    federation: Federation
    spec: PackingSpec
    messages: dict[str, EncryptedUpdate]
    updates: dict[str, np.ndarray]

    def ciphertexts(self, participant_id: str) -> list[gmpy2.mpz]:
        width = self.federation.public_key.ciphertext_bytes
        return _ciphertexts_from_bytes(self.messages[participant_id].ciphertexts, width)

    def signed(self, signer: str, **fields: object) -> EncryptedUpdate:
        """An update with ``fields``, validly signed by ``signer``'s own key."""
        base = dict(self.messages["org-a"].__dict__, participant_id=signer, signature=b"")
        unsigned = EncryptedUpdate(**{**base, **fields})  # type: ignore[arg-type]
        key = self.federation.signing_keys[signer]
        return unsigned.with_signature(key.sign(unsigned.signing_payload()))



@pytest.fixture(scope="module")
def honest(federation: Federation, spec: PackingSpec) -> Round:
    rng = np.random.default_rng(11)
    updates = {p: rng.normal(0.0, 0.4, N_VALUES) for p in ("org-a", "org-b")}
    messages = {
        p: make_encryptor(federation, spec, p, seed=3).encrypt(u, 100.0, ROUND,
                                                               model=model_for(ROUND))
        for p, u in updates.items()
    }
    return Round(federation, spec, messages, updates)


def _aggregator(honest: Round) -> SecureAggregator:
    return SecureAggregator(
        honest.federation.public_key,
        honest.spec,
        federation_id=FEDERATION_ID,
        round_number=ROUND,
        n_values=N_VALUES,
        roster=honest.federation.roster,
    )


def _colluding_aggregate(honest: Round, messages: list[EncryptedUpdate]) -> EncryptedAggregate:
    """What a coordinator who skips verification would ask key holders to decrypt."""
    key = honest.federation.public_key
    width = key.ciphertext_bytes
    product = [gmpy2.mpz(1)] * len(honest.ciphertexts("org-a"))
    for message in messages:
        for position, c in enumerate(_ciphertexts_from_bytes(message.ciphertexts, width)):
            product[position] = product[position] * c % key.nsquare
    return EncryptedAggregate(
        FEDERATION_ID,
        ROUND,
        messages[0].context,
        N_VALUES,
        tuple(m.participant_id for m in messages),
        _ciphertexts_to_bytes(product, width),
    )


def _inverse_of_b(honest: Round) -> list[int]:
    nsquare = honest.federation.public_key.nsquare
    return [int(gmpy2.invert(c, nsquare)) for c in honest.ciphertexts("org-b")]


def _mauled_proof_for_inverse(honest: Round) -> bytes:
    """org-b's proof turned into an equation for the inverse ciphertexts: (a⁻¹, −z, w⁻¹)."""
    key = honest.federation.public_key
    n = key.n
    proof = proof_from_bytes(key, honest.messages["org-b"].proof)
    mauled = PlaintextProof(
        int(gmpy2.invert(proof.commitment, key.nsquare)),
        (-proof.plaintext_response) % n,
        int(gmpy2.invert(proof.randomness_response, n)),
    )
    return proof_to_bytes(key, mauled)


@pytest.mark.parametrize("proof", ["none", "copied from org-b", "mauled from org-b"])
def test_signing_the_inverse_of_anothers_ciphertexts_is_refused_by_everyone(
    honest: Round, proof: str
) -> None:
    """org-c cancels org-b out, so {a, b, c} would decrypt to a alone."""
    key = honest.federation.public_key
    proof_bytes_for = {
        "none": b"",
        "copied from org-b": honest.messages["org-b"].proof,
        "mauled from org-b": _mauled_proof_for_inverse(honest),
    }
    inverse = _ciphertexts_to_bytes(_inverse_of_b(honest), key.ciphertext_bytes)
    attack = honest.signed("org-c", ciphertexts=inverse, proof=proof_bytes_for[proof])
    messages = [honest.messages["org-a"], honest.messages["org-b"], attack]

    aggregator = _aggregator(honest)
    rejections = aggregator.submit_all(messages)
    assert [r.participant_id for r in rejections] == ["org-c"]
    assert "plaintext knowledge" in rejections[0].reason
    assert aggregator.contributors == ("org-a", "org-b")

    aggregate = _colluding_aggregate(honest, messages)
    for share in honest.federation.shares:
        holder = KeyHolder(
            share,
            key,
            honest.spec,
            federation_id=FEDERATION_ID,
            roster=honest.federation.roster,
            min_contributors=3,
        )
        with pytest.raises(CryptoError, match=r"forwarded an invalid update.*'org-c'.*plaintext"):
            holder.partial_decrypt(aggregate.to_bytes(), [m.to_bytes() for m in messages])


def test_without_the_proofs_the_forged_aggregate_is_one_orgs_update(honest: Round) -> None:
    """Why the attack matters: the product of {a, b, b⁻¹} is a ciphertext of a's update."""
    key = honest.federation.public_key
    inverse = _ciphertexts_to_bytes(_inverse_of_b(honest), key.ciphertext_bytes)
    forged = [
        honest.messages["org-a"],
        honest.messages["org-b"],
        honest.signed("org-c", ciphertexts=inverse),
    ]
    decrypted = []
    for messages in (forged, [honest.messages["org-a"]]):
        aggregate = _colluding_aggregate(honest, messages)
        ciphertexts = [
            int(c) for c in _ciphertexts_from_bytes(aggregate.ciphertexts, key.ciphertext_bytes)
        ]
        partials = [partial_decrypt(s, key, ciphertexts) for s in honest.federation.shares[:3]]
        decrypted.append(combine(key, ciphertexts, partials).plaintexts)
    assert decrypted[0] == decrypted[1]


def test_re_randomised_copies_of_anothers_ciphertexts_are_refused(honest: Round) -> None:
    key = honest.federation.public_key
    rerandomised = [
        int(c * fresh_obfuscator(key.n) % key.nsquare) for c in honest.ciphertexts("org-b")
    ]
    attack = honest.signed(
        "org-c",
        ciphertexts=_ciphertexts_to_bytes(rerandomised, key.ciphertext_bytes),
        proof=honest.messages["org-b"].proof,
    )
    with pytest.raises(UpdateRejected, match=rf"'org-c'.*{PROOF_FAILURE}"):
        _aggregator(honest).submit(attack)


def test_one_foreign_ciphertext_among_ones_own_is_refused(honest: Round) -> None:
    """The proof covers every ciphertext: replacing one of org-a's by org-b's inverse fails."""
    key = honest.federation.public_key
    own = honest.ciphertexts("org-a")
    for position in range(len(own)):
        mixed = list(own)
        mixed[position] = _inverse_of_b(honest)[position]
        attack = honest.signed(
            "org-a", ciphertexts=_ciphertexts_to_bytes(mixed, key.ciphertext_bytes)
        )
        with pytest.raises(UpdateRejected, match=rf"'org-a'.*{PROOF_FAILURE}"):
            _aggregator(honest).submit(attack)


def test_a_proof_copied_to_another_participant_round_or_order_is_refused(
    federation: Federation, spec: PackingSpec, honest: Round
) -> None:
    key = federation.public_key
    b = honest.messages["org-b"]
    # org-b's exact ciphertexts and proof, signed by org-c as its own
    copied = honest.signed("org-c", ciphertexts=b.ciphertexts, proof=b.proof)
    with pytest.raises(UpdateRejected, match=rf"'org-c'.*{PROOF_FAILURE}"):
        _aggregator(honest).submit(copied)
    # org-b's round-7 ciphertexts and proof, re-signed by org-b for round 8
    replayed = honest.signed(
        "org-b", round_number=ROUND + 1, ciphertexts=b.ciphertexts, proof=b.proof
    )
    next_round = SecureAggregator(
        key,
        spec,
        federation_id=FEDERATION_ID,
        round_number=ROUND + 1,
        n_values=N_VALUES,
        roster=federation.roster,
    )
    with pytest.raises(UpdateRejected, match=rf"'org-b'.*{PROOF_FAILURE}"):
        next_round.submit(replayed)
    # ciphertexts 0 and 1 swapped
    width = key.ciphertext_bytes
    swapped = honest.signed(
        "org-b",
        ciphertexts=b.ciphertexts[width : 2 * width] + b.ciphertexts[:width]
        + b.ciphertexts[2 * width :],
        proof=b.proof,
    )
    with pytest.raises(UpdateRejected, match=rf"'org-b'.*{PROOF_FAILURE}"):
        _aggregator(honest).submit(swapped)
    # the untouched message is accepted
    aggregator = _aggregator(honest)
    aggregator.submit(b.to_bytes())
    assert aggregator.contributors == ("org-b",)


@pytest.mark.parametrize("part", ["commitment", "plaintext_response", "randomness_response"])
def test_a_tampered_proof_is_refused_and_names_the_participant(
    honest: Round, part: str
) -> None:
    key = honest.federation.public_key
    b = honest.messages["org-b"]
    proof = proof_from_bytes(key, b.proof)
    modulus = key.nsquare if part == "commitment" else key.n
    # another unit: times 4 mod the modulus
    proof = dataclasses.replace(proof, **{part: getattr(proof, part) * 4 % modulus})
    tampered = honest.signed(
        "org-b", ciphertexts=b.ciphertexts, proof=proof_to_bytes(key, proof)
    )
    with pytest.raises(UpdateRejected, match=rf"participant 'org-b'.*{PROOF_FAILURE}") as error:
        _aggregator(honest).submit(tampered.to_bytes())
    assert error.value.participant_id == "org-b"
    with pytest.raises(CryptoError, match=r"invalid update.*'org-b'.*plaintext knowledge"):
        KeyHolder(
            honest.federation.shares[4],
            key,
            honest.spec,
            federation_id=FEDERATION_ID,
            roster=honest.federation.roster,
        ).partial_decrypt(
            _colluding_aggregate(honest, [honest.messages["org-a"], tampered]),
            [honest.messages["org-a"], tampered],
        )


def test_a_malformed_proof_is_refused_by_name(honest: Round) -> None:
    key = honest.federation.public_key
    b = honest.messages["org-b"]
    short = honest.signed("org-b", ciphertexts=b.ciphertexts, proof=b.proof[:-1])
    width = proof_bytes(key)
    with pytest.raises(
        UpdateRejected, match=rf"'org-b'.*malformed.*of {width - 1} bytes, expected {width}"
    ):
        _aggregator(honest).submit(short)
    proof = proof_from_bytes(key, b.proof)
    for field, value in (
        ("commitment", 0),
        ("commitment", key.n),  # not a unit
        ("randomness_response", 0),
        ("plaintext_response", key.n),  # out of range; fits the fixed width
    ):
        bad = dataclasses.replace(proof, **{field: value})
        forged = honest.signed(
            "org-b", ciphertexts=b.ciphertexts, proof=proof_to_bytes(key, bad)
        )
        with pytest.raises(UpdateRejected, match=r"'org-b'.*malformed proof.*out of range"):
            _aggregator(honest).submit(forged)


def test_the_proof_verifies_directly_and_is_bound_to_every_field(federation: Federation) -> None:
    key = federation.public_key
    pool = RandomnessPool(key)
    pool.precompute(5)
    binding = ProofBinding(FEDERATION_ID, 3, "org-a", bytes(32))
    plaintexts = [0, 1, key.n - 1, 2**200]
    ciphertexts, proof = encrypt_and_prove(key, pool, plaintexts, binding)
    assert len(pool) == 0  # one pair per ciphertext and one for the proof's commitment
    verify_plaintext_proof(key, binding, ciphertexts, proof)
    for change in (
        {"federation_id": "other"},
        {"round_number": 4},
        {"participant_id": "org-b"},
        {"context": b"\x01" * 32},
    ):
        with pytest.raises(CryptoError, match=PROOF_FAILURE):
            changed = dataclasses.replace(binding, **change)  # type: ignore[arg-type]
            verify_plaintext_proof(key, changed, ciphertexts, proof)
    # the proof covers exactly these ciphertexts: one fewer, or one more, fails
    for subset in (ciphertexts[:3], [*ciphertexts, ciphertexts[0]]):
        with pytest.raises(CryptoError, match=PROOF_FAILURE):
            verify_plaintext_proof(key, binding, subset, proof)
    # it is knowledge of *these* plaintexts: any ciphertext times g (plaintext + 1) fails
    for position in range(len(ciphertexts)):
        shifted = list(ciphertexts)
        shifted[position] = shifted[position] * (1 + key.n) % key.nsquare
        with pytest.raises(CryptoError, match=PROOF_FAILURE):
            verify_plaintext_proof(key, binding, shifted, proof)
    # an update of no ciphertexts still proves (and binds) nothing but its fields
    pool.precompute(1)
    empty, proof = encrypt_and_prove(key, pool, [], binding)
    verify_plaintext_proof(key, binding, empty, proof)


def test_the_challenges_bind_the_proof_to_its_ciphertexts(federation: Federation) -> None:
    """Why the challenges come from a hash of the ciphertexts.

    With fixed challenges, raising plaintext j by one and the response z by ρ_j keeps the
    verification equation true: a proof could then be moved to other ciphertexts. Hashing the
    ciphertexts into the challenges makes that proof fail.
    """
    key = federation.public_key
    n, nsquare = key.n, key.nsquare
    pool = RandomnessPool(key)
    pool.precompute(4)
    binding = ProofBinding(FEDERATION_ID, 1, "org-a", bytes(32))
    ciphertexts, proof = encrypt_and_prove(key, pool, [5, 7, 11], binding)
    challenges = _challenges(key, binding, ciphertexts, proof.commitment)
    assert len(set(challenges)) == 3
    assert all(0 <= e < 2 ** challenge_bits(key) for e in challenges)
    for position in range(3):
        shifted = list(ciphertexts)
        shifted[position] = shifted[position] * (1 + n) % nsquare  # plaintext + 1
        moved = dataclasses.replace(
            proof, plaintext_response=(proof.plaintext_response + challenges[position]) % n
        )
        left = (1 + moved.plaintext_response * n) * pow(moved.randomness_response, n, nsquare)
        right = proof.commitment
        for c, e in zip(shifted, challenges, strict=True):
            right = right * pow(c, e, nsquare) % nsquare
        assert left % nsquare == right  # true for the old challenges ...
        with pytest.raises(CryptoError, match=PROOF_FAILURE):  # ... which the hash replaces
            verify_plaintext_proof(key, binding, shifted, moved)


def test_challenges_are_shorter_than_the_smallest_prime_factor(federation: Federation) -> None:
    """Special soundness needs every challenge difference to be invertible modulo n."""
    key = federation.public_key
    assert challenge_bits(key) == 128
    assert 2 ** challenge_bits(key) < min(federation.p, federation.q)
    assert proof_bytes(key) == key.ciphertext_bytes + 2 * 64


def test_an_exhausted_pool_takes_nothing(federation: Federation, spec: PackingSpec) -> None:
    encryptor = ParticipantEncryptor(
        "org-a",
        federation.public_key,
        spec,
        federation.signing_keys["org-a"],
        federation_id=FEDERATION_ID,
    )
    assert encryptor.pool_values_needed(N_VALUES) == 4  # 3 ciphertexts and 1 commitment
    assert encryptor.pool_values_needed(N_VALUES, rounds=5) == 20
    encryptor.pool.precompute(3)
    with pytest.raises(CryptoError, match="4 values needed, 3 left"):
        encryptor.encrypt(np.zeros(N_VALUES), 1.0, 0, model=model_for(0))
    assert len(encryptor.pool) == 3


def test_the_proof_is_signed(honest: Round) -> None:
    b = honest.messages["org-b"]
    impostor = Ed25519PrivateKey.generate()
    forged = dataclasses.replace(b, proof=_mauled_proof_for_inverse(honest))
    with pytest.raises(UpdateRejected, match="'org-b'.*bad signature"):
        _aggregator(honest).submit(forged)
    with pytest.raises(UpdateRejected, match="'org-b'.*bad signature"):
        _aggregator(honest).submit(forged.with_signature(impostor.sign(forged.signing_payload())))


def test_unbalanced_primes_and_tiny_keys_are_refused(federation: Federation) -> None:
    """Soundness takes every challenge below both prime factors, and challenges of 32+ bits."""
    from fedcrm.crypto import ThresholdPublicKey, deal
    from fedcrm.errors import ConfigError

    with pytest.raises(ConfigError, match="must both have 256 bits"):
        deal(
            ["a", "b", "c"],
            bits=512,
            safe_primes=(federation.p, 1019),  # 1019 = 2·509 + 1, a 10-bit safe prime
            allow_insecure_bits=True,
        )
    # a 28-bit modulus, as a hand-made key object may have (deal's smallest gives 62 bits)
    tiny = ThresholdPublicKey(3 * 5 * 7 * 11 * 13 * 17 * 19 * 23, ("a",), 1, 4, (16,))
    with pytest.raises(CryptoError, match="too small for proofs of plaintext knowledge"):
        challenge_bits(tiny)
