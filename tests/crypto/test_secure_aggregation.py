"""End-to-end encrypted, signed, weighted aggregation with threshold decryption."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from fedcrm.crypto import (
    AggregationResult,
    EncryptedUpdate,
    KeyHolder,
    PackingSpec,
    PartialDecryption,
    ParticipantEncryptor,
    RandomnessPool,
    SecureAggregator,
    UpdateRejected,
)
from fedcrm.errors import AggregationError, ConfigError, CryptoError
from tests.crypto._federation import (
    FEDERATION_ID,
    N_VALUES,
    Federation,
    make_encryptor,
    model_for,
)

# weight = sample count × quality multiplier
WEIGHTS = {
    "org-a": 120 * 0.9,
    "org-b": 800 * 1.0,
    "org-c": 45 * 0.5,
    "org-d": 300 * 1.2,
    "org-e": 990 * 0.7,
}



def _updates(seed: int, participants: tuple[str, ...]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    # float32 model updates, a few values beyond the clip bound of 1
    return {p: rng.normal(0.0, 0.45, N_VALUES).astype(np.float32) for p in participants}


def _encrypt_round(
    federation: Federation,
    spec: PackingSpec,
    updates: dict[str, np.ndarray],
    round_number: int = 1,
) -> dict[str, bytes]:
    return {
        p: make_encryptor(federation, spec, p).encrypt(
            u, WEIGHTS[p], round_number, model=model_for(round_number)).to_bytes()
        for p, u in updates.items()
    }


def _aggregator(
    federation: Federation, spec: PackingSpec, round_number: int = 1
) -> SecureAggregator:
    return SecureAggregator(
        federation.public_key,
        spec,
        federation_id=FEDERATION_ID,
        round_number=round_number,
        n_values=N_VALUES,
        roster=federation.roster,
    )


def _holder(federation: Federation, spec: PackingSpec, participant_id: str) -> KeyHolder:
    return KeyHolder(
        federation.share(participant_id),
        federation.public_key,
        spec,
        federation_id=FEDERATION_ID,
        roster=federation.roster,
    )


def _partials(
    federation: Federation,
    spec: PackingSpec,
    aggregator: SecureAggregator,
    messages: list[bytes],
    holders: tuple[str, ...],
) -> list[bytes]:
    aggregate = aggregator.encrypted_aggregate().to_bytes()
    return [
        _holder(federation, spec, h).partial_decrypt(aggregate, messages).to_bytes()
        for h in holders
    ]


def _weighted_mean(updates: dict[str, np.ndarray], spec: PackingSpec) -> np.ndarray:
    total = sum(WEIGHTS[p] for p in updates)
    return np.asarray(
        sum(
            WEIGHTS[p] * np.clip(u.astype(np.float64), -spec.clip, spec.clip)
            for p, u in updates.items()
        )
        / total
    )


def _assert_within_bound(
    result: AggregationResult, updates: dict[str, np.ndarray], spec: PackingSpec
) -> None:
    expected = _weighted_mean(updates, spec)
    assert result.contributors == tuple(updates)
    assert result.total_weight == pytest.approx(
        sum(WEIGHTS[p] for p in updates),
        abs=len(updates) * spec.max_weight / spec.weight_resolution,
    )
    assert result.error_bound == pytest.approx(spec.error_bound(len(updates), result.total_weight))
    assert np.max(np.abs(result.weighted_mean - expected)) <= result.error_bound


def _resign(update: EncryptedUpdate, key: Ed25519PrivateKey, **changes: object) -> bytes:
    changed = dataclasses.replace(update, **changes)  # type: ignore[arg-type]
    return changed.with_signature(key.sign(changed.signing_payload())).to_bytes()


def test_weighted_mean_of_five_participants_is_within_the_quantisation_bound(
    federation: Federation, spec: PackingSpec
) -> None:
    updates = _updates(1, federation.ids)
    messages = _encrypt_round(federation, spec, updates)
    aggregator = _aggregator(federation, spec)
    assert aggregator.submit_all(messages.values()) == []
    partials = _partials(federation, spec, aggregator, list(messages.values()), federation.ids[:3])
    result = aggregator.finalize(partials)
    _assert_within_bound(result, updates, spec)
    assert result.decrypted_by == ("org-a", "org-b", "org-c")
    assert result.rejected_partials == {} and result.rejected_updates == ()
    # the bound is tight enough to tell a weighted from an unweighted mean
    unweighted = np.mean([np.clip(u, -1, 1) for u in updates.values()], axis=0)
    assert result.error_bound < 1e-3
    assert np.max(np.abs(unweighted - _weighted_mean(updates, spec))) > 20 * result.error_bound


def test_bad_and_missing_signatures_are_rejected_by_name_and_the_round_carries_on(
    federation: Federation, spec: PackingSpec
) -> None:
    updates = _updates(2, federation.ids)
    messages = _encrypt_round(federation, spec, updates)
    aggregator = _aggregator(federation, spec)

    tampered = bytearray(messages["org-b"])
    tampered[-200] ^= 0x01  # one bit of one ciphertext
    with pytest.raises(UpdateRejected, match="'org-b'.*bad signature") as error:
        aggregator.submit(bytes(tampered))
    assert error.value.participant_id == "org-b"

    original = EncryptedUpdate.from_bytes(messages["org-c"])
    impostor = Ed25519PrivateKey.generate()
    with pytest.raises(UpdateRejected, match="'org-c'.*bad signature"):
        aggregator.submit(_resign(original, impostor))
    with pytest.raises(UpdateRejected, match="'org-d'.*unsigned"):
        aggregator.submit(EncryptedUpdate.from_bytes(messages["org-d"]).with_signature(b""))

    for participant in ("org-a", "org-e"):
        aggregator.submit(messages[participant])
    assert [r.participant_id for r in aggregator.rejections] == ["org-b", "org-c", "org-d"]
    valid = {p: updates[p] for p in ("org-a", "org-e")}
    accepted = [messages["org-a"], messages["org-e"]]
    result = aggregator.finalize(
        _partials(federation, spec, aggregator, accepted, ("org-b", "org-c", "org-d"))
    )
    _assert_within_bound(result, valid, spec)
    assert len(result.rejected_updates) == 3


def test_replays_stale_and_wrong_round_messages_are_rejected(
    federation: Federation, spec: PackingSpec
) -> None:
    updates = _updates(3, federation.ids)
    aggregator = _aggregator(federation, spec, round_number=2)
    encryptors = {p: make_encryptor(federation, spec, p, rounds=2) for p in federation.ids}

    current = encryptors["org-a"].encrypt(updates["org-a"], WEIGHTS["org-a"], 2,
                                          model=model_for(2)).to_bytes()
    aggregator.submit(current)
    with pytest.raises(UpdateRejected, match="'org-a'.*replay: already contributed to round 2"):
        aggregator.submit(current)
    old = encryptors["org-b"].encrypt(updates["org-b"], WEIGHTS["org-b"], 1, model=model_for(1))
    with pytest.raises(UpdateRejected, match="'org-b'.*replayed or stale.*round 1"):
        aggregator.submit(old)
    future = encryptors["org-c"].encrypt(updates["org-c"], WEIGHTS["org-c"], 3, model=model_for(3))
    with pytest.raises(UpdateRejected, match="'org-c'.*wrong round.*round 3"):
        aggregator.submit(future)
    foreign = ParticipantEncryptor(
        "org-d",
        federation.public_key,
        spec,
        federation.signing_keys["org-d"],
        federation_id="another-federation",
        pool=RandomnessPool(federation.public_key, on_empty="compute"),
    ).encrypt(updates["org-d"], WEIGHTS["org-d"], 2, model=model_for(2))
    with pytest.raises(UpdateRejected, match="'org-d'.*federation 'another-federation'"):
        aggregator.submit(foreign)
    other_spec = dataclasses.replace(spec, clip=2.0)
    mismatched = ParticipantEncryptor(
        "org-e",
        federation.public_key,
        other_spec,
        federation.signing_keys["org-e"],
        federation_id=FEDERATION_ID,
        pool=RandomnessPool(federation.public_key, on_empty="compute"),
    ).encrypt(updates["org-e"], WEIGHTS["org-e"], 2, model=model_for(2))
    with pytest.raises(UpdateRejected, match="'org-e'.*different public key or packing spec"):
        aggregator.submit(mismatched)
    stranger_key = Ed25519PrivateKey.generate()
    stranger = _resign(EncryptedUpdate.from_bytes(current), stranger_key, participant_id="mallory")
    with pytest.raises(UpdateRejected, match="'mallory'.*roster"):
        aggregator.submit(stranger)
    assert aggregator.contributors == ("org-a",)


def test_malformed_messages_are_rejected(federation: Federation, spec: PackingSpec) -> None:
    updates = _updates(4, ("org-a",))
    key = federation.signing_keys["org-a"]
    update = EncryptedUpdate.from_bytes(_encrypt_round(federation, spec, updates)["org-a"])
    width = federation.public_key.ciphertext_bytes
    aggregator = _aggregator(federation, spec)

    with pytest.raises(UpdateRejected, match="unknown participant.*malformed") as error:
        aggregator.submit(b"\x00garbage")
    assert error.value.participant_id is None
    with pytest.raises(UpdateRejected, match="'org-a'.*malformed:.*ciphertext bytes"):
        aggregator.submit(_resign(update, key, ciphertexts=update.ciphertexts[:-width]))
    zero = bytes(width) + update.ciphertexts[width:]
    with pytest.raises(UpdateRejected, match="'org-a'.*ciphertext 0 is not a unit"):
        aggregator.submit(_resign(update, key, ciphertexts=zero))
    too_big = b"\xff" * width + update.ciphertexts[width:]  # ≥ n²
    with pytest.raises(UpdateRejected, match="'org-a'.*not a unit"):
        aggregator.submit(_resign(update, key, ciphertexts=too_big))
    with pytest.raises(UpdateRejected, match="'org-a'.*expects 60"):
        aggregator.submit(_resign(update, key, n_values=59))
    with pytest.raises(UpdateRejected, match="expected bytes or EncryptedUpdate"):
        aggregator.submit(42)  # type: ignore[arg-type]
    assert aggregator.contributors == () and len(aggregator.rejections) == 6
    aggregator.submit(update)  # the genuine message is still welcome
    assert aggregator.contributors == ("org-a",)


def test_participants_who_vanish_after_encrypting_are_tolerated(
    federation: Federation, spec: PackingSpec
) -> None:
    updates = _updates(5, federation.ids)
    messages = list(_encrypt_round(federation, spec, updates).values())
    aggregator = _aggregator(federation, spec)
    aggregator.submit_all(messages)
    # org-a and org-b encrypted, then vanished: the remaining quorum decrypts
    survivors = ("org-c", "org-d", "org-e")
    result = aggregator.finalize(_partials(federation, spec, aggregator, messages, survivors))
    _assert_within_bound(result, updates, spec)
    assert result.decrypted_by == survivors
    # one more dropout leaves fewer than the quorum: loud failure, no result
    with pytest.raises(CryptoError, match="needs 3 valid partial decryptions, got 2"):
        aggregator.finalize(_partials(federation, spec, aggregator, messages, survivors[1:]))


def test_a_cheating_key_holder_is_named(federation: Federation, spec: PackingSpec) -> None:
    updates = _updates(6, federation.ids[:4])
    messages = list(_encrypt_round(federation, spec, updates).values())
    aggregator = _aggregator(federation, spec)
    aggregator.submit_all(messages)
    partials = _partials(
        federation, spec, aggregator, messages, ("org-a", "org-b", "org-c", "org-e")
    )
    honest = PartialDecryption.from_bytes(partials[1])
    values = list(honest.values)
    values[0] = values[0] * values[1] % federation.public_key.nsquare
    cheat = dataclasses.replace(honest, values=tuple(values))
    result = aggregator.finalize([partials[0], cheat, partials[2], partials[3]])
    _assert_within_bound(result, updates, spec)
    assert list(result.rejected_partials) == ["participant 'org-b' (share 2)"]
    assert "org-b" not in result.decrypted_by
    with pytest.raises(CryptoError, match="org-b.*proof does not verify"):
        aggregator.finalize([partials[0], cheat, partials[2]])
    with pytest.raises(CryptoError, match="unreadable"):
        aggregator.finalize([partials[0], b"junk", partials[2]])


def test_key_holders_refuse_to_decrypt_what_is_not_an_honest_aggregate(
    federation: Federation, spec: PackingSpec
) -> None:
    updates = _updates(7, federation.ids[:3])
    messages = _encrypt_round(federation, spec, updates)
    aggregator = _aggregator(federation, spec)
    aggregator.submit_all(messages.values())
    aggregate = aggregator.encrypted_aggregate()
    forwarded = list(messages.values())

    # a single org's ciphertexts dressed up as the aggregate
    single = EncryptedUpdate.from_bytes(messages["org-a"])
    substituted = dataclasses.replace(aggregate, ciphertexts=single.ciphertexts)
    with pytest.raises(CryptoError, match="org-d: refusing.*not the product"):
        _holder(federation, spec, "org-d").partial_decrypt(substituted, forwarded)
    # an aggregate of one participant
    alone = _aggregator(federation, spec)
    alone.submit(messages["org-a"])
    with pytest.raises(CryptoError, match="aggregate of 1 participant"):
        _holder(federation, spec, "org-d").partial_decrypt(
            alone.encrypted_aggregate(), [messages["org-a"]]
        )
    # contributors that do not match the forwarded updates
    claimed = dataclasses.replace(aggregate, contributors=("org-a", "org-b", "org-e"))
    with pytest.raises(CryptoError, match="claims contributors"):
        _holder(federation, spec, "org-d").partial_decrypt(claimed, forwarded)
    # a forwarded update that does not verify
    broken = bytearray(messages["org-b"])
    broken[-100] ^= 0xFF
    with pytest.raises(CryptoError, match="forwarded an invalid update.*org-b"):
        _holder(federation, spec, "org-d").partial_decrypt(
            aggregate, [messages["org-a"], bytes(broken), messages["org-c"]]
        )

    # one aggregate per round: the same one again is fine, a different one is refused
    holder = _holder(federation, spec, "org-e")
    first = holder.partial_decrypt(aggregate, forwarded)
    assert holder.partial_decrypt(aggregate.to_bytes(), forwarded).values == first.values
    two = _aggregator(federation, spec)
    two.submit_all([messages["org-a"], messages["org-b"]])
    with pytest.raises(CryptoError, match="second, different aggregate for round 1"):
        holder.partial_decrypt(two.encrypted_aggregate(), forwarded[:2])
    later = _encrypt_round(federation, spec, updates, round_number=5)
    round_five = _aggregator(federation, spec, round_number=5)
    round_five.submit_all(later.values())
    holder.partial_decrypt(round_five.encrypted_aggregate(), list(later.values()))
    stale = _aggregator(federation, spec, round_number=4)
    stale_messages = _encrypt_round(federation, spec, updates, round_number=4)
    stale.submit_all(stale_messages.values())
    with pytest.raises(CryptoError, match="round 5 was already decrypted"):
        holder.partial_decrypt(stale.encrypted_aggregate(), list(stale_messages.values()))
    other = dataclasses.replace(aggregate, federation_id="another-federation")
    with pytest.raises(CryptoError, match="federation"):
        _holder(federation, spec, "org-a").partial_decrypt(other, forwarded)
    # a coordinator's impossible numbers are a refusal (CryptoError, which the coordinators
    # count as one), not a ConfigError that stopped the run
    bad = dataclasses.replace(aggregate, n_values=0)
    with pytest.raises(CryptoError, match="org-b: refusing to decrypt a malformed aggregate"):
        _holder(federation, spec, "org-b").partial_decrypt(bad.to_bytes(), forwarded)


def test_a_round_whose_contributors_trained_from_different_models_is_not_decrypted(
    federation: Federation, spec: PackingSpec
) -> None:
    # each org given its own model, a hair apart: the sums {a,b}, {b,c}, {a,c} each passed the
    # per-model rule, and (S1 − S2 + S3) / 2 gave org-a's update exactly (a review's attack)
    updates = _updates(3, federation.ids[:2])
    encryptors = {p: make_encryptor(federation, spec, p) for p in updates}
    messages = [encryptors[p].encrypt(u, WEIGHTS[p], 1, model=model).to_bytes()
                for (p, u), model in zip(updates.items(), (model_for(1), model_for(2)),
                                         strict=True)]
    aggregator = _aggregator(federation, spec)
    aggregator.submit_all(messages)
    with pytest.raises(CryptoError, match=r"org-d: refusing to decrypt: the contributors of "
                                          r"round 1 trained from 2 different global models"):
        _holder(federation, spec, "org-d").partial_decrypt(aggregator.encrypted_aggregate(),
                                                           messages)


def test_a_key_share_that_does_not_match_its_verification_key_is_refused_on_receipt(
    federation: Federation, spec: PackingSpec
) -> None:
    share = federation.share("org-a")
    corrupted = dataclasses.replace(share, secret=share.secret + 1)
    with pytest.raises(ConfigError, match="'org-a' does not match its verification key"):
        KeyHolder(corrupted, federation.public_key, spec, federation_id=FEDERATION_ID,
                  roster=federation.roster)
    relabelled = dataclasses.replace(share, participant_id="org-b")
    with pytest.raises(ConfigError, match="'org-b' does not belong to this public key"):
        KeyHolder(relabelled, federation.public_key, spec, federation_id=FEDERATION_ID,
                  roster=federation.roster)


def test_setup_errors_are_reported(federation: Federation, spec: PackingSpec) -> None:
    small = dataclasses.replace(spec, max_participants=4)
    with pytest.raises(ConfigError, match="roster has 5 participants.*headroom for 4"):
        _aggregator(federation, small)
    wide = dataclasses.replace(spec, key_bits=1024)
    with pytest.raises(ConfigError, match="1024-bit key"):
        _aggregator(federation, wide)
    with pytest.raises(AggregationError, match="no valid update"):
        _aggregator(federation, spec).encrypted_aggregate()
    encryptor = ParticipantEncryptor(
        "org-a",
        federation.public_key,
        spec,
        federation.signing_keys["org-a"],
        federation_id=FEDERATION_ID,
    )
    with pytest.raises(CryptoError, match="exhausted"):  # never a silent slow fallback
        encryptor.encrypt(np.zeros(N_VALUES), 1.0, 1, model=model_for(1))
    with pytest.raises(ConfigError, match="different public key"):
        ParticipantEncryptor(
            "org-a",
            federation.public_key,
            spec,
            federation.signing_keys["org-a"],
            federation_id=FEDERATION_ID,
            pool=RandomnessPool(federation.public_key.paillier.__class__(federation.p * 7)),
        )
    with pytest.raises(ConfigError, match="min_contributors"):
        KeyHolder(
            federation.shares[0],
            federation.public_key,
            spec,
            federation_id=FEDERATION_ID,
            roster=federation.roster,
            min_contributors=0,
        )


def test_what_a_message_cannot_carry_is_refused_before_anything_is_signed(
        federation: Federation, spec: PackingSpec) -> None:
    # a reader takes ids of at most 256 UTF-8 bytes and rounds below 2**63: a longer id or a
    # bigger round would be signed and sent, then refused by every receiver
    key = federation.signing_keys["org-a"]
    with pytest.raises(ConfigError, match="federation_id is 300 bytes in UTF-8; at most 256"):
        ParticipantEncryptor("org-a", federation.public_key, spec, key, federation_id="f" * 300)
    with pytest.raises(ConfigError, match="participant_id is 258 bytes"):
        ParticipantEncryptor("é" * 129, federation.public_key, spec, key,
                             federation_id=FEDERATION_ID)
    with pytest.raises(ConfigError, match="participant id is 300 bytes"):
        SecureAggregator(federation.public_key, spec, federation_id=FEDERATION_ID,
                         round_number=0, n_values=N_VALUES, roster={"x" * 300: key.public_key()})
    encryptor = make_encryptor(federation, spec, "org-a")
    for bad in (-1, 2**63, 1.0, True):
        with pytest.raises(ConfigError, match=r"round_number must be an integer in \[0, 2\*\*63"):
            encryptor.encrypt(np.zeros(N_VALUES), 1.0, bad,  # type: ignore[arg-type]
                              model=model_for(0))
    with pytest.raises(ConfigError, match="32-byte model_digest"):
        encryptor.encrypt(np.zeros(N_VALUES), 1.0, 0, model=b"short")
    # the largest round a reader accepts is signed and read back
    update = encryptor.encrypt(np.zeros(N_VALUES), 1.0, 2**63 - 1, model=model_for(0))
    assert EncryptedUpdate.from_bytes(update.to_bytes()).round_number == 2**63 - 1
    holder = KeyHolder(federation.shares[0], federation.public_key, spec,
                       federation_id=FEDERATION_ID, roster=federation.roster)
    for wrong in ("aggregate", 10**12):  # bytes(10**12) would allocate a terabyte
        with pytest.raises(CryptoError, match="expected the aggregate as bytes"):
            holder.partial_decrypt(wrong, [])  # type: ignore[arg-type]


@given(
    st.lists(st.floats(1.0, 1000.0), min_size=1, max_size=5),
    st.integers(0, 2**32 - 1),
)
@settings(max_examples=12, deadline=None)
def test_encrypted_weighted_mean_matches_the_plaintext_one_for_any_weights(
    federation: Federation, spec: PackingSpec, weights: list[float], seed: int
) -> None:
    participants = federation.ids[: len(weights)]
    rng = np.random.default_rng(seed)
    updates = {p: rng.uniform(-1.5, 1.5, 30).astype(np.float32) for p in participants}
    aggregator = SecureAggregator(
        federation.public_key,
        spec,
        federation_id=FEDERATION_ID,
        round_number=0,
        n_values=30,
        roster=federation.roster,
    )
    messages = []
    for participant, weight in zip(participants, weights, strict=True):
        encryptor = ParticipantEncryptor(
            participant,
            federation.public_key,
            spec,
            federation.signing_keys[participant],
            federation_id=FEDERATION_ID,
            rng=rng,
        )
        encryptor.precompute(30)
        messages.append(encryptor.encrypt(updates[participant], weight, 0, model=model_for(0)))
        aggregator.submit(messages[-1])
    aggregate = aggregator.encrypted_aggregate()
    holders = [
        KeyHolder(
            federation.share(h),
            federation.public_key,
            spec,
            federation_id=FEDERATION_ID,
            roster=federation.roster,
            min_contributors=1,
        )
        for h in ("org-c", "org-d", "org-e")
    ]
    result = aggregator.finalize([h.partial_decrypt(aggregate, messages) for h in holders])
    clipped = {p: np.clip(u.astype(np.float64), -spec.clip, spec.clip) for p, u in updates.items()}
    pairs = zip(participants, weights, strict=True)
    exact = sum(w * clipped[p] for p, w in pairs) / sum(weights)
    assert np.max(np.abs(result.weighted_mean - exact)) <= result.error_bound
    assert result.total_weight == pytest.approx(
        sum(weights), abs=len(weights) * spec.max_weight / spec.weight_resolution
    )
