"""The Flower coordinator against malformed or hostile replies, without starting Flower.

A :class:`MessageGrid` stands in for Flower's ``Grid``: it hands each message to the org's
real :class:`NodeAgent` (the ClientApp's handlers) and can replace one org's reply to one
message type, the way a buggy or dishonest SuperNode would answer. Every test runs in well
under a second or two; the real-process tests are in ``test_flower.py``.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import shutil
import socket
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

if os.environ.get("FEDCRM_REQUIRE_FLOWER") != "1":
    pytest.importorskip("flwr")

from flwr.app import Array, ArrayRecord, Message, RecordDict
from flwr.supercore.task_identity import TaskIdentity

from fedcrm import AggregationError, ConfigError
from fedcrm.crypto import SecureAggregator, deal
from fedcrm.federation import (
    Coordinator,
    FederationKeys,
    Participant,
    SecureAggregation,
    SecureCoordinator,
    TrainingConfig,
)
from fedcrm.federation.backends.certificates import check_certificate, check_superlink
from fedcrm.federation.backends.flower import (
    FlowerCoordinator,
    FlowerSecureCoordinator,
    enrol,
)
from fedcrm.federation.backends.node import (
    NodeAgent,
    NodeResources,
    OrgSecrets,
    PublicSetup,
    load_org_secrets,
    load_participant_data,
    load_public_setup,
    write_key_files,
)
from fedcrm.federation.backends.records import ARRAYS, array_of, fields_of, pack
from fedcrm.federation.settings import FederationConfig
from tests.federation.helpers import logistic_org

TRAINING = TrainingConfig(rounds=2, local_epochs=1, learning_rate=0.2, batch_size=32)
#: (records, intercept shift, quality multiplier); org2 weighs 350 × 1.0 in encrypted mode
SHAPES = [(150, 0.3, 0.8), (260, -0.2, 1.2), (500, 0.0, 1.0)]
IDS = [f"org{i}" for i in range(len(SHAPES))]

Tamper = Callable[[RecordDict], "RecordDict | None"]

HANDLERS: dict[str, Callable[[NodeAgent, RecordDict], RecordDict]] = {
    "query.enrol": lambda agent, _: agent.enrol(),
    "train.plain": NodeAgent.train,
    "train.secure": NodeAgent.train_encrypted,
    "query.decrypt": NodeAgent.decrypt,
    "evaluate.validate": NodeAgent.validate,
    "evaluate.resync": NodeAgent.resync,
    "evaluate.test": NodeAgent.test,
}


# ---------------------------------------------------------------------------- the grid
@dataclass
class _Error:
    reason: str


@dataclass
class _Metadata:
    reply_to_message_id: str


@dataclass
class _Reply:
    """What ``Grid.pull_messages`` yields, as far as ``NodeLink`` reads it."""

    metadata: _Metadata
    content: RecordDict | None
    error: _Error = field(default_factory=lambda: _Error(""))

    def has_error(self) -> bool:
        return self.content is None


class MessageGrid:
    """A Flower ``Grid`` that answers each message at once with the org's real NodeAgent.

    ``tamper[(org, message_type)]`` rewrites that org's reply (returning None: the node
    never answers). A handler's exception becomes an error reply, as Flower's does.
    """

    def __init__(self, resources: list[NodeResources],
                 tamper: Mapping[tuple[str, str], Tamper] | None = None) -> None:
        self.resources = {node: r for node, r in enumerate(resources, start=1)}
        self.states = {node: RecordDict() for node in self.resources}
        self.tamper = dict(tamper or {})
        self.sent: list[tuple[str, str]] = []
        self._ids = itertools.count()
        self._outbox: dict[str, _Reply] = {}

    def get_node_ids(self) -> list[int]:
        return list(self.resources)

    def push_messages(self, messages: list[Message]) -> list[str]:
        ids = []
        for message in messages:
            message_id = f"m{next(self._ids)}"
            node = message.metadata.dst_node_id
            org, kind = self.resources[node].participant_id, message.metadata.message_type
            self.sent.append((org, kind))
            try:
                agent = NodeAgent(self.resources[node], self.states[node])
                content: RecordDict | None = HANDLERS[kind](agent, message.content)
                if (org, kind) in self.tamper:
                    content = self.tamper[(org, kind)](content)  # type: ignore[arg-type]
                    if content is None:
                        ids.append(message_id)
                        continue
                reply = _Reply(_Metadata(message_id), content)
            except Exception as exc:  # Flower turns it into an error reply
                reply = _Reply(_Metadata(message_id), None, _Error(f"{exc}"))
            self._outbox[message_id] = reply
            ids.append(message_id)
        return ids

    def pull_messages(self, message_ids: list[str]) -> list[_Reply]:
        return [self._outbox.pop(i) for i in message_ids if i in self._outbox]


@pytest.fixture(autouse=True)
def _task_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Flower's Message reads the run's identity, which a ServerApp process would set."""
    for name in ("_run_id", "_node_id", "_task_id"):
        monkeypatch.setattr(TaskIdentity, name, 1)


# ---------------------------------------------------------------------------- fixtures
def settings(*, training: Mapping[str, Any] | None = None, **sections: Any) -> FederationConfig:
    """A three-org config whose exchanges give up on a silent node after 0.3 s."""
    flower = {"round_timeout": 0.3, "poll_interval": 0.005, **sections.pop("flower", {})}
    return FederationConfig.model_validate({
        "participants": IDS, "training": {**TRAINING.model_dump(), **(training or {})},
        "strategy": {"name": "quality_weighted"}, "flower": flower, **sections})


def org_data() -> list[tuple[str, Any, float]]:
    return [(f"org{i}", logistic_org(n, shift, seed=i), quality)
            for i, (n, shift, quality) in enumerate(SHAPES)]


def plain_run(config: FederationConfig, tamper: Mapping[tuple[str, str], Tamper] | None = None
              ) -> tuple[FlowerCoordinator, MessageGrid]:
    grid = MessageGrid([NodeResources(pid, data, config, quality_multiplier=quality)
                        for pid, data, quality in org_data()], tamper)
    link, enrolments = enrol(grid, config)  # type: ignore[arg-type]
    return FlowerCoordinator(link, enrolments, config), grid


@pytest.fixture(scope="module")
def keys() -> FederationKeys:
    public_key, shares = deal(IDS, bits=512, allow_insecure_bits=True)
    return FederationKeys.from_deal(public_key, shares, allow_insecure_bits=True)


def secure_settings(**encryption: Any) -> FederationConfig:
    return settings(training={"learning_rate": 0.05},
                    encryption={"enabled": True, "federation_id": "fid",
                                "allow_insecure_bits": True, **encryption})


def secure_run(config: FederationConfig, keys: FederationKeys,
               tamper: Mapping[tuple[str, str], Tamper] | None = None, *,
               state_dir: Path | None = None) -> tuple[FlowerSecureCoordinator, MessageGrid]:
    """An encrypted run over a MessageGrid; ``state_dir`` is where the nodes keep what they
    must remember across runs (a new temporary folder by default)."""
    setup = PublicSetup(keys.public_key, keys.roster, "fid")
    state = state_dir
    if state is None:
        state = Path(tempfile.mkdtemp(prefix="fedcrm-test-nodes-"))
        atexit.register(shutil.rmtree, state, ignore_errors=True)
    grid = MessageGrid([
        NodeResources(pid, data, config, quality_multiplier=quality, setup=setup,
                      secrets=OrgSecrets(keys.shares[pid], keys.signing_keys[pid]),
                      state_dir=state)
        for pid, data, quality in org_data()], tamper)
    link, enrolments = enrol(grid, config)  # type: ignore[arg-type]
    return FlowerSecureCoordinator(link, enrolments, config, setup), grid


def with_fields(**changes: Any) -> Tamper:
    """Rewrite some fields of a reply (None removes one); arrays are kept."""
    def rewrite(reply: RecordDict) -> RecordDict:
        fields = fields_of(reply)
        for key, value in changes.items():
            fields.pop(key, None)
            if value is not None:
                fields[key] = value
        record = reply.array_records.get(ARRAYS)
        return pack(fields, {name: array_of(reply, name) for name in (record or {})})
    return rewrite


def with_delta(delta: np.ndarray) -> Tamper:
    """Keep a train.plain reply's fields, send ``delta`` (any dtype) instead of its delta."""
    def rewrite(reply: RecordDict) -> RecordDict:
        content = pack(fields_of(reply))
        content[ARRAYS] = ArrayRecord({"delta": Array(np.ascontiguousarray(delta))})
        return content
    return rewrite


def silent(_: RecordDict) -> None:
    return None


# --------------------------------------------------------------------------- the harness
def test_message_grid_reproduces_the_in_process_rounds() -> None:
    """The grid delivers to real NodeAgents: the global model is the in-process one."""
    config = settings()
    coordinator, _ = plain_run(config)
    participants = [Participant(pid, data, config=config.training, quality_multiplier=quality)
                    for pid, data, quality in org_data()]
    reference = Coordinator(participants, config.strategy.build(), config.training)
    flower_record, reference_record = coordinator.run_round(0), reference.run_round(0)
    np.testing.assert_allclose(coordinator.parameters, reference.parameters, atol=1e-6)
    assert flower_record.weights == reference_record.weights


# ---------------------------------------------------------------- plaintext training replies
N_PARAMETERS = 11  # the logistic model over logistic_org's 10 features


@pytest.mark.parametrize(("delta", "reason"), [
    (np.array([np.nan] + [0.0] * (N_PARAMETERS - 1), dtype=np.float32), "NaN or infinite"),
    (np.array([np.inf] + [0.0] * (N_PARAMETERS - 1), dtype=np.float32), "NaN or infinite"),
    (np.zeros(N_PARAMETERS, dtype=np.float64), "is float64, expected float32"),
    (np.zeros(N_PARAMETERS + 1, dtype=np.float32), "has 12 values, the model has 11"),
    (np.array([5.0], dtype=np.float32), "has 1 values, the model has 11"),
])
def test_unusable_delta_is_discarded_and_the_model_stays_finite(delta: np.ndarray,
                                                                reason: str) -> None:
    coordinator, _ = plain_run(settings(), {("org1", "train.plain"): with_delta(delta)})
    record = coordinator.run_round(0)
    assert record.contributed == ["org0", "org2"]
    assert "its train.plain reply was discarded" in record.dropped["org1"]
    assert reason in record.dropped["org1"]
    assert np.isfinite(coordinator.parameters).all()
    assert all(p.active for p in coordinator.participants.values())  # still in the federation


def test_short_delta_of_the_only_contributor_is_not_broadcast() -> None:
    config = settings(training={"participants_per_round": 1})
    short = with_delta(np.array([5.0], dtype=np.float32))
    coordinator, _ = plain_run(config, {(pid, "train.plain"): short for pid in IDS})
    before = coordinator.parameters.copy()
    record = coordinator.run_round(0)
    assert record.contributed == [] and len(record.dropped) == 1
    np.testing.assert_array_equal(coordinator.parameters, before)


@pytest.mark.parametrize(("tamper", "reason"), [
    (with_fields(n_samples=None), "lacks the field 'n_samples'"),
    (with_fields(n_samples=0), "n_samples: Input should be greater than or equal to 1"),
    (with_fields(n_samples=2.5), "field 'n_samples' is float, expected int"),
    (with_fields(quality_multiplier=2.0), "quality_multiplier: Input should be less than"),
    (with_fields(accepted=None), "lacks the field 'accepted'"),
    (with_fields(accepted="yes"), "field 'accepted' is str, expected bool"),
    (with_fields(participant_id="org2"), "claims to come from 'org2'"),
    (with_fields(privacy="[1, 2]"), "field 'privacy' is not a JSON object"),
    (with_fields(privacy="{not json"), "Expecting property name"),
    (lambda reply: pack(fields_of(reply)), "has no array 'delta'"),
    (lambda reply: RecordDict(), "not a fedcrm message"),
])
def test_malformed_training_reply_drops_that_org_from_the_round(tamper: Tamper,
                                                                reason: str) -> None:
    coordinator, _ = plain_run(settings(), {("org1", "train.plain"): tamper})
    record = coordinator.run_round(0)
    assert record.contributed == ["org0", "org2"] and record.rejections == {}
    assert reason in record.dropped["org1"], record.dropped
    assert "\n" not in record.dropped["org1"]


# ------------------------------------------------------------------------ evaluation replies
@pytest.mark.parametrize("auc", [1e9, -0.5, float("nan"), float("inf"), "0.9", True])
def test_validation_auc_outside_0_1_is_ignored(auc: Any) -> None:
    coordinator, _ = plain_run(settings(), {("org0", "evaluate.validate"):
                                            lambda _: pack({"auc": auc})})
    with pytest.warns(RuntimeWarning, match="org 'org0': validation AUC ignored"):
        record = coordinator.run_round(0)
    assert record.validation_auc["org0"] is None
    assert record.mean_validation_auc is not None and 0 <= record.mean_validation_auc <= 1


def test_malformed_test_metrics_are_unknown_and_the_run_finishes() -> None:
    bad_reports = json.dumps([{"auc": 7.0, "log_loss": 0.1, "n": 10.0}] * 3)
    coordinator, _ = plain_run(settings(training={"rounds": 1}), {
        ("org0", "evaluate.test"): lambda _: pack({"metrics": bad_reports}),
        ("org1", "evaluate.test"): lambda _: pack({"metrics": "[]"})})
    with pytest.warns(RuntimeWarning, match="test metrics ignored") as seen:
        result = coordinator.run(progress=False)
    assert {str(w.message).split(":")[0] for w in seen} >= {"org 'org0'", "org 'org1'"}
    for pid in ("org0", "org1"):
        assert result.test_metrics[pid] == {"auc": None, "log_loss": None, "n": None}
    assert 0 <= result.test_metrics["org2"]["auc"] <= 1  # type: ignore[operator]


def test_node_lost_in_training_is_not_asked_to_validate() -> None:
    config = settings(flower={"min_replies": 2})
    coordinator, grid = plain_run(config, {("org1", "train.plain"): silent})
    record = coordinator.run_round(0)
    assert "no answer within 0.3 s" in record.dropped["org1"]
    assert ("org1", "evaluate.validate") not in grid.sent
    assert record.validation_auc["org1"] is None and "org1" in coordinator.lost


@pytest.mark.parametrize(("message_type", "what"), [
    ("evaluate.validate", "validation of the global model"),
    ("evaluate.test", "test evaluation"),
])
def test_quorum_holds_for_evaluation_exchanges(message_type: str, what: str) -> None:
    """[flower] min_replies is the quorum of every exchange, as FlowerSettings documents."""
    config = settings(training={"rounds": 1}, flower={"min_replies": 2})
    coordinator, _ = plain_run(config, {("org0", message_type): silent,
                                        ("org1", message_type): silent})
    with pytest.raises(AggregationError, match=f"{what}: only 1 of 3 participant"):
        coordinator.run(progress=False)


# ------------------------------------------------------------------------------ enrolment
@pytest.mark.parametrize(("tamper", "reason"), [
    (with_fields(quality_multiplier=1000.0), "quality multiplier must be in [0.6, 1.4]"),
    (with_fields(quality_multiplier=float("nan")), "quality multiplier must be in"),
    (with_fields(n_samples=-400), "n_samples must be at least 1, got -400"),
    (with_fields(n_samples=0), "n_samples must be at least 1, got 0"),
    (with_fields(n_samples=12.5), "field 'n_samples' is float, expected int"),
    (with_fields(n_samples=None), "lacks the field 'n_samples'"),
    (with_fields(n_features=0), "n_features must be at least 1"),
    (with_fields(participant_id=None), "node-1 answered without a usable enrolment"),
    (with_fields(encrypted=None), "lacks the field 'encrypted'"),
])
def test_invalid_enrolment_facts_stop_the_run(tamper: Tamper, reason: str) -> None:
    """As the in-process Participant refuses a quality multiplier outside [0.6, 1.4]."""
    with pytest.raises(ConfigError, match="the federation cannot start") as error:
        plain_run(settings(), {("org0", "query.enrol"): tamper})
    assert reason in str(error.value)


@pytest.mark.parametrize("ceiling", [float("nan"), float("inf"), -512.0, 0.0, 384.0])
def test_encrypted_enrolment_needs_a_power_of_two_weight_ceiling(
        keys: FederationKeys, ceiling: float) -> None:
    with pytest.raises(ConfigError, match="weight_ceiling must be a finite positive power"):
        secure_run(secure_settings(), keys,
                   {("org1", "query.enrol"): with_fields(weight_ceiling=ceiling)})


def test_weight_above_max_weight_refuses_enrolment_as_in_process(
        keys: FederationKeys) -> None:
    config = secure_settings(max_weight=300.0)  # org2 weighs 350 records × 1.0
    participants = [Participant(pid, data, config=config.training, quality_multiplier=quality)
                    for pid, data, quality in org_data()]
    with pytest.raises(ConfigError, match=r"\['org2'\] weigh more than max_weight=300"):
        SecureCoordinator(participants, config.strategy.build(), config.training,
                          secure=SecureAggregation(keys, federation_id="fid", max_weight=300.0))
    with pytest.raises(ConfigError, match="org 'org2' .* refused to enrol: its weight is "
                                          r"above \[encryption\] max_weight=300"):
        secure_run(config, keys)


# ------------------------------------------------------------------------- encrypted rounds
@pytest.mark.parametrize(("tamper", "reason"), [
    (with_fields(message=None), "lacks the field 'message'"),
    (with_fields(message=10**6), "field 'message' is int, expected bytes"),
    (lambda _: pack({}), "lacks the field 'accepted'"),
])
def test_malformed_encrypted_reply_drops_that_org_from_the_round(
        keys: FederationKeys, tamper: Tamper, reason: str) -> None:
    coordinator, _ = secure_run(secure_settings(), keys, {("org1", "train.secure"): tamper})
    record = coordinator.run_round(0)
    assert reason in record.dropped["org1"]
    assert sorted(record.contributed) == ["org0", "org2"]
    assert record.encryption is not None and record.encryption.failure is None


def test_malformed_partial_decryption_counts_as_a_refusal(keys: FederationKeys) -> None:
    coordinator, grid = secure_run(secure_settings(), keys, {
        ("org0", "query.decrypt"): with_fields(partial=7)})
    record = coordinator.run_round(0)
    assert record.encryption is not None and record.encryption.failure is None
    assert "field 'partial' is int, expected bytes" in record.encryption.refused_decryption[
        "org0"]
    assert "org0" not in record.encryption.decrypted_by
    assert sum(1 for org, kind in grid.sent if kind == "query.decrypt") == 3


# ----------------------------------------------- what a coordinator cannot make a node do
def _agent(grid: MessageGrid, org: str) -> NodeAgent:
    node = next(n for n, r in grid.resources.items() if r.participant_id == org)
    return NodeAgent(grid.resources[node], grid.states[node])


def _round_zero_messages(keys: FederationKeys, state_dir: Path
                         ) -> tuple[FlowerSecureCoordinator, dict[str, bytes]]:
    """Run round 0 and keep every org's signed ciphertext message as the coordinator saw it."""
    captured: dict[str, bytes] = {}

    def keep(org: str) -> Tamper:
        def tamper(reply: RecordDict) -> RecordDict:
            captured[org] = bytes(fields_of(reply)["message"])
            return reply
        return tamper

    coordinator, _ = secure_run(secure_settings(), keys,
                                {(org, "train.secure"): keep(org) for org in IDS},
                                state_dir=state_dir)
    assert sorted(coordinator.run_round(0).contributed) == IDS
    return coordinator, captured


def _decrypt_request(coordinator: FlowerSecureCoordinator, keys: FederationKeys,
                     messages: list[bytes]) -> RecordDict:
    aggregator = SecureAggregator(keys.public_key, coordinator.spec, federation_id="fid",
                                  round_number=0, n_values=coordinator.n_values,
                                  roster=keys.roster)
    for message in messages:
        aggregator.submit(message)
    return pack({"aggregate": aggregator.encrypted_aggregate().to_bytes(), "updates": messages,
                 **coordinator._spec_fields()})


def test_a_new_run_cannot_get_a_second_aggregate_of_a_round_decrypted(
        keys: FederationKeys, tmp_path: Path) -> None:
    """Round 0 decrypted {org0, org1, org2}. A coordinator that starts a new run (a fresh
    Context.state) and replays org0's and org1's signed updates as round 0 would learn org2's
    update and weight from the difference of the two sums; the key holders' record on disk
    refuses it. Nodes without that record (another state folder) would have decrypted."""
    coordinator, captured = _round_zero_messages(keys, tmp_path / "nodes")
    subset = _decrypt_request(coordinator, keys, [captured["org0"], captured["org1"]])
    _, new_run = secure_run(secure_settings(), keys, state_dir=tmp_path / "nodes")
    _, forgetful = secure_run(secure_settings(), keys, state_dir=tmp_path / "elsewhere")
    for org in keys.public_key.participant_ids[:keys.public_key.quorum]:
        reply = fields_of(_agent(new_run, org).decrypt(subset))
        assert "second, different aggregate for round 0" in str(reply["refused"])
        assert "partial" in fields_of(_agent(forgetful, org).decrypt(subset))
    # the whole round's aggregate again is the same aggregate: still answered
    again = _decrypt_request(coordinator, keys, [captured[org] for org in IDS])
    assert "partial" in fields_of(_agent(new_run, "org0").decrypt(again))


def test_a_new_run_cannot_get_two_sums_from_one_model_decrypted(
        keys: FederationKeys, tmp_path: Path) -> None:
    """Round 0 decrypted {org0, org1, org2}, trained from the initial model. A new run sends
    that model again as round 5 and sums org0's and org1's updates only: the difference would
    be org2's update. The key holders' record on disk names the model and refuses."""
    coordinator, _ = _round_zero_messages(keys, tmp_path / "nodes")
    initial = secure_run(secure_settings(), keys, state_dir=tmp_path / "other")[0].parameters
    _, new_run = secure_run(secure_settings(), keys, state_dir=tmp_path / "nodes")
    content = pack({"round": 5, "prox_mu": 0.0, **coordinator._spec_fields()},
                   {"parameters": initial})
    messages = [bytes(fields_of(_agent(new_run, org).train_encrypted(content))["message"])
                for org in ("org0", "org1")]
    aggregator = SecureAggregator(keys.public_key, coordinator.spec, federation_id="fid",
                                  round_number=5, n_values=coordinator.n_values,
                                  roster=keys.roster)
    for message in messages:
        aggregator.submit(message)
    request = pack({"aggregate": aggregator.encrypted_aggregate().to_bytes(),
                    "updates": messages, **coordinator._spec_fields()})
    for org in keys.public_key.participant_ids[:keys.public_key.quorum]:
        reply = fields_of(_agent(new_run, org).decrypt(request))
        assert "already decrypted in a sum of ['org0', 'org1', 'org2']" in str(reply["refused"])


def test_an_unreadable_record_of_decrypted_rounds_is_never_read_as_empty(
        keys: FederationKeys, tmp_path: Path) -> None:
    coordinator, captured = _round_zero_messages(keys, tmp_path)
    record = tmp_path / "org0.decrypted-rounds.json"
    assert json.loads(record.read_text())  # written when round 0 was decrypted
    record.write_text("{not json")
    _, new_run = secure_run(secure_settings(), keys, state_dir=tmp_path)
    request = _decrypt_request(coordinator, keys, [captured["org0"], captured["org1"]])
    with pytest.raises(ConfigError, match="record of decrypted rounds .* cannot be read"):
        _agent(new_run, "org0").decrypt(request)


def test_encrypted_node_needs_a_state_folder_and_a_secure_key(keys: FederationKeys) -> None:
    pid, data, _ = org_data()[0]
    setup = PublicSetup(keys.public_key, keys.roster, "fid")
    secrets = OrgSecrets(keys.shares[pid], keys.signing_keys[pid])
    with pytest.raises(ConfigError, match="needs a folder where its key share records"):
        NodeResources(pid, data, secure_settings(), setup=setup, secrets=secrets)
    strict = secure_settings(allow_insecure_bits=False)
    with pytest.raises(ConfigError, match="512-bit modulus; keys under 2048 bits are insecure"):
        NodeResources(pid, data, strict, setup=setup, secrets=secrets, state_dir=Path("s"))
    with pytest.raises(ConfigError, match="512-bit modulus"):
        secure_run(strict, keys)


def test_a_second_run_with_the_same_keys_says_why_its_rounds_are_refused(
        keys: FederationKeys, tmp_path: Path) -> None:
    _round_zero_messages(keys, tmp_path)
    again, _ = secure_run(secure_settings(), keys, state_dir=tmp_path)
    with pytest.raises(AggregationError, match=r"org0 refused: .*second, different aggregate"
                                               r".*a new run of a federation needs a new "
                                               "federation id or key ceremony"):
        again.run_round(0)
    later, _ = secure_run(secure_settings(), keys, state_dir=tmp_path / "later")
    assert later.run_round(1).encryption.failure is None  # type: ignore[union-attr]
    earlier, _ = secure_run(secure_settings(), keys, state_dir=tmp_path / "later")
    with pytest.raises(AggregationError, match=r"round 1 was already decrypted.*a new run of "
                                               "a federation needs a new federation id"):
        earlier.run_round(0)


def test_deciding_and_recording_a_decryption_happen_under_the_node_lock(
        keys: FederationKeys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runs' requests may be handled at once: without a lock both could read "round 0
    not decrypted yet" and both be answered. While a holder decides, the lock is held."""
    from filelock import FileLock, Timeout

    from fedcrm.crypto import KeyHolder

    coordinator, captured = _round_zero_messages(keys, tmp_path / "run1")
    _, grid = secure_run(secure_settings(), keys, state_dir=tmp_path / "run2")
    agent = _agent(grid, "org0")
    record, _ = agent._decrypted_file()
    held: list[bool] = []
    decide = KeyHolder.partial_decrypt

    def probing(self: KeyHolder, *args: Any, **kwargs: Any) -> Any:
        try:
            with FileLock(record.with_name(record.name + ".lock"), timeout=0):
                held.append(False)
        except Timeout:
            held.append(True)
        return decide(self, *args, **kwargs)

    monkeypatch.setattr(KeyHolder, "partial_decrypt", probing)
    assert "partial" in fields_of(agent.decrypt(
        _decrypt_request(coordinator, keys, [captured[org] for org in IDS])))
    assert held == [True]


def test_any_org_id_names_its_record_of_decrypted_rounds(tmp_path: Path) -> None:
    ids = ["acme/eu", "b", "c"]
    public_key, shares = deal(ids, bits=512, allow_insecure_bits=True)
    odd = FederationKeys.from_deal(public_key, shares, allow_insecure_bits=True)
    _, data, _ = org_data()[0]
    resources = NodeResources("acme/eu", data, secure_settings(), state_dir=tmp_path,
                              setup=PublicSetup(odd.public_key, odd.roster, "fid"),
                              secrets=OrgSecrets(odd.shares["acme/eu"],
                                                 odd.signing_keys["acme/eu"]))
    path, _ = NodeAgent(resources, RecordDict())._decrypted_file()
    assert path == tmp_path / "acme%2Feu.decrypted-rounds.json"


@pytest.mark.parametrize(("changes", "reason"), [
    ({"max_weight": "abc"}, "must hold numbers, bits and max_participants whole ones"),
    ({"clip": "abc"}, "must hold numbers"),
    ({"max_participants": 3.7}, "bits and max_participants whole ones"),
    ({"max_weight": 1.0}, "max_weight=1 is not a power of two at least the weight ceiling"),
    ({"max_weight": 384.0}, "max_weight=384 is not a power of two"),
    ({"max_participants": 2}, "packing is for max_participants=2, but the encryption setup's "
                              "roster has 3"),
])
def test_node_refuses_packing_bounds_the_coordinator_picks(
        keys: FederationKeys, changes: dict[str, float], reason: str) -> None:
    """A max_weight below an org's weight would make its encryption fail, and whether it
    fails would tell the coordinator the weight: the node refuses before it trains, with a
    message that holds no weight (org2 weighs 350)."""
    coordinator, grid = secure_run(secure_settings(), keys)
    agent = _agent(grid, "org2")
    trained: list[int] = []
    agent.participant.train = lambda *a, **k: trained.append(1)  # type: ignore[method-assign]
    content = coordinator._model_message(coordinator.parameters, round=0, prox_mu=0.0,
                                         **{**coordinator._spec_fields(), **changes})
    with pytest.raises(ConfigError, match=reason) as error:
        agent.train_encrypted(content)
    assert trained == [] and "350" not in str(error.value)
    request = pack({"aggregate": b"", "updates": [], **coordinator._spec_fields(), **changes})
    assert reason in str(fields_of(_agent(grid, "org0").decrypt(request))["refused"])


@pytest.mark.parametrize("mu", [10.0, 1e-6, "lots"])
def test_node_trains_only_with_the_configured_proximal_term(keys: FederationKeys,
                                                             mu: Any) -> None:
    """A large μ for some orgs would pin their updates to the global model, so that the
    encrypted sum gives away the others' update: the node refuses before it trains."""
    coordinator, grid = secure_run(secure_settings(), keys)
    agent = _agent(grid, "org1")
    trained: list[int] = []
    agent.participant.train = lambda *a, **k: trained.append(1)  # type: ignore[method-assign]
    reason = (r"asks for the proximal term mu=.*config says mu=0; both sides" if mu != "lots"
              else "proximal term 'lots' is not a number")
    for method in (agent.train_encrypted, agent.train):
        content = coordinator._model_message(coordinator.parameters, round=0, prox_mu=mu,
                                             **coordinator._spec_fields())
        with pytest.raises(ConfigError, match=reason):
            method(content)
    assert trained == []


def test_the_configured_max_weight_is_the_only_one_a_node_accepts(
        keys: FederationKeys) -> None:
    coordinator, grid = secure_run(secure_settings(max_weight=1000.0), keys)
    assert coordinator.spec.max_weight == 1000.0
    assert coordinator.run_round(0).encryption.failure is None  # type: ignore[union-attr]
    content = coordinator._model_message(coordinator.parameters, round=1, prox_mu=0.0,
                                         **{**coordinator._spec_fields(), "max_weight": 1024.0})
    with pytest.raises(ConfigError, match=r"is not the federation config's \[encryption\] "
                                          "max_weight=1000"):
        _agent(grid, "org0").train_encrypted(content)


# ------------------------------------------------------------------ key and certificate files
@pytest.fixture
def listening() -> Iterator[str]:
    """An address where something accepts TCP connections (no TLS needed to fail)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.close()


def test_bad_ca_file_for_the_superlink_check_is_a_config_error(tmp_path: Path,
                                                               listening: str) -> None:
    junk = tmp_path / "junk.crt"
    junk.write_text("not a certificate")
    for path, reason in [(tmp_path / "nope.crt", "does not exist"),
                         (junk, "is not a PEM certificate"),
                         (tmp_path, "")]:
        with pytest.raises(ConfigError, match=f"CA certificate {path}") as error:
            check_superlink(listening, root_certificates=path)
        assert reason in str(error.value)


def test_certificate_messages_point_at_the_path_given_not_a_config_section(
        tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist; check the path passed") as missing:
        check_certificate(tmp_path / "missing.crt")
    assert "[flower]" not in str(missing.value)
    with pytest.raises(ConfigError, match=f"certificate {tmp_path} cannot be read"):
        check_certificate(tmp_path)
    with pytest.raises(ConfigError, match="is this address .*--superlink") as refused:
        check_superlink(f"127.0.0.1:{_closed_port()}", timeout=1.0)
    assert "[flower]" not in str(refused.value)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreadable_or_malformed_key_and_data_files_are_config_errors(tmp_path: Path) -> None:
    setup = tmp_path / "federation.json"
    setup.write_text(json.dumps({"roster": ["a"], "public_key": {}, "federation_id": "x"}))
    with pytest.raises(ConfigError, match=f"encryption setup {setup} is malformed"):
        load_public_setup(setup)
    with pytest.raises(ConfigError, match=f"encryption setup {tmp_path} cannot be read"):
        load_public_setup(tmp_path)
    with pytest.raises(ConfigError, match=f"key file {tmp_path} cannot be read"):
        load_org_secrets(tmp_path)
    not_npz = tmp_path / "org.npz"
    not_npz.write_text("not an npz")
    one_array = tmp_path / "org.npy"
    np.save(one_array, np.zeros(3))
    for path in (not_npz, one_array, tmp_path):
        with pytest.raises(ConfigError, match=f"participant data {path} is not an .npz"):
            load_participant_data(path)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_secret_key_file_readable_by_others_warns(tmp_path: Path) -> None:
    public_key, shares = deal(["a", "b"], bits=512, allow_insecure_bits=True)
    write_key_files(FederationKeys.from_deal(public_key, shares, allow_insecure_bits=True),
                    tmp_path, federation_id="f")
    secret = tmp_path / "a.secret.json"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_org_secrets(secret)  # written owner-only: silent
    secret.chmod(0o644)
    with pytest.warns(RuntimeWarning, match=r"0o644 .*chmod 600"):
        assert load_org_secrets(secret).share.participant_id == "a"
