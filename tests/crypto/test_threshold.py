"""Threshold Paillier: ceremony, every quorum, proofs that name a cheater, phe compatibility."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import secrets

import gmpy2
import pytest
from phe import PaillierPrivateKey, PaillierPublicKey

from fedcrm.crypto import (
    PartialDecryption,
    ThresholdPublicKey,
    combine,
    deal,
    default_quorum,
    partial_decrypt,
    verify_partial,
)
from fedcrm.crypto._primes import generate_safe_prime, is_safe_prime
from fedcrm.crypto.threshold import KeyShare, lagrange_coefficients, multi_exponentiate
from fedcrm.errors import ConfigError, CryptoError
from tests.crypto._federation import TEST_KEY_BITS, Federation


@pytest.fixture(scope="module")
def batch(federation: Federation) -> tuple[list[int], list[int]]:
    """Messages including the extremes 0 and n - 1, and their encryptions."""
    n = federation.public_key.n
    messages = [0, 1, 123_456_789, n - 1, secrets.randbelow(n)]
    return messages, [federation.public_key.encrypt(m) for m in messages]


@pytest.fixture(scope="module")
def partials(federation: Federation, batch: tuple[list[int], list[int]]) -> list[PartialDecryption]:
    _, ciphertexts = batch
    return [partial_decrypt(s, federation.public_key, ciphertexts) for s in federation.shares]


@pytest.mark.parametrize(
    ("participants", "quorum"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (7, 5), (10, 6)]
)
def test_default_quorum_is_sixty_percent_rounded_up(participants: int, quorum: int) -> None:
    assert default_quorum(participants) == quorum == math.ceil(0.6 * participants)


def test_dealt_key_has_the_documented_shape(federation: Federation) -> None:
    key = federation.public_key
    assert key.n == federation.p * federation.q
    assert key.n.bit_length() == TEST_KEY_BITS
    assert is_safe_prime(federation.p) and is_safe_prime(federation.q)
    assert key.quorum == 3 and key.n_participants == 5
    assert key.delta == math.factorial(5)
    assert key.paillier.g == key.n + 1  # phe-compatible generator
    assert len(set(key.verification_keys)) == 5


@pytest.mark.parametrize("bits", [32, 64, 128])
def test_safe_primes_are_safe_and_exactly_sized(bits: int) -> None:
    for _ in range(3):
        p = generate_safe_prime(bits)
        assert p.bit_length() == bits and p >> (bits - 2) == 0b11
        assert gmpy2.is_prime(p) and gmpy2.is_prime((p - 1) // 2)


def test_every_quorum_subset_decrypts(
    federation: Federation, batch: tuple[list[int], list[int]], partials: list[PartialDecryption]
) -> None:
    messages, ciphertexts = batch
    subsets = [subset for size in range(3, 6) for subset in itertools.combinations(range(5), size)]
    assert len(subsets) == 16
    for subset in subsets:
        chosen = [partials[i] for i in subset]
        result = combine(federation.public_key, ciphertexts, chosen)
        assert result.plaintexts == messages, subset
        assert result.rejected == {}
        assert result.used == tuple(federation.ids[i] for i in subset[:3])


def test_fewer_shares_than_the_quorum_fail_loudly(
    federation: Federation, batch: tuple[list[int], list[int]], partials: list[PartialDecryption]
) -> None:
    _, ciphertexts = batch
    for subset in itertools.combinations(range(5), 2):
        with pytest.raises(CryptoError, match="needs 3 valid partial decryptions, got 2"):
            combine(federation.public_key, ciphertexts, [partials[i] for i in subset])
    with pytest.raises(CryptoError, match="got 0"):
        combine(federation.public_key, ciphertexts, [])


def _corrupt(partial: PartialDecryption, nsquare: int) -> PartialDecryption:
    values = list(partial.values)
    values[2] = values[2] * 4 % nsquare  # still a unit, but not c^(2Δs_i)
    return dataclasses.replace(partial, values=tuple(values))


def test_a_corrupted_partial_is_detected_and_named(
    federation: Federation, batch: tuple[list[int], list[int]], partials: list[PartialDecryption]
) -> None:
    messages, ciphertexts = batch
    key = federation.public_key
    bad = _corrupt(partials[2], key.nsquare)  # org-c
    with pytest.raises(CryptoError, match=r"participant 'org-c' \(share 3\).*proof"):
        verify_partial(key, ciphertexts, bad)
    # with a quorum of honest partials left, decryption succeeds and names the cheater
    result = combine(key, ciphertexts, [partials[0], bad, partials[3], partials[4]])
    assert result.plaintexts == messages
    assert list(result.rejected) == ["participant 'org-c' (share 3)"]
    assert "org-c" not in result.used
    # an invalid partial, then a valid one from the same holder: it decrypted, and is not
    # also listed as refused (the round log named it in both lists)
    again = combine(key, ciphertexts, [bad, partials[2], partials[3], partials[4]])
    assert again.plaintexts == messages and again.rejected == {}
    # nor when a second partial follows its valid one: the first is used, the second not
    twice = combine(key, ciphertexts, [partials[2], bad, partials[3], partials[4]])
    assert twice.plaintexts == messages and twice.rejected == {}
    assert "org-c" in " ".join(twice.used)
    # without one, it fails and still names the cheater
    with pytest.raises(CryptoError, match="org-c") as error:
        combine(key, ciphertexts, [partials[0], bad, partials[4]])
    assert "needs 3 valid" in str(error.value)


def test_errors_that_cancel_in_a_plain_product_are_still_detected(
    federation: Federation, batch: tuple[list[int], list[int]], partials: list[PartialDecryption]
) -> None:
    """The batch proof weights each value with its own hash-derived exponent."""
    _, ciphertexts = batch
    nsquare = federation.public_key.nsquare
    error = 4
    values = list(partials[3].values)
    values[0] = values[0] * error % nsquare
    values[1] = values[1] * int(gmpy2.invert(error, nsquare)) % nsquare
    cheat = dataclasses.replace(partials[3], values=tuple(values))
    with pytest.raises(CryptoError, match="org-d"):
        verify_partial(federation.public_key, ciphertexts, cheat)


def test_a_partial_made_with_a_wrong_share_is_rejected(
    federation: Federation, batch: tuple[list[int], list[int]]
) -> None:
    _, ciphertexts = batch
    share = federation.shares[1]
    forged = dataclasses.replace(share, secret=share.secret + 1)
    partial = partial_decrypt(forged, federation.public_key, ciphertexts)
    with pytest.raises(CryptoError, match="org-b"):
        verify_partial(federation.public_key, ciphertexts, partial)


@pytest.mark.parametrize("field", ["challenge", "response"])
def test_a_tampered_proof_is_rejected(
    federation: Federation,
    batch: tuple[list[int], list[int]],
    partials: list[PartialDecryption],
    field: str,
) -> None:
    _, ciphertexts = batch
    tampered = dataclasses.replace(partials[0], **{field: getattr(partials[0], field) + 1})
    with pytest.raises(CryptoError, match="org-a"):
        verify_partial(federation.public_key, ciphertexts, tampered)


def test_a_partial_of_other_ciphertexts_is_rejected(
    federation: Federation, batch: tuple[list[int], list[int]], partials: list[PartialDecryption]
) -> None:
    _, ciphertexts = batch
    others = [federation.public_key.encrypt(7) for _ in ciphertexts]
    with pytest.raises(CryptoError, match="proof does not verify"):
        verify_partial(federation.public_key, others, partials[0])
    with pytest.raises(CryptoError, match="values for"):
        verify_partial(federation.public_key, ciphertexts[:2], partials[0])


def test_duplicates_and_unknown_shares_do_not_count_towards_the_quorum(
    federation: Federation, batch: tuple[list[int], list[int]], partials: list[PartialDecryption]
) -> None:
    _, ciphertexts = batch
    stranger = dataclasses.replace(partials[0], index=9)
    with pytest.raises(CryptoError, match="got 2") as error:
        combine(federation.public_key, ciphertexts, [partials[0], partials[0], partials[1]])
    assert "duplicate" in str(error.value)
    with pytest.raises(CryptoError, match="unknown share 9"):
        combine(federation.public_key, ciphertexts, [partials[0], partials[1], stranger])


def test_phe_encryptions_decrypt_and_agree_with_phe_decryption(federation: Federation) -> None:
    key = federation.public_key
    phe_public = PaillierPublicKey(key.n)
    phe_private = PaillierPrivateKey(phe_public, federation.p, federation.q)
    a, b = 31_337, 4_242
    encrypted = phe_public.encrypt(a) + phe_public.encrypt(b)  # phe's homomorphic addition
    ours = key.encrypt(99)
    ciphertexts = [encrypted.ciphertext(), ours]
    quorum = [partial_decrypt(s, key, ciphertexts) for s in federation.shares[2:]]
    result = combine(key, ciphertexts, quorum)
    assert result.plaintexts == [a + b, 99]
    assert [phe_private.raw_decrypt(c) for c in ciphertexts] == [a + b, 99]


def test_lagrange_coefficients_interpolate_at_zero_times_delta() -> None:
    modulus = 2**61 - 1
    coefficients = [secrets.randbelow(modulus) for _ in range(3)]

    def f(x: int) -> int:
        return sum(c * x**k for k, c in enumerate(coefficients))

    delta = math.factorial(5)
    for subset in itertools.combinations(range(1, 6), 3):
        mu = lagrange_coefficients(subset, delta)
        assert sum(mu[i] * f(i) for i in subset) == delta * coefficients[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"quorum": 0}, "quorum"),
        ({"quorum": 6}, "quorum"),
        ({"quorum": 2}, "not a majority"),  # 2 of 5: {1, 2} and {3, 4} are disjoint
        ({"participant_ids": ["a", "a"]}, "distinct"),
        ({"participant_ids": []}, "distinct"),
        ({"allow_insecure_bits": False}, "insecure"),
        ({"bits": 511}, "even"),
    ],
)
def test_invalid_ceremonies_are_refused(kwargs: dict[str, object], message: str) -> None:
    params: dict[str, object] = {
        "participant_ids": ["a", "b", "c", "d", "e"],
        "bits": 256,
        "allow_insecure_bits": True,
    }
    params.update(kwargs)
    ids = params.pop("participant_ids")
    with pytest.raises(ConfigError, match=message):
        deal(ids, **params)  # type: ignore[arg-type]


def test_given_primes_must_be_safe(federation: Federation) -> None:
    not_safe = 13  # 13 is prime, 6 is not
    with pytest.raises(ConfigError, match="safe primes"):
        deal(["a", "b"], bits=256, safe_primes=(federation.p, not_safe), allow_insecure_bits=True)


def test_keys_round_trip_through_json_and_shares_hide_their_secret(
    federation: Federation,
) -> None:
    key = federation.public_key
    restored = ThresholdPublicKey.from_dict(json.loads(json.dumps(key.to_dict())))
    assert restored == key and restored.fingerprint() == key.fingerprint()
    share = federation.shares[0]
    assert KeyShare.from_dict(json.loads(json.dumps(share.to_dict()))) == share
    assert str(share.secret) not in repr(share) and format(share.secret, "x") not in repr(share)
    with pytest.raises(ConfigError, match="malformed"):
        ThresholdPublicKey.from_dict({"n": "zz"})


def test_a_key_read_from_a_file_keeps_the_rules_deal_enforces(federation: Federation) -> None:
    """A key file written by hand or by another dealer: a quorum that is not a majority, a
    roster given as one string, or a small modulus is refused."""
    data = federation.public_key.to_dict()
    ids = data["participant_ids"]
    half = len(ids) // 2
    with pytest.raises(ConfigError, match=f"quorum {half} of {len(ids)} key holders is not a "
                                          "majority"):
        ThresholdPublicKey.from_dict({**data, "quorum": half})
    with pytest.raises(ConfigError, match="participant_ids must be a list"):
        ThresholdPublicKey.from_dict({**data, "participant_ids": "".join(ids)})
    key = ThresholdPublicKey.from_dict(data)
    with pytest.raises(ConfigError, match="keys under 2048 bits are insecure"):
        key.check_size()
    key.check_size(allow_insecure_bits=True)


def test_partial_decryptions_round_trip_and_malformed_bytes_fail(
    partials: list[PartialDecryption],
) -> None:
    raw = partials[0].to_bytes()
    assert PartialDecryption.from_bytes(raw) == partials[0]
    with pytest.raises(CryptoError, match="truncated"):
        PartialDecryption.from_bytes(raw[:-1])
    with pytest.raises(CryptoError, match="trailing"):
        PartialDecryption.from_bytes(raw + b"\x00")
    with pytest.raises(CryptoError, match="magic"):
        PartialDecryption.from_bytes(b"XXXX" + raw[4:])


def test_a_share_of_another_key_is_refused(
    federation: Federation, batch: tuple[list[int], list[int]]
) -> None:
    _, ciphertexts = batch
    wrong = dataclasses.replace(federation.shares[0], n=federation.public_key.n + 2)
    with pytest.raises(CryptoError, match="different public key"):
        partial_decrypt(wrong, federation.public_key, ciphertexts)
    with pytest.raises(CryptoError, match="outside"):
        partial_decrypt(federation.shares[0], federation.public_key, [0])
    ids = federation.public_key.participant_ids
    # index -1 would slice out the next-to-last id: it must be refused, not looked up
    for index, owner in ((-1, ids[-2]), (0, ids[-1]), (len(ids) + 1, ids[0]), (2, ids[0])):
        share = dataclasses.replace(federation.shares[0], index=index, participant_id=owner)
        with pytest.raises(CryptoError, match=f"share {index} is not registered to"):
            partial_decrypt(share, federation.public_key, ciphertexts)


@pytest.mark.parametrize("size", [1, 31, 32, 33, 150])
def test_multi_exponentiation_matches_separate_powers(size: int) -> None:
    modulus = secrets.randbits(1024) | 1
    bases = [secrets.randbelow(modulus) for _ in range(size)]
    exponents = [secrets.randbits(128) for _ in range(size)]
    exponents[0] = 0
    expected = 1
    for base, exponent in zip(bases, exponents, strict=True):
        expected = expected * pow(base, exponent, modulus) % modulus
    assert multi_exponentiate(bases, exponents, modulus) == expected


def test_long_batches_are_proved_and_checked(federation: Federation) -> None:
    """A batch long enough for the bucket multi-exponentiation, as in real aggregates."""
    key = federation.public_key
    messages = [secrets.randbelow(key.n) for _ in range(120)]
    ciphertexts = [key.encrypt(m) for m in messages]
    partials = [partial_decrypt(s, key, ciphertexts) for s in federation.shares[1:4]]
    assert combine(key, ciphertexts, partials).plaintexts == messages
    bad = _corrupt(partials[1], key.nsquare)
    with pytest.raises(CryptoError, match="org-c"):
        verify_partial(key, ciphertexts, bad)
