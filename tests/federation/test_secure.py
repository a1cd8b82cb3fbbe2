"""Encrypted aggregation mode of the trainer (small, insecure 512-bit test keys)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gmpy2
import numpy as np
import pytest

from fedcrm import AggregationError, ConfigError, CryptoError
from fedcrm.crypto import EncryptedUpdate, SecureAggregator, combine, deal, partial_decrypt
from fedcrm.federation import (
    CoordinateMedian,
    Coordinator,
    FedAvg,
    FederationKeys,
    FedProx,
    GateDecision,
    Participant,
    QualityWeighted,
    RoundRecord,
    SealedUpdate,
    SecureAggregation,
    SecureClient,
    SecureCoordinator,
    Strategy,
    TrainingConfig,
    TrimmedMean,
    key_ceremony,
    read_round_log,
)
from fedcrm.federation.privacy import attach_client_level_dp
from fedcrm.federation.secure import _power_of_two_ceiling, reselect_for_known_model
from fedcrm.federation.strategies import Aggregate, RoundPlan
from tests.federation.helpers import logistic_org

TEST_KEY_BITS = 512
CONFIG = TrainingConfig(rounds=3, local_epochs=1, learning_rate=0.05, batch_size=32)
# (records, intercept shift, quality multiplier): weights n·q differ a lot between orgs
ORGS = [(120, 0.3, 0.7), (200, -0.2, 1.3), (600, 0.0, 0.9), (900, 0.4, 1.1)]


def make_participants(count: int = len(ORGS), config: TrainingConfig = CONFIG
                      ) -> list[Participant]:
    sizes = [ORGS[i % len(ORGS)] for i in range(count)]
    return [Participant(f"org{i}", logistic_org(n, shift, seed=i), config=config,
                        quality_multiplier=quality)
            for i, (n, shift, quality) in enumerate(sizes)]


def dealt_keys(count: int) -> FederationKeys:
    """Pre-dealt keys, as a deployment would load them (the dealer is deal itself)."""
    public_key, shares = deal([f"org{i}" for i in range(count)], bits=TEST_KEY_BITS,
                              allow_insecure_bits=True)
    return FederationKeys.from_deal(public_key, shares, allow_insecure_bits=True)


@pytest.fixture(scope="module")
def keys4() -> FederationKeys:
    return dealt_keys(4)


def secure_coordinator(participants: list[Participant], keys: FederationKeys,
                       strategy: Strategy | None = None, **options: Any) -> SecureCoordinator:
    log_path = options.pop("log_path", None)
    return SecureCoordinator(participants, strategy or QualityWeighted(), CONFIG,
                             secure=SecureAggregation(keys, **options), log_path=log_path)


def plaintext_step(coordinator: Coordinator, parameters: np.ndarray, round_number: int,
                   contributors: list[str], strategy: Strategy) -> np.ndarray:
    """The plaintext aggregate of the same participants trained from the same model."""
    updates = [coordinator.participants[pid].train(parameters, round_number, prox_mu=0.0)
               for pid in contributors]
    return strategy.aggregate(updates).step.astype(np.float64)


def float32_slack(*arrays: np.ndarray) -> float:
    """Rounding of float32 storage: half a unit in the last place of each array, at most."""
    return float(sum(np.spacing(np.abs(a).astype(np.float32)).max() for a in arrays))


def assert_step_matches(coordinator: SecureCoordinator, before: np.ndarray, after: np.ndarray,
                        record: RoundRecord, strategy: Strategy) -> np.ndarray:
    """The encrypted round's step equals the plaintext ``strategy`` step of the same
    contributors within the recorded quantisation bound (plus float32 storage rounding)."""
    assert record.encryption is not None and record.encryption.error_bound is not None
    step = after.astype(np.float64) - before
    reference = plaintext_step(coordinator, before, record.round, record.contributed, strategy)
    bound = record.encryption.error_bound
    assert np.max(np.abs(step - reference)) <= bound + float32_slack(after, reference)
    return reference


# ------------------------------------------------------------------------------ equivalence
@dataclass
class Runs:
    secure: SecureCoordinator
    before: list[np.ndarray]
    after: list[np.ndarray]
    records: list[RoundRecord]
    encrypted_auc: float
    plaintext: Any  # FederationResult
    log: Path


@pytest.fixture(scope="module")
def runs(keys4: FederationKeys, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """The same seeded 4-org, 3-round federation, encrypted and in plaintext."""
    log = tmp_path_factory.mktemp("secure") / "rounds.jsonl"
    secure = secure_coordinator(make_participants(), keys4, log_path=log,
                                federation_id="equivalence")
    before, after, records = [], [], []
    for round_number in range(CONFIG.rounds):
        before.append(secure.parameters.astype(np.float64))
        records.append(secure.run_round(round_number))
        after.append(secure.parameters.copy())
    encrypted_auc = float(np.mean([p.evaluate(secure.parameters, "test")["auc"]
                                   for p in secure.participants.values()]))
    # encrypted mode cannot bound updates server-side, so compare with plaintext without it
    plaintext = Coordinator(make_participants(), QualityWeighted(), CONFIG,
                            server_side_clipping=False).run(progress=False)
    return Runs(secure, before, after, records, encrypted_auc, plaintext, log)


def test_every_encrypted_step_is_the_plaintext_quality_weighted_step_within_the_bound(
    runs: Runs,
) -> None:
    secure = runs.secure
    for before, after, record in zip(runs.before, runs.after, runs.records, strict=True):
        encryption = record.encryption
        assert encryption is not None
        assert encryption.total_weight is not None and encryption.error_bound is not None
        assert record.contributed == [p for p in record.selected if p not in record.rejections]
        assert len(record.contributed) >= 3
        assert len(encryption.decrypted_by) == secure.secure.keys.quorum == 3
        assert encryption.error_bound == pytest.approx(
            secure.spec.error_bound(len(record.contributed), encryption.total_weight))
        reference = assert_step_matches(secure, before, after, record, QualityWeighted())
        if record.round == 0:
            # the bound is tight enough to tell the quality-weighted mean from FedAvg's
            fedavg = plaintext_step(secure, before, 0, record.contributed, FedAvg())
            assert np.max(np.abs(reference - fedavg)) > 20 * encryption.error_bound


def test_encrypted_global_model_equals_the_plaintext_one_within_the_bound(runs: Runs) -> None:
    # per-round quantisation errors add up over rounds; a model that close trains to nearly
    # the same delta, so the end-to-end distance stays within the sum of the bounds
    total_bound = sum(r.encryption.error_bound for r in runs.records
                      if r.encryption is not None and r.encryption.error_bound is not None)
    difference = np.max(np.abs(runs.secure.parameters.astype(np.float64)
                               - runs.plaintext.parameters))
    assert 0 < total_bound < 1e-4
    assert difference <= total_bound


def test_server_momentum_is_applied_to_the_decrypted_aggregate(keys4: FederationKeys) -> None:
    config = TrainingConfig(**{**CONFIG.model_dump(), "server_momentum": 0.5})
    secure = SecureCoordinator(make_participants(config=config), QualityWeighted(), config,
                               secure=SecureAggregation(keys4, federation_id="momentum"))
    velocity = None
    for round_number in range(3):
        before = secure.parameters.astype(np.float64)
        record = secure.run_round(round_number)
        after = secure.parameters
        assert record.encryption is not None and record.encryption.error_bound is not None
        aggregate = plaintext_step(secure, before, round_number, record.contributed,
                                   QualityWeighted())
        velocity = aggregate if velocity is None else 0.5 * velocity + aggregate
        bound = record.encryption.error_bound * (1 + 0.5 + 0.25)
        slack = float32_slack(after, before, velocity)
        assert np.max(np.abs(after - before - velocity)) <= bound + slack


def test_federated_auc_with_encryption_equals_the_plaintext_auc(runs: Runs) -> None:
    assert runs.plaintext.mean_test_auc > 0.8
    assert runs.encrypted_auc == pytest.approx(runs.plaintext.mean_test_auc, abs=1e-3)


def test_round_log_holds_aggregates_never_individual_weights(runs: Runs) -> None:
    logged = read_round_log(runs.log)
    assert logged == runs.records
    participants = runs.secure.participants
    resolution = runs.secure.spec.max_weight / runs.secure.spec.weight_resolution
    for record in logged:
        expected_total = sum(participants[pid].n_samples * participants[pid].quality_multiplier
                             for pid in record.contributed)
        assert record.encryption is not None and record.encryption.failure is None
        assert record.weights == {} and record.clipped == [] and record.weight_discrepancies == {}
        assert record.encryption.total_weight == pytest.approx(expected_total,
                                                               abs=4 * resolution)
        assert {"local_training", "aggregate", "decrypt", "offline_precompute"} <= set(
            record.seconds)
    assert runs.secure.enrolled == {}


# ------------------------------------------------------------------------------ weights
def test_weights_are_applied_client_side_and_only_their_sum_is_decrypted(
    runs: Runs, keys4: FederationKeys,
) -> None:
    secure = runs.secure
    parameters = secure.parameters
    sealed = secure.clients["org1"].contribute(parameters, 10, prox_mu=0.0,
                                               strategy=QualityWeighted())
    # with the key shares in hand (only a test has them all), one org's message decrypts to
    # its own weight n·q in the weight slot and its own delta
    aggregator = SecureAggregator(keys4.public_key, secure.spec,
                                  federation_id=secure.secure.federation_id, round_number=10,
                                  n_values=secure.n_values, roster=secure.roster)
    aggregator.submit(sealed.message)
    aggregate = aggregator.encrypted_aggregate()
    ciphertexts = [int.from_bytes(aggregate.ciphertexts[k:k + keys4.public_key.ciphertext_bytes],
                                  "big")
                   for k in range(0, len(aggregate.ciphertexts),
                                  keys4.public_key.ciphertext_bytes)]
    partials = [partial_decrypt(keys4.shares[pid], keys4.public_key, ciphertexts)
                for pid in ("org0", "org2", "org3")]
    decoded = secure.spec.unpack_sum(combine(keys4.public_key, ciphertexts, partials).plaintexts,
                                     secure.n_values, 1)
    org1 = secure.participants["org1"]
    resolution = secure.spec.max_weight / secure.spec.weight_resolution
    own_weight = org1.n_samples * org1.quality_multiplier
    assert decoded.total_weight == pytest.approx(own_weight, abs=resolution)
    delta = org1.train(parameters, 10, prox_mu=0.0).delta
    assert np.max(np.abs(decoded.mean - delta)) <= secure.spec.error_bound(
        1, decoded.total_weight)
    # ...but no key holder decrypts a single org's update for the coordinator
    with pytest.raises(CryptoError, match="org2: refusing.*1 participant"):
        secure.clients["org2"].partial_decrypt(aggregate.to_bytes(), [sealed.message])


def test_fedavg_weights_by_sample_count_inside_the_packing(keys4: FederationKeys) -> None:
    coordinator = secure_coordinator(make_participants(), keys4, FedAvg())
    before = coordinator.parameters.astype(np.float64)
    record = coordinator.run_round(0)
    reference = assert_step_matches(coordinator, before, coordinator.parameters, record,
                                    FedAvg())
    quality_weighted = plaintext_step(coordinator, before, 0, record.contributed,
                                      QualityWeighted())
    assert record.encryption is not None and record.encryption.error_bound is not None
    assert np.max(np.abs(reference - quality_weighted)) > 20 * record.encryption.error_bound
    assert record.encryption.total_weight == pytest.approx(
        sum(p.n_samples for p in coordinator.participants.values()), rel=1e-3)


# ------------------------------------------------------------------------------ dropouts
class VanishesAfterEncrypting(SecureClient):
    """Sends its encrypted update, then becomes unreachable (never answers as key holder)."""

    def contribute(self, *args: Any, **kwargs: Any) -> SealedUpdate:
        sealed = super().contribute(*args, **kwargs)
        self.online = False
        return sealed


def swap(coordinator: SecureCoordinator, participant_id: str,
         kind: type[SecureClient]) -> SecureClient:
    old = coordinator.clients[participant_id]
    coordinator.clients[participant_id] = kind(old.participant, old.encryptor, old.key_holder,
                                               strategy=old.strategy, prox_mu=old.prox_mu)
    return old


def test_dropout_after_encrypting_is_tolerated_while_a_quorum_remains(
    keys4: FederationKeys,
) -> None:
    coordinator = secure_coordinator(make_participants(), keys4)
    swap(coordinator, "org0", VanishesAfterEncrypting)  # the first key holder asked
    before = coordinator.parameters.astype(np.float64)
    record = coordinator.run_round(0)
    assert record.encryption is not None and record.encryption.failure is None
    assert record.contributed == ["org0", "org1", "org2", "org3"]  # its update is in the sum
    assert record.encryption.decrypted_by == ["org1", "org2", "org3"]
    assert "did not answer the request for a partial decryption" in record.dropped["org0"]
    assert_step_matches(coordinator, before, coordinator.parameters, record, QualityWeighted())


def test_below_quorum_round_fails_loudly_and_leaves_the_model_unchanged(
    keys4: FederationKeys, tmp_path: Path,
) -> None:
    log = tmp_path / "rounds.jsonl"
    coordinator = secure_coordinator(make_participants(), keys4, log_path=log)
    for pid in ("org0", "org1"):
        swap(coordinator, pid, VanishesAfterEncrypting)
    before = coordinator.parameters.copy()
    with pytest.raises(AggregationError, match=r"round 0 skipped, global model unchanged: "
                       r"threshold decryption needs 3 key holders, only 2 answered "
                       r"\(unreachable: \['org0', 'org1'\]"):
        coordinator.run_round(0)
    np.testing.assert_array_equal(coordinator.parameters, before)
    (record,) = read_round_log(log)
    assert record.contributed == [] and set(record.dropped) == {"org0", "org1"}
    assert record.encryption is not None and record.encryption.total_weight is None
    assert "discarded" in (record.encryption.failure or "")
    with pytest.raises(ConfigError, match="numbered upwards"):
        coordinator.run_round(0)  # the key holders who answered will not decrypt round 0 again


def test_skip_policy_warns_and_training_goes_on_once_the_quorum_is_back(
    keys4: FederationKeys,
) -> None:
    coordinator = secure_coordinator(make_participants(), keys4, on_failure="skip")
    originals = {pid: swap(coordinator, pid, VanishesAfterEncrypting) for pid in ("org2", "org3")}
    before = coordinator.parameters.copy()
    with pytest.warns(RuntimeWarning, match="round 0 skipped"):
        record = coordinator.run_round(0)
    assert record.encryption is not None and record.encryption.failure is not None
    np.testing.assert_array_equal(coordinator.parameters, before)
    coordinator.clients.update(originals)
    for client in originals.values():
        client.online = True
    record = coordinator.run_round(1)
    assert record.encryption is not None and record.encryption.failure is None
    assert not np.array_equal(coordinator.parameters, before)


class BlipsOnce(SecureClient):
    """A key holder whose link fails once, at its first decryption request."""

    blips = 1

    def partial_decrypt(self, aggregate: bytes, updates: Any) -> bytes:
        if self.blips:
            self.blips -= 1
            raise ConnectionError("network blip")
        return super().partial_decrypt(aggregate, updates)


def test_after_a_failed_decryption_the_same_orgs_train_again_from_the_same_model() -> None:
    # 3 of 4 a round: round 0's decryption misses the quorum, but the holders that answered
    # are bound to round 0's orgs for that model; round 1 asks the same ones, not a new draw
    # (a reviewer's federation failed every round after one network blip)
    config = CONFIG.model_copy(update={"participants_per_round": 3, "seed": 1})
    coordinator = SecureCoordinator(make_participants(config=config), QualityWeighted(), config,
                                    secure=SecureAggregation(dealt_keys(4), on_failure="skip"))
    for pid in ("org2", "org3"):
        swap(coordinator, pid, BlipsOnce)
    with pytest.warns(RuntimeWarning, match="round 0 skipped"):
        first = coordinator.run_round(0)
    records = [coordinator.run_round(n) for n in range(1, 4)]
    assert sorted(records[0].selected) == sorted(first.selected)
    assert all(r.encryption is not None and r.encryption.failure is None for r in records)


# ------------------------------------------------------------------------ bad messages
class FlipsABit(SecureClient):
    """Alters one ciphertext bit after signing."""

    def contribute(self, *args: Any, **kwargs: Any) -> SealedUpdate:
        sealed = super().contribute(*args, **kwargs)
        altered = bytearray(sealed.message)
        altered[-100] ^= 0x01  # inside the last proof, before the signature
        return SealedUpdate(bytes(altered), sealed.privacy)


class ReplaysItsFirstMessage(SecureClient):
    """Honest in its first round, then sends that first message again."""

    first: bytes | None = None

    def contribute(self, *args: Any, **kwargs: Any) -> SealedUpdate:
        sealed = super().contribute(*args, **kwargs)
        if self.first is None:
            self.first = sealed.message
            return sealed
        return SealedUpdate(self.first, sealed.privacy)


class SignsForTheNextRound(SecureClient):
    """Trains and signs for the round after the current one."""

    def contribute(self, parameters: np.ndarray, round_number: int, **kwargs: Any
                   ) -> SealedUpdate:
        return super().contribute(parameters, round_number + 1, **kwargs)


class SendsGarbage(SecureClient):
    """Sends bytes that are not an encrypted update at all."""

    def contribute(self, *args: Any, **kwargs: Any) -> SealedUpdate:
        super().contribute(*args, **kwargs)
        return SealedUpdate(b"FCEU-not-really")


class Records(SecureClient):
    """Honest; keeps its last message (so that another client can forward it)."""

    last: bytes = b""

    def contribute(self, *args: Any, **kwargs: Any) -> SealedUpdate:
        sealed = super().contribute(*args, **kwargs)
        self.last = sealed.message
        return sealed


class ForwardsAnothersMessage(SecureClient):
    """Sends a genuine, validly signed message of another participant as its own."""

    source: Records

    def contribute(self, *args: Any, **kwargs: Any) -> SealedUpdate:
        super().contribute(*args, **kwargs)
        return SealedUpdate(self.source.last)


def test_tampered_replayed_wrong_round_and_malformed_messages_are_rejected_by_name(
    tmp_path: Path,
) -> None:
    participants = make_participants(8)
    coordinator = secure_coordinator(participants, dealt_keys(8), log_path=tmp_path / "r.jsonl")
    swap(coordinator, "org0", Records)
    swap(coordinator, "org3", FlipsABit)
    swap(coordinator, "org4", ReplaysItsFirstMessage)
    swap(coordinator, "org5", SignsForTheNextRound)
    swap(coordinator, "org6", SendsGarbage)
    swap(coordinator, "org7", ForwardsAnothersMessage)
    forwarder = coordinator.clients["org7"]
    assert isinstance(forwarder, ForwardsAnothersMessage)
    forwarder.source = coordinator.clients["org0"]  # type: ignore[assignment]
    first = coordinator.run_round(0)
    assert first.encryption is not None
    assert first.contributed == ["org0", "org1", "org2", "org4"]
    before = coordinator.parameters.astype(np.float64)
    second = coordinator.run_round(1)
    assert second.encryption is not None and second.encryption.failure is None
    reasons = second.encryption.rejected_updates
    assert sorted(reasons) == ["org3", "org4", "org5", "org6", "org7"]
    assert "bad signature" in reasons["org3"]
    assert "replayed or stale: signed for round 0" in reasons["org4"]
    assert "wrong round: signed for round 2" in reasons["org5"]
    assert "malformed encrypted update" in reasons["org6"]
    assert "sent by 'org7' but claims to come from 'org0'" in reasons["org7"]
    # the round carried on with the honest participants only, weighted as in plaintext
    assert second.contributed == ["org0", "org1", "org2"]
    assert_step_matches(coordinator, before, coordinator.parameters, second, QualityWeighted())
    assert read_round_log(tmp_path / "r.jsonl")[1].encryption == second.encryption


class CancelsAnother(SecureClient):
    """Colludes with the coordinator: signs the inverse of another org's ciphertexts (with
    that org's proofs) as its own update, so that the other org cancels out of the sum."""

    source: Records

    def contribute(self, *args: Any, **kwargs: Any) -> SealedUpdate:
        super().contribute(*args, **kwargs)
        victim = EncryptedUpdate.from_bytes(self.source.last)
        key = self.encryptor.public_key
        width = key.ciphertext_bytes
        inverse = b"".join(
            int(gmpy2.invert(int.from_bytes(victim.ciphertexts[k : k + width], "big"),
                             key.nsquare)).to_bytes(width, "big")
            for k in range(0, len(victim.ciphertexts), width)
        )
        forged = dataclasses.replace(victim, participant_id=self.participant_id,
                                     ciphertexts=inverse, signature=b"")
        signature = self.encryptor._signing_key.sign(forged.signing_payload())
        return SealedUpdate(forged.with_signature(signature).to_bytes())


def test_an_update_that_cancels_another_org_is_rejected_by_name(keys4: FederationKeys) -> None:
    coordinator = secure_coordinator(make_participants(), keys4)
    swap(coordinator, "org0", Records)
    swap(coordinator, "org3", CancelsAnother)
    canceller = coordinator.clients["org3"]
    assert isinstance(canceller, CancelsAnother)
    canceller.source = coordinator.clients["org0"]  # type: ignore[assignment]
    record = coordinator.run_round(0)
    assert record.encryption is not None and record.encryption.failure is None
    assert list(record.encryption.rejected_updates) == ["org3"]
    assert "proof of plaintext knowledge does not verify" in record.encryption.rejected_updates[
        "org3"]
    assert record.contributed == ["org0", "org1", "org2"]


def test_a_lone_valid_update_is_never_decrypted(keys4: FederationKeys) -> None:
    coordinator = secure_coordinator(make_participants(), keys4)
    for pid in ("org1", "org2", "org3"):
        swap(coordinator, pid, SendsGarbage)
    before = coordinator.parameters.copy()
    with pytest.raises(AggregationError, match=r"only \['org0'\] sent a valid encrypted update"):
        coordinator.run_round(0)
    np.testing.assert_array_equal(coordinator.parameters, before)
    record = coordinator.history[-1]
    assert record.encryption is not None and record.encryption.decrypted_by == []
    assert sorted(record.encryption.rejected_updates) == ["org1", "org2", "org3"]


class Stubborn(Participant):
    """Rejects every global model once told to (a gate outcome independent of the data)."""

    stubborn = False

    def check(self, parameters: np.ndarray) -> GateDecision:
        if not self.stubborn:
            return super().check(parameters)
        return GateDecision(participant_id=self.participant_id, accepted=False, metric=None,
                            reference=None, reason="rejects every model")


def test_rollback_counts_rejecting_participants_by_head(keys4: FederationKeys) -> None:
    participants = [Stubborn(p.participant_id, p.data, config=CONFIG,
                             quality_multiplier=p.quality_multiplier)
                    for p in make_participants()]
    coordinator = secure_coordinator(list(participants), keys4)
    initial = coordinator.parameters.copy()
    coordinator.run_round(0)
    assert not np.array_equal(coordinator.parameters, initial)
    # the two smallest orgs (18 % of the weight, half of the heads) now reject any model
    for participant in participants[:2]:
        participant.stubborn = True
    record = coordinator.run_round(1)
    assert record.rolled_back and record.contributed == []
    assert set(record.rejections) == {"org0", "org1"}
    np.testing.assert_array_equal(coordinator.parameters, initial)
    assert record.encryption is not None and record.encryption.total_weight is None


def test_after_a_rollback_the_participants_of_the_restored_model_train_again(
        keys4: FederationKeys) -> None:
    # 3 of 4 a round (seed 1: without reselection round 2 samples three others and the key
    # holders refuse): the round after a rollback must not sum other orgs' updates from the
    # restored model than the decrypted round that trained from it (key holders refuse)
    config = CONFIG.model_copy(update={"participants_per_round": 3, "seed": 1})
    participants = [Stubborn(p.participant_id, p.data, config=config,
                             quality_multiplier=p.quality_multiplier)
                    for p in make_participants(config=config)]
    coordinator = SecureCoordinator(participants, QualityWeighted(), config,
                                    secure=SecureAggregation(keys4))
    first = coordinator.run_round(0)
    assert len(first.contributed) == 3
    for participant in participants:
        participant.stubborn = True
    assert coordinator.run_round(1).rolled_back
    for participant in participants:
        participant.stubborn = False
    selections = []
    for round_number in (2, 3, 4):
        record = coordinator.run_round(round_number)
        assert record.encryption is not None and record.encryption.failure is None
        selections.append(sorted(record.selected))
    # round 2 trains from the restored model: the same three; later rounds sample anew
    assert selections[0] == sorted(first.contributed)
    assert sorted(coordinator.history[2].contributed) == sorted(first.contributed)


def test_reselection_applies_only_to_a_model_decrypted_before_whose_orgs_are_active() -> None:
    plan = RoundPlan(participants=["org0", "org1"], prox_mu=0.1)
    history = {b"m" * 32: ["org2", "org0"]}
    again = reselect_for_known_model(plan, b"m" * 32, history, ["org0", "org1", "org2"])
    assert again.participants == ["org0", "org2"] and again.prox_mu == 0.1
    assert reselect_for_known_model(plan, b"n" * 32, history, ["org0", "org1", "org2"]) is plan
    # org2 has left: no round from this model can be decrypted, and the error says why
    with pytest.raises(AggregationError, match=r"already sent for decryption in a sum of "
                       r"\['org0', 'org2'\], and \['org2'\] have left.*new key ceremony"):
        reselect_for_known_model(plan, b"m" * 32, history, ["org0", "org1"])


def test_two_sums_of_different_orgs_from_one_model_are_never_both_decrypted(
        keys4: FederationKeys) -> None:
    # a coordinator sends the same model twice and leaves org2 out of the second sum: the
    # difference of the two sums would be org2's update (round numbers that would repeat the
    # training seeds, r and r + 2³¹, are refused by the participants themselves)
    coordinator = secure_coordinator(make_participants(), keys4)
    theta = coordinator.parameters.copy()

    def sealed(round_number: int, orgs: list[str]) -> list[bytes]:
        return [coordinator.clients[p].contribute(theta, round_number, prox_mu=0.0,
                                                  strategy=coordinator.strategy).message
                for p in orgs]

    def aggregate(round_number: int, messages: list[bytes]) -> bytes:
        aggregator = SecureAggregator(keys4.public_key, coordinator.spec,
                                      federation_id=coordinator.secure.federation_id,
                                      round_number=round_number, n_values=coordinator.n_values,
                                      roster=coordinator.roster)
        assert aggregator.submit_all(messages) == []
        return aggregator.encrypted_aggregate().to_bytes()

    holder = coordinator.clients["org3"]
    first = sealed(1, ["org0", "org1", "org2"])
    holder.partial_decrypt(aggregate(1, first), first)
    for client in coordinator.clients.values():
        client.precompute(coordinator.n_values)
    second = sealed(2, ["org0", "org1"])
    with pytest.raises(CryptoError, match=r"\['org0', 'org1'\] trained from a global model "
                       r"whose updates were already decrypted in a sum of \['org0', 'org1', "
                       r"'org2'\]"):
        holder.partial_decrypt(aggregate(2, second), second)
    # the same orgs again from that model reveal nothing more than the first sum: allowed
    for client in coordinator.clients.values():
        client.precompute(coordinator.n_values)
    again = sealed(3, ["org2", "org0", "org1"])
    assert holder.partial_decrypt(aggregate(3, again), again)


# ----------------------------------------------------------------------- configuration
class Weightless(Strategy):
    """Gives everyone weight 0."""

    name = "weightless"

    def weight(self, update: Any) -> float:
        return 0.0


class NeedsIndividualUpdates(Strategy):
    """A custom strategy that needs individual updates."""

    name = "custom"

    def aggregate(self, updates: Any) -> Aggregate:
        raise AssertionError("never called in encrypted mode")


@pytest.mark.parametrize("strategy", [CoordinateMedian(), TrimmedMean(0.25)])
def test_robust_strategies_are_refused_with_encryption(
    strategy: Strategy, keys4: FederationKeys,
) -> None:
    with pytest.raises(ConfigError, match=r"cannot run with encrypted aggregation.*"
                       r"only ever holds ciphertexts.*different modes"):
        secure_coordinator(make_participants(), keys4, strategy)


def test_strategies_with_their_own_aggregation_rule_are_refused(keys4: FederationKeys) -> None:
    with pytest.raises(ConfigError, match=r"'custom' cannot run with encrypted aggregation: "
                       r"it defines its own aggregate\(\)"):
        secure_coordinator(make_participants(), keys4, NeedsIndividualUpdates())


def test_weighted_mean_strategies_are_accepted(keys4: FederationKeys) -> None:
    for strategy in (FedAvg(), FedProx(mu=0.1), QualityWeighted(), Strategy()):
        coordinator = secure_coordinator(make_participants(), keys4, strategy)
        assert coordinator.server_side_clipping is False
        assert coordinator.spec.clip == CONFIG.max_update_norm


def test_bad_encrypted_configuration(keys4: FederationKeys) -> None:
    participants = make_participants()
    with pytest.raises(ConfigError, match="insecure"):
        key_ceremony(["org0", "org1"], key_bits=TEST_KEY_BITS)
    with pytest.raises(ConfigError, match="without a signing key.*org3"):
        secure_coordinator(participants, dealt_keys(3))
    with pytest.raises(ConfigError, match="not participants of this federation"):
        secure_coordinator(participants[:3], keys4)
    with pytest.raises(ConfigError, match=r"weigh more than max_weight"):
        secure_coordinator(participants, keys4, max_weight=500.0)
    with pytest.raises(ConfigError, match=r"'weightless' gives participants \['org0'"):
        secure_coordinator(participants, keys4, Weightless())
    with pytest.raises(ConfigError, match="min_contributors"):
        SecureAggregation(keys4, min_contributors=1)
    one_per_round = TrainingConfig(**{**CONFIG.model_dump(), "participants_per_round": 1})
    with pytest.raises(ConfigError, match="at least 2 participants"):
        SecureCoordinator(make_participants(config=one_per_round), QualityWeighted(),
                          one_per_round, secure=SecureAggregation(keys4))
    unbounded = TrainingConfig(**{**CONFIG.model_dump(), "max_update_norm": None})
    with pytest.raises(ConfigError, match="needs a bound on update values"):
        SecureCoordinator(make_participants(config=unbounded), QualityWeighted(), unbounded,
                          secure=SecureAggregation(keys4))
    other = dealt_keys(4)
    with pytest.raises(ConfigError, match="key share of 'org0' does not belong to this public key"):
        FederationKeys(keys4.public_key, {**keys4.shares, "org0": other.shares["org0"]},
                       keys4.signing_keys, allow_insecure_bits=True)


def test_keys_under_2048_bits_are_refused_unless_allowed(keys4: FederationKeys) -> None:
    # as deal() refuses to deal them: a key read from a file or dealt elsewhere is checked too
    with pytest.raises(ConfigError, match=r"\d+-bit modulus; keys under 2048 bits are insecure"):
        FederationKeys(keys4.public_key, keys4.shares, keys4.signing_keys)
    with pytest.raises(ConfigError, match="insecure"):
        FederationKeys.from_deal(keys4.public_key, list(keys4.shares.values()))


def test_client_level_noise_planned_for_bigger_sums_than_key_holders_decrypt_is_refused(
        keys4: FederationKeys) -> None:
    """Each org adds N(0, σ²C²/m): a decrypted sum of fewer than m updates is under-noised."""
    participants = make_participants()
    attach_client_level_dp(participants, (8.0, 1e-3), CONFIG, participants_in_sum=4,
                           clip_norm=4.0, seed=3)
    with pytest.raises(ConfigError, match=r"sums of at least 4 updates.*min_contributors=4"):
        SecureCoordinator(participants, Strategy(), CONFIG,
                          secure=SecureAggregation(keys4, min_contributors=2))
    coordinator = SecureCoordinator(participants, Strategy(), CONFIG,
                                    secure=SecureAggregation(keys4, min_contributors=4))
    # the packing clip leaves room for the noise: C + 6 σC/√m (it was the norm bound C, which
    # clipped the noise shares and took noise out of the decrypted sum)
    plan = participants[0].privacy.engine.plan  # type: ignore[union-attr]
    assert CONFIG.max_update_norm is not None and CONFIG.max_update_norm < 4.0 + 6 * 0.4
    assert coordinator.spec.clip == pytest.approx(4.0 + 6 * plan.noise_std_per_participant)
    # the default before, the norm bound, is now refused when given
    with pytest.raises(ConfigError, match=r"clip=5\) would clip the client-level DP noise "
                       r"of participants \['org0', 'org1', 'org2', 'org3'\].*set clip >= "):
        SecureCoordinator(participants, Strategy(), CONFIG,
                          secure=SecureAggregation(keys4, min_contributors=4,
                                                   clip=CONFIG.max_update_norm))
    # weights inside the packing would scale the heaviest org's update above its noise
    for weighted in (FedAvg(), QualityWeighted()):
        with pytest.raises(ConfigError, match=r"client-level DP noise.*use Strategy\(\) "
                           r"\(equal weights"):
            SecureCoordinator(participants, weighted, CONFIG,
                              secure=SecureAggregation(keys4, min_contributors=4))


def test_client_level_dp_attached_after_the_coordinator_was_built_is_refused_before_training(
        keys4: FederationKeys) -> None:
    """The packing clip and the key holders' smallest sum are fixed when the coordinator is
    built: a hook attached later would have its noise shares clipped (a review measured the
    decrypted noise at 0.29 of what the ledger assumed) and sums of 2 decrypted."""
    participants = make_participants()
    coordinator = SecureCoordinator(participants, Strategy(), CONFIG,
                                    secure=SecureAggregation(keys4))
    before = coordinator.parameters.copy()
    attach_client_level_dp(participants, (4.0, 1e-3), CONFIG, participants_in_sum=4,
                           clip_norm=1.0, seed=3)
    with pytest.raises(ConfigError, match=r"attached after the SecureCoordinator was built.*"
                       r"attach it before building.*min_contributors=4"):
        coordinator.run_round(0)
    # nobody trained: no privacy spent, the model unchanged
    assert all(p.privacy.engine.total_steps == 0  # type: ignore[union-attr]
               for p in participants)
    np.testing.assert_array_equal(coordinator.parameters, before)
    # with enough contributors but the old clip, the clip is what is refused
    participants = make_participants()
    coordinator = SecureCoordinator(participants, Strategy(), CONFIG,
                                    secure=SecureAggregation(keys4, min_contributors=4))
    attach_client_level_dp(participants, (4.0, 1e-3), CONFIG, participants_in_sum=4,
                           clip_norm=1.0, seed=3)
    with pytest.raises(ConfigError, match=r"attached after.*clip=5\b.*would clip the "
                       r"client-level DP noise"):
        coordinator.run_round(0)


def test_an_org_trains_only_with_the_proximal_term_and_weights_agreed_at_setup(
        keys4: FederationKeys) -> None:
    """A coordinator that gave the other orgs a large μ would pin their updates to the global
    model and read one org's update from the sum (a review found |sum - a|/|a| = 0.12 with
    μ = 10 for two of three orgs); one that weighted them near zero likewise."""
    coordinator = secure_coordinator(make_participants(), keys4, FedProx(mu=0.1))
    client = coordinator.clients["org1"]
    client.precompute(coordinator.n_values, rounds=2)  # two messages below
    assert client.prox_mu == 0.1
    with pytest.raises(ConfigError, match=r"'org1'.*proximal term mu=10, but the federation "
                       r"agreed on mu=0.1"):
        client.contribute(coordinator.parameters, 0, prox_mu=10.0)
    with pytest.raises(ConfigError, match=r"weights by 'weightless', not by fedprox "
                       r"\{'mu': 0.1\} as agreed"):
        client.contribute(coordinator.parameters, 0, strategy=Weightless())
    with pytest.raises(ConfigError, match=r"weights by fedprox \{'mu': 0.2\}, not by fedprox "
                       r"\{'mu': 0.1\} as agreed"):
        client.contribute(coordinator.parameters, 0, strategy=FedProx(mu=0.2))
    # what the coordinator asks for when it keeps to the agreement goes through (the same
    # rule in another object too)
    for strategy in (coordinator.strategy, FedProx(mu=0.1)):
        sealed = client.contribute(coordinator.parameters, 0, prox_mu=0.1, strategy=strategy)
        assert isinstance(sealed, SealedUpdate)
    # settings held in arrays are compared by value (== on them raised ValueError)
    other = secure_coordinator(make_participants(), keys4, WithArray(np.ones(3)))
    client = other.clients["org0"]
    client.precompute(other.n_values, rounds=2)
    assert isinstance(client.contribute(other.parameters, 0, strategy=WithArray(np.ones(3))),
                      SealedUpdate)
    with pytest.raises(ConfigError, match=r"weights by with_array \{'scale': array"):
        client.contribute(other.parameters, 0, strategy=WithArray(np.zeros(3)))
    plain = secure_coordinator(make_participants(), keys4, FedAvg())
    assert plain.clients["org0"].prox_mu == CONFIG.prox_mu == 0.0


class WithArray(FedAvg):
    """FedAvg with a setting held in an array."""

    name = "with_array"

    def __init__(self, scale: np.ndarray) -> None:
        self.scale = scale


class DecayingMu(FedAvg):
    """Sets a proximal term per round through RoundPlan.prox_mu."""

    name = "decaying_mu"

    def configure_round(self, round_number: int, participant_ids: Any, per_round: int,
                        rng: np.random.Generator) -> RoundPlan:
        plan = super().configure_round(round_number, participant_ids, per_round, rng)
        plan.prox_mu = 0.1 / (1 + round_number)
        return plan


def test_a_proximal_term_set_per_round_is_refused_in_encrypted_mode_before_training(
        keys4: FederationKeys) -> None:
    """The coordinator chooses RoundPlan.prox_mu, so with encryption it must be the one agreed
    at setup: it is refused by name before anyone trains (it failed inside an org's
    contribution with 'the federation agreed on mu=0')."""
    coordinator = secure_coordinator(make_participants(), keys4, DecayingMu())
    trained: list[str] = []
    for participant in coordinator.participants.values():
        participant.train = lambda *a, **k: trained.append("x")  # type: ignore[method-assign]
    with pytest.raises(ConfigError, match=r"round 0: strategy 'decaying_mu' asks for the "
                       r"proximal term mu=0.1, but encrypted rounds train with the one agreed "
                       r"at setup \(mu=0"):
        coordinator.run_round(0)
    assert trained == []


def test_the_encrypted_round_log_leaves_out_record_level_dp_figures_that_reveal_an_orgs_size(
        keys4: FederationKeys) -> None:
    # the sample rate 1/⌈n/B⌉, the steps, σ and the growth of ε follow from an org's
    # training-set size, which is its FedAvg weight, secret in encrypted mode
    from fedcrm.federation.privacy import attach_record_level_dp

    participants = make_participants()
    attach_record_level_dp(participants, (8.0, 1e-5), CONFIG, accountant="rdp")
    record = secure_coordinator(participants, keys4, FedAvg()).run_round(0)
    assert set(record.privacy) == set(record.contributed) and record.contributed
    for report in record.privacy.values():
        # not even the ε spent: its growth over the rounds gives away the steps per round
        assert report == {"mode": "record", "accountant": "rdp", "rounds_completed": 1}


def test_an_encrypted_org_out_of_budget_is_dropped_without_its_epsilon_figures(
        keys4: FederationKeys) -> None:
    # the budget message's spent and projected ε gave away ⌈n/B⌉ as the sealed report would
    # (a review recovered every org's from the round log)
    from fedcrm.federation.privacy import SEALED_BUDGET_REASON, attach_record_level_dp

    config = CONFIG.model_copy(update={"rounds": 1})
    participants = make_participants(config=config)
    attach_record_level_dp(participants, (8.0, 1e-5), config, accountant="rdp")
    coordinator = SecureCoordinator(participants, FedAvg(), config,
                                    secure=SecureAggregation(keys4))
    coordinator.run_round(0)
    record = coordinator.run_round(1)  # one round more than planned: every org is spent
    assert sorted(record.dropped) == sorted(p.participant_id for p in participants)
    assert set(record.dropped.values()) == {SEALED_BUDGET_REASON}


@pytest.mark.parametrize(("value", "ceiling"), [
    (1.0, 1.0), (3.0, 4.0), (1024.0, 1024.0), (1025.0, 2048.0), (0.3, 0.5),
    # one float step above a power of two: log2 rounded it down to 4 and the ceiling was 16,
    # below the weight it must bound
    (16.000000000000004, 32.0),
])
def test_the_published_weight_ceiling_is_the_next_power_of_two(value: float,
                                                               ceiling: float) -> None:
    assert _power_of_two_ceiling(value) == ceiling


@pytest.mark.parametrize("value", [0.0, -3.0, float("inf"), float("nan")])
def test_a_weight_ceiling_needs_a_finite_positive_weight(value: float) -> None:
    with pytest.raises(ConfigError, match="finite weight > 0"):
        _power_of_two_ceiling(value)
