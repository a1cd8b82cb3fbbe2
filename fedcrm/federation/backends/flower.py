"""Run a fedcrm federation on Flower (``flwr``): a ServerApp for the coordinator, a ClientApp
for each org, over Flower's simulation engine or real SuperLink/SuperNode processes.

The round logic stays fedcrm's. :class:`FlowerCoordinator` *is* a
:class:`~fedcrm.federation.Coordinator`: the same ``run_round`` (strategy
``configure_round``, enrolled weights, rollback, server-side norm bounds, strategy
``aggregate``, round log) with the three places that talk to participants sending one batch of
Flower messages each. :class:`FlowerSecureCoordinator` runs the encrypted round of
:class:`~fedcrm.federation.SecureCoordinator` with the same :class:`fedcrm.crypto.SecureAggregator`
calls; the key holders' ``KeyHolder.partial_decrypt`` runs in their own ClientApps. On the
org side :class:`~fedcrm.federation.backends.node.NodeAgent` calls ``Participant.check`` and
``Participant.train`` as the in-process backend does. With the same seed both backends produce
the same global model round by round.

Messages (all plain records, see :mod:`~fedcrm.federation.backends.records`):

==================  =================================  ===================================
message type        coordinator sends                  org answers
==================  =================================  ===================================
``query.enrol``     nothing                            id, width, sample count and quality
                                                       (encrypted: weight's power of two)
``train.plain``     global model, round, μ             gate verdict; delta + its facts
``train.secure``    global model, round, μ, packing    gate verdict; signed ciphertexts
``query.decrypt``   aggregate + forwarded updates      partial decryption, or refusal
``evaluate.validate``  global model                    validation AUC
``evaluate.resync``    restored model (after rollback) gate verdict
``evaluate.test``      final, best and averaged models test metrics
==================  =================================  ===================================
"""

from __future__ import annotations

import math
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from flwr.app import Context, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from pydantic import ValidationError
from torch import nn

from fedcrm.crypto import PackingSpec, SecureAggregator, model_digest
from fedcrm.errors import AggregationError, ConfigError, CryptoError, validation_problems
from fedcrm.federation.backends import check_simulation_device
from fedcrm.federation.backends.node import (
    NodeAgent,
    NodeResources,
    OrgSecrets,
    PublicSetup,
)
from fedcrm.federation.backends.records import (
    field_of,
    fields_of,
    from_json,
    pack,
    vector_of,
)
from fedcrm.federation.coordinator import (
    Coordinator,
    EncryptedRound,
    FederationResult,
    LocalRound,
    RoundRecord,
)
from fedcrm.federation.models import make_model
from fedcrm.federation.participant import ParticipantData, Update
from fedcrm.federation.secure import (
    _power_of_two_ceiling,
    _submit,
    check_encryptable,
    decrypt_with_quorum,
    holder_name,
    reselect_for_known_model,
)
from fedcrm.federation.settings import FederationConfig
from fedcrm.federation.strategies import RoundPlan, Strategy

__all__ = [
    "Enrolment",
    "FlowerCoordinator",
    "FlowerSecureCoordinator",
    "NodeLink",
    "SimulatedOrg",
    "deployment_client_app",
    "deployment_server_app",
    "make_client_app",
    "make_server_app",
    "read_result",
    "run_federation",
    "run_flower_simulation",
    "write_result",
]


# ------------------------------------------------------------------------------- transport
class NodeLink:
    """The coordinator's side of Flower's Grid: org id ↔ node id, and batched exchanges
    with a deadline (participants that miss it are reported, never waited for forever)."""

    def __init__(self, grid: Grid, node_of: Mapping[str, int], *, timeout: float,
                 poll_interval: float) -> None:
        self.grid = grid
        self.node_of = dict(node_of)
        self.timeout = timeout
        self.poll_interval = poll_interval

    def exchange(self, message_type: str, contents: Mapping[str, RecordDict], *,
                 group: str = "") -> tuple[dict[str, RecordDict], dict[str, str]]:
        """Send ``contents[org]`` to each org's node; return the replies and, for the orgs
        that did not answer in time or answered with an error, why."""
        pending: dict[str, str] = {}
        failures: dict[str, str] = {}
        for pid, content in contents.items():
            message = Message(content, self.node_of[pid], message_type, group_id=group,
                              ttl=max(self.timeout * 2, 60.0))
            pushed = [i for i in self.grid.push_messages([message]) if i]
            if pushed:
                pending[pushed[0]] = pid
            else:
                failures[pid] = "the SuperLink did not accept a message for its node"
        replies: dict[str, RecordDict] = {}
        deadline = time.monotonic() + self.timeout
        while pending:
            for reply in self.grid.pull_messages(list(pending)):
                pid = pending.pop(reply.metadata.reply_to_message_id, "")
                if not pid:
                    continue
                if reply.has_error():
                    failures[pid] = f"its node answered with an error: {reply.error.reason}"
                else:
                    replies[pid] = reply.content
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(self.poll_interval)
        for pid in pending.values():
            failures[pid] = f"no answer within {self.timeout:g} s (node down or too slow)"
        return replies, failures


# ------------------------------------------------------------------------------- enrolment
@dataclass(frozen=True)
class Enrolment:
    """What an org told the coordinator when it enrolled."""

    participant_id: str
    node_id: int
    n_features: int
    #: plaintext mode only (secret in encrypted mode)
    n_samples: int = 0
    quality_multiplier: float = 1.0
    #: encrypted mode only: the power of two above the org's aggregation weight
    weight_ceiling: float | None = None


@dataclass
class _RemoteData:
    n_features: int


class RemoteParticipant:
    """Stands in for an org's :class:`~fedcrm.federation.Participant` inside the
    coordinator: what the coordinator may know of it (its enrolment) and nothing else."""

    def __init__(self, enrolment: Enrolment, config: FederationConfig) -> None:
        self.participant_id = enrolment.participant_id
        self.node_id = enrolment.node_id
        self.n_samples = enrolment.n_samples
        self.quality_multiplier = enrolment.quality_multiplier
        self.config = config.training
        self.data = _RemoteData(enrolment.n_features)
        self.active = True

    def reset_gate(self) -> None:
        """Nothing to do here: the gate lives on the org's node, whose state is per run."""

    def new_model(self) -> nn.Module:
        """The federation's architecture (the initial model is built on the coordinator)."""
        return make_model(self.config.model, self.data.n_features, hidden=self.config.hidden)


def _require_quorum(what: str, answered: int, asked: int, minimum: int,
                    failures: Mapping[str, str]) -> None:
    if answered < min(minimum, asked):
        raise AggregationError(
            f"{what}: only {answered} of {asked} participant(s) answered, the quorum is "
            f"{minimum} ([flower] min_replies); not answering: "
            + "; ".join(f"{pid}: {why}" for pid, why in failures.items()))


#: what reading a malformed reply raises (ConfigError and pydantic's ValidationError are
#: ValueErrors): one org's bad reply is that org's problem, never the coordinator's crash
_MALFORMED = (KeyError, TypeError, ValueError, OverflowError)


def _discarded(message_type: str, error: Exception) -> str:
    """The round log's reason for an org whose reply could not be used (one line)."""
    if isinstance(error, ValidationError):
        reason = validation_problems(error)
    else:
        reason = " ".join(str(error).split())
    return f"its {message_type} reply was discarded: {reason}"


def _privacy_report(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The privacy spend an org reported with its update (empty without a privacy hook)."""
    if fields.get("privacy") is None:
        return {}
    report = from_json(field_of(dict(fields), "privacy", str))
    if not isinstance(report, dict):
        raise ConfigError("field 'privacy' is not a JSON object")
    return report


def _test_report(report: Any) -> dict[str, float | None]:
    """One org's test metrics of one model, checked: AUC in [0, 1], log loss and record
    count finite and non-negative, or None (the in-process ``binary_metrics`` keys)."""
    if not isinstance(report, dict):
        raise ConfigError(f"a metric report is {type(report).__name__}, expected an object")
    checked: dict[str, float | None] = {}
    for key, upper in (("auc", 1.0), ("log_loss", math.inf), ("n", math.inf)):
        value = report.get(key)
        if value is not None:
            value = field_of(report, key, float)
            if not (math.isfinite(value) and 0.0 <= value <= upper):
                raise ConfigError(f"{key} {value!r} is out of range")
        checked[key] = value
    return checked


RoundHook = Callable[[RoundRecord, np.ndarray], None]


# --------------------------------------------------------------------- plaintext coordinator
class FlowerCoordinator(Coordinator):
    """The in-process :class:`~fedcrm.federation.Coordinator`, talking to orgs over Flower.

    Orgs that do not answer a message in time are dropped from the federation (named in the
    round's ``dropped``); every exchange (training, validation, re-synchronising the gates
    after a rollback, test evaluation) goes on as long as ``[flower] min_replies`` answered,
    and fails with :class:`AggregationError` below it. An org whose reply cannot be used (a
    missing field, a delta that is not a finite float32 vector of the model's size) is named
    in the round's ``dropped`` and its reply discarded; it stays in the federation.
    """

    checks_final_model: ClassVar[bool] = False

    def __init__(self, link: NodeLink, enrolments: Sequence[Enrolment],
                 settings: FederationConfig, *, strategy: Strategy | None = None,
                 log_path: str | Path | None = None,
                 server_side_clipping: bool = True) -> None:
        self.link = link
        self.settings = settings
        #: called after every round with its record and the global model
        self.on_round: RoundHook | None = None
        #: orgs whose node stopped answering (never asked again)
        self.lost: set[str] = set()
        proxies = [RemoteParticipant(e, settings) for e in enrolments]
        super().__init__(proxies, strategy or settings.strategy.build(),  # type: ignore[arg-type]
                         settings.training, log_path=log_path,
                         server_side_clipping=server_side_clipping)

    def run_round(self, round_number: int) -> RoundRecord:
        """One round (the in-process round over Flower messages); then ``on_round``."""
        record = super().run_round(round_number)
        self._report(record)
        return record

    def _report(self, record: RoundRecord) -> None:
        if self.on_round is not None:
            self.on_round(record, self.parameters.copy())

    @property
    def min_replies(self) -> int:
        """The quorum of answers every exchange needs."""
        return self.settings.flower.min_replies

    def _drop(self, failures: Mapping[str, str], dropped: dict[str, str]) -> None:
        """Orgs whose node did not answer leave the federation (their node is lost)."""
        for pid, why in failures.items():
            self.participants[pid].active = False
            self.lost.add(pid)
            dropped[pid] = why

    def _model_message(self, parameters: np.ndarray, **fields: Any) -> RecordDict:
        return pack(fields, {"parameters": parameters})

    def _local_round(self, round_number: int, plan: RoundPlan) -> LocalRound:
        content = self._model_message(self.parameters, round=round_number,
                                      prox_mu=self._prox_mu(plan))
        replies, failures = self.link.exchange(
            "train.plain", dict.fromkeys(plan.participants, content), group=str(round_number))
        local = LocalRound()
        self._drop(failures, local.dropped)
        _require_quorum(f"round {round_number}", len(replies), len(plan.participants),
                        self.min_replies, failures)
        for pid in plan.participants:  # plan order, as the in-process loop adds updates
            if pid not in replies:
                continue
            try:
                self._read_training_reply(pid, round_number, replies[pid], local)
            except _MALFORMED as exc:
                local.dropped[pid] = _discarded("train.plain", exc)
        return local

    def _read_training_reply(self, pid: str, round_number: int, reply: RecordDict,
                             local: LocalRound) -> None:
        """Add one org's ``train.plain`` answer to ``local``: a gate rejection, a drop (its
        privacy budget is spent) or its update. Raises (one of ``_MALFORMED``) before adding
        anything when the reply is malformed."""
        fields = fields_of(reply)
        if not field_of(fields, "accepted", bool):
            local.rejections[pid] = str(fields.get("reason", ""))
            return
        if "dropped" in fields:
            self.participants[pid].active = False
            local.dropped[pid] = str(fields["dropped"])
            return
        if fields.get("participant_id") != pid:
            raise ConfigError(f"its update claims to come from {fields.get('participant_id')!r}")
        privacy = _privacy_report(fields)
        update = Update(
            participant_id=pid, round=round_number,
            delta=vector_of(reply, "delta", int(self.parameters.size)),
            n_samples=field_of(fields, "n_samples", int),
            quality_multiplier=field_of(fields, "quality_multiplier", float),
            norm=field_of(fields, "norm", float), clipped=field_of(fields, "clipped", bool),
            train_loss=field_of(fields, "train_loss", float), privacy=privacy)
        if privacy:
            local.privacy[pid] = privacy
        local.updates.append(update)

    def _final_gate(self) -> dict[str, str]:
        """No gate check of the last round's model over Flower (a node gates a model when it
        trains from it); ``FederationResult.final_rejections`` stays empty."""
        return {}

    def _resync_gates(self, parameters: np.ndarray) -> None:
        content = self._model_message(parameters)
        reachable = [pid for pid in self.participants if pid not in self.lost]
        replies, failures = self.link.exchange("evaluate.resync",
                                               dict.fromkeys(reachable, content))
        self._drop(failures, {})
        _require_quorum("re-synchronising the gates after a rollback", len(replies),
                        len(reachable), self.min_replies, failures)

    def _validate(self, parameters: np.ndarray, participant_ids: Sequence[str],
                  dropped: dict[str, str]) -> dict[str, float | None]:
        content = self._model_message(parameters)
        # an org lost earlier (in this round's training, say) is not asked again: asking
        # would only make the round wait round_timeout a second time
        reachable = [pid for pid in participant_ids if pid not in self.lost]
        replies, failures = self.link.exchange("evaluate.validate",
                                               dict.fromkeys(reachable, content))
        self._drop(failures, dropped)
        _require_quorum("validation of the global model", len(replies), len(reachable),
                        self.min_replies, failures)
        return {pid: self._reported_auc(pid, replies[pid]) if pid in replies else None
                for pid in participant_ids}

    @staticmethod
    def _reported_auc(pid: str, reply: RecordDict) -> float | None:
        """An org's validation AUC: a finite number in [0, 1], or None (absent: its split has
        one class; anything else is ignored with a warning, so one org cannot choose the
        "best" round by reporting an impossible AUC)."""
        try:
            fields = fields_of(reply)
            if fields.get("auc") is None:
                return None
            auc = float(field_of(fields, "auc", float))
            if not (math.isfinite(auc) and 0.0 <= auc <= 1.0):
                raise ConfigError(f"AUC {auc!r} is not a number in [0, 1]")
        except _MALFORMED as exc:
            warnings.warn(f"org {pid!r}: validation AUC ignored ({exc})", RuntimeWarning,
                          stacklevel=3)
            return None
        return auc

    def _test_metrics(self, candidates: Sequence[np.ndarray]
                      ) -> list[dict[str, dict[str, float | None]]]:
        arrays = {f"candidate_{i}": vector for i, vector in enumerate(candidates)}
        content = pack({"candidates": len(candidates)}, arrays)
        reachable = [pid for pid in self.participants if pid not in self.lost]
        replies, failures = self.link.exchange("evaluate.test",
                                               dict.fromkeys(reachable, content))
        self._drop(failures, {})
        _require_quorum("test evaluation", len(replies), len(reachable), self.min_replies,
                        failures)
        results: list[dict[str, dict[str, float | None]]] = [{} for _ in candidates]
        for pid in self.participants:
            for index, report in enumerate(self._reported_tests(pid, replies.get(pid),
                                                                len(candidates))):
                results[index][pid] = report
        return results

    @staticmethod
    def _reported_tests(pid: str, reply: RecordDict | None, count: int
                        ) -> list[dict[str, float | None]]:
        """An org's test metrics of the ``count`` candidate models; unknown (None) where it
        did not answer or answered with something else (with a warning)."""
        unknown: list[dict[str, float | None]] = [
            {"auc": None, "log_loss": None, "n": None} for _ in range(count)]
        if reply is None:
            return unknown
        try:
            reports = from_json(field_of(fields_of(reply), "metrics", str))
            if not isinstance(reports, list) or len(reports) != count:
                raise ConfigError(f"expected a list of {count} metric reports")
            return [_test_report(report) for report in reports]
        except _MALFORMED as exc:
            warnings.warn(f"org {pid!r}: test metrics ignored ({exc})", RuntimeWarning,
                          stacklevel=3)
            return unknown


# --------------------------------------------------------------------- encrypted coordinator
class FlowerSecureCoordinator(FlowerCoordinator):
    """Encrypted aggregation over Flower: the round of
    :class:`~fedcrm.federation.SecureCoordinator`, with the coordinator holding only the
    public setup (threshold key, roster, federation id). Orgs weight, encrypt and sign in
    their ClientApps; the coordinator verifies and multiplies ciphertexts with
    :class:`~fedcrm.crypto.SecureAggregator`; key holders decrypt in their ClientApps."""

    encrypted = True

    def __init__(self, link: NodeLink, enrolments: Sequence[Enrolment],
                 settings: FederationConfig, setup: PublicSetup, *,
                 strategy: Strategy | None = None,
                 log_path: str | Path | None = None) -> None:
        strategy = strategy or settings.strategy.build()
        check_encryptable(strategy)
        super().__init__(link, enrolments, settings, strategy=strategy, log_path=log_path,
                         server_side_clipping=False)
        encryption = settings.encryption
        setup.public_key.check_size(allow_insecure_bits=encryption.allow_insecure_bits)
        self.setup = setup
        ids = list(self.participants)
        strangers = sorted(set(ids) - set(setup.roster))
        if strangers:
            raise ConfigError(f"orgs {strangers} enrolled but are not in the encryption "
                              "setup's roster; run the key ceremony over every participant")
        holders = [pid for pid in setup.public_key.participant_ids if pid not in ids]
        if holders:
            warnings.warn(f"key holders {holders} did not enrol; they count as unreachable "
                          "when a quorum is gathered", RuntimeWarning, stacklevel=2)
        if self.config.per_round(len(ids)) < encryption.min_contributors:
            raise ConfigError(
                f"encrypted rounds need at least {encryption.min_contributors} participants, "
                f"but this config selects {self.config.per_round(len(ids))} per round")
        clip = encryption.clip if encryption.clip is not None else self.config.max_update_norm
        if clip is None:
            raise ConfigError("encrypted aggregation needs a bound on update values: set "
                              "[training] max_update_norm or [encryption] clip")
        ceilings = [e.weight_ceiling for e in enrolments if e.weight_ceiling is not None]
        if len(ceilings) != len(enrolments):
            raise ConfigError("an org enrolled without encryption; every node must read the "
                              "same federation config (encryption enabled)")
        max_weight = (encryption.max_weight if encryption.max_weight is not None
                      else _power_of_two_ceiling(max(ceilings)))
        # a weight above half its power-of-two ceiling is certainly above max_weight
        too_heavy = sorted(e.participant_id for e in enrolments
                           if e.weight_ceiling is not None and e.weight_ceiling / 2 >= max_weight)
        if too_heavy:
            raise ConfigError(f"participants {too_heavy} weigh more than max_weight="
                              f"{max_weight}; raise [encryption] max_weight")
        #: aggregation weights are secret in encrypted mode: the coordinator keeps none
        self.enrolled = {}
        self.n_values = int(self.parameters.size)
        # sized for the whole roster, which each node checks (a coordinator cannot pick it)
        self.spec = PackingSpec(clip=float(clip), max_participants=len(setup.roster),
                                max_weight=float(max_weight), bits=encryption.bits,
                                key_bits=setup.public_key.n.bit_length())
        self._last_round = -1
        #: model digest → the contributors of the sum from that model sent for decryption
        self._decrypted_from: dict[bytes, list[str]] = {}

    def _spec_fields(self) -> dict[str, Any]:
        return {"clip": self.spec.clip, "max_participants": self.spec.max_participants,
                "max_weight": self.spec.max_weight, "bits": self.spec.bits}

    def run_round(self, round_number: int) -> RoundRecord:
        """One encrypted round (see :meth:`SecureCoordinator.run_round`)."""
        if round_number <= self._last_round:
            raise ConfigError(f"encrypted rounds must be numbered upwards: round {round_number} "
                              f"after round {self._last_round}")
        self._last_round = round_number
        timings: dict[str, float] = {}
        start = time.perf_counter()
        active = self._active_ids()
        if not active:
            raise AggregationError("every participant has dropped out; nothing to train")
        plan = self.strategy.configure_round(round_number, active,
                                             self.config.per_round(len(active)), self._rng)
        trained_from = model_digest(self.parameters)
        plan = reselect_for_known_model(plan, trained_from, self._decrypted_from, active)
        timings["configure"] = time.perf_counter() - start
        start = time.perf_counter()
        content = self._model_message(self.parameters, round=round_number,
                                      prox_mu=self._prox_mu(plan), **self._spec_fields())
        replies, failures = self.link.exchange(
            "train.secure", dict.fromkeys(plan.participants, content), group=str(round_number))
        rejections: dict[str, str] = {}
        dropped: dict[str, str] = {}
        privacy: dict[str, dict[str, Any]] = {}
        messages: dict[str, bytes] = {}
        self._drop(failures, dropped)
        _require_quorum(f"round {round_number}", len(replies), len(plan.participants),
                        self.min_replies, failures)
        for pid in plan.participants:
            if pid not in replies:
                continue
            try:
                fields = fields_of(replies[pid])
                if not field_of(fields, "accepted", bool):
                    rejections[pid] = str(fields.get("reason", ""))
                elif "dropped" in fields:
                    self.participants[pid].active = False
                    dropped[pid] = str(fields["dropped"])
                else:
                    message = field_of(fields, "message", bytes)
                    report = _privacy_report(fields)
                    messages[pid] = message
                    if report:
                        privacy[pid] = report
            except _MALFORMED as exc:
                dropped[pid] = _discarded("train.secure", exc)
        timings["local_training"] = time.perf_counter() - start
        # by head count (encrypted): the coordinator does not know the participants' weights
        rolled_back = self._rollback_due(self._rejected_share(rejections, plan.participants))
        encryption = EncryptedRound(key_bits=self.spec.key_bits,
                                    quorum=self.setup.public_key.quorum)
        contributed: list[str] = []
        cause: Exception | None = None
        if rolled_back:
            self._roll_back()
        elif messages:
            contributed, encryption, cause = self._aggregate_encrypted(
                round_number, messages, dropped, timings, trained_from)
        start = time.perf_counter()
        validation = self._validate(self.parameters, active, dropped)
        timings["evaluate"] = time.perf_counter() - start
        record = RoundRecord(
            round=round_number, strategy=self.strategy.name, selected=plan.participants,
            contributed=contributed if not rolled_back else [], weights={},
            rejections=rejections, rolled_back=rolled_back, dropped=dropped,
            validation_auc=validation,
            seconds={k: round(v, 4) for k, v in timings.items()}, privacy=privacy,
            encryption=encryption)
        record = self._keep(record)
        self._report(record)
        if encryption.failure is not None:
            if self.settings.encryption.on_failure == "raise":
                raise AggregationError(encryption.failure) from cause
            warnings.warn(encryption.failure, RuntimeWarning, stacklevel=2)
        return record

    def _aggregate_encrypted(
        self, round_number: int, messages: Mapping[str, bytes], dropped: dict[str, str],
        timings: dict[str, float], trained_from: bytes,
    ) -> tuple[list[str], EncryptedRound, Exception | None]:
        """Verify and add the ciphertexts, gather a quorum of partial decryptions, apply the
        weighted mean; a crypto failure is returned with the model left unchanged."""
        public_key = self.setup.public_key
        start = time.perf_counter()
        aggregator = SecureAggregator(public_key, self.spec,
                                      federation_id=self.setup.federation_id,
                                      round_number=round_number, n_values=self.n_values,
                                      roster=self.setup.roster)
        rejected: dict[str, str] = {}
        accepted: list[bytes] = []
        for sender, message in messages.items():
            reason = _submit(aggregator, sender, message)
            if reason is None:
                accepted.append(message)
            else:
                rejected[sender] = reason
        timings["aggregate"] = time.perf_counter() - start
        start = time.perf_counter()
        refused: dict[str, str] = {}
        minimum = self.settings.encryption.min_contributors
        try:
            if not accepted:
                raise AggregationError("no valid encrypted update: every message was rejected ("
                                       + "; ".join(f"{k}: {v}" for k, v in rejected.items())
                                       + ")")
            if len(accepted) < minimum:
                raise AggregationError(
                    f"only {list(aggregator.contributors)} sent a valid encrypted update; key "
                    f"holders decrypt sums of at least {minimum} participants")
            aggregate = aggregator.encrypted_aggregate().to_bytes()
            # before any key holder is asked (see SecureCoordinator._aggregate)
            self._decrypted_from[trained_from] = list(aggregator.contributors)
            result = self._decrypt(aggregator, round_number, aggregate, accepted, dropped,
                                   refused)
        except (AggregationError, CryptoError) as exc:
            timings["decrypt"] = time.perf_counter() - start
            contributors = list(aggregator.contributors)
            failure = (f"round {round_number} skipped, global model unchanged: {exc}"
                       + (f" (encrypted updates from {contributors} discarded)"
                          if contributors else ""))
            return [], EncryptedRound(
                key_bits=self.spec.key_bits, quorum=public_key.quorum, rejected_updates=rejected,
                refused_decryption=refused, failure=failure), exc
        timings["decrypt"] = time.perf_counter() - start
        for description, reason in result.rejected_partials.items():
            refused[holder_name(public_key, description)] = reason
        self._apply_step(result.weighted_mean)
        return list(result.contributors), EncryptedRound(
            key_bits=self.spec.key_bits, quorum=public_key.quorum, rejected_updates=rejected,
            decrypted_by=list(result.decrypted_by), refused_decryption=refused,
            total_weight=result.total_weight, error_bound=result.error_bound), None

    def _decrypt(self, aggregator: SecureAggregator, round_number: int, aggregate: bytes,
                 accepted: list[bytes], dropped: dict[str, str], refused: dict[str, str]
                 ) -> Any:
        """Ask key holders, in key order and a batch at a time, until a quorum answered;
        combine. If a partial turns out invalid, the remaining holders are asked."""
        quorum = self.setup.public_key.quorum
        waiting = list(self.setup.public_key.participant_ids)
        partials: list[bytes] = []
        unreachable: list[str] = []
        content = pack({"aggregate": aggregate, "updates": list(accepted),
                        **self._spec_fields()})

        def ask(count: int) -> None:
            while count > 0 and waiting:
                batch = [waiting.pop(0) for _ in range(min(count, len(waiting)))]
                online = [pid for pid in batch
                          if pid in self.link.node_of and pid not in self.lost]
                for pid in batch:
                    if pid not in online:
                        unreachable.append(pid)
                        dropped.setdefault(pid, "dropped out: not reachable for a partial "
                                                "decryption")
                replies, failures = self.link.exchange(
                    "query.decrypt", dict.fromkeys(online, content), group=str(round_number))
                for pid, why in failures.items():
                    unreachable.append(pid)
                    self.lost.add(pid)
                    self.participants[pid].active = False
                    dropped[pid] = ("dropped out: did not answer the request for a partial "
                                    f"decryption ({why})")
                for pid in online:  # key order, as the in-process coordinator asks
                    if pid not in replies:
                        continue
                    try:
                        fields = fields_of(replies[pid])
                        partial = (field_of(fields, "partial", bytes) if "partial" in fields
                                   else None)
                    except _MALFORMED as exc:
                        refused[pid] = _discarded("query.decrypt", exc)
                        continue
                    if partial is None:
                        refused[pid] = str(fields.get("refused", "refused"))
                    else:
                        partials.append(partial)
                        count -= 1

        return decrypt_with_quorum(aggregator, quorum, ask, waiting, partials, unreachable,
                                   refused)


# ----------------------------------------------------------------------------- server loop
def _wait_for_nodes(grid: Grid, minimum: int, timeout: float, poll: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        nodes = sorted(grid.get_node_ids())
        if len(nodes) >= minimum:
            return nodes
        if time.monotonic() >= deadline:
            raise AggregationError(
                f"only {len(nodes)} of the {minimum} SuperNode(s) needed ([flower] "
                f"min_available) connected to the SuperLink within {timeout:g} s "
                "([flower] connect_timeout); check that every org's SuperNode runs and "
                "reaches the SuperLink address")
        time.sleep(max(poll, 0.1))


def _enrolment_of(pid: str, node_id: int, fields: Mapping[str, Any], *,
                  encrypted: bool) -> Enrolment:
    """An org's enrolment facts, checked as the in-process backend checks its participants
    (ConfigError naming the fact): a positive feature count; plaintext: a positive sample
    count and a quality multiplier in [0.6, 1.4]; encrypted: the weight's power-of-two
    ceiling, a finite positive power of two."""
    facts = dict(fields)
    n_features = field_of(facts, "n_features", int)
    if n_features < 1:
        raise ConfigError(f"n_features must be at least 1, got {n_features}")
    if encrypted:
        ceiling = float(field_of(facts, "weight_ceiling", float))
        if not (math.isfinite(ceiling) and ceiling > 0 and math.frexp(ceiling)[0] == 0.5):
            raise ConfigError(f"weight_ceiling must be a finite positive power of two, got "
                              f"{ceiling!r}")
        return Enrolment(participant_id=pid, node_id=node_id, n_features=n_features,
                         weight_ceiling=ceiling)
    n_samples = field_of(facts, "n_samples", int)
    if n_samples < 1:
        raise ConfigError(f"n_samples must be at least 1, got {n_samples}")
    quality = float(field_of(facts, "quality_multiplier", float))
    if not 0.6 <= quality <= 1.4:
        raise ConfigError(f"quality multiplier must be in [0.6, 1.4], got {quality}")
    return Enrolment(participant_id=pid, node_id=node_id, n_features=n_features,
                     n_samples=n_samples, quality_multiplier=quality)


def enrol(grid: Grid, settings: FederationConfig) -> tuple[NodeLink, list[Enrolment]]:
    """Wait for the orgs' nodes, ask each who it is, and check it against the roster.

    A node that refuses to enrol (its weight exceeds ``[encryption] max_weight``, say) or
    sends invalid facts stops the run with a :class:`ConfigError` naming it, as the
    in-process backend refuses such a participant; nodes that do not answer are left out
    (with a warning) while ``[flower] min_available`` of them enrol."""
    flower = settings.flower
    roster = settings.participants
    minimum = flower.min_available or (len(roster) if roster else 1)
    nodes = _wait_for_nodes(grid, minimum, flower.connect_timeout, flower.poll_interval)
    by_node = {f"node-{node}": node for node in nodes}
    probe = NodeLink(grid, by_node, timeout=flower.round_timeout,
                     poll_interval=flower.poll_interval)
    replies, failures = probe.exchange("query.enrol", {key: pack({}) for key in by_node})
    enrolments: dict[str, Enrolment] = {}
    problems = [f"{key}: {why}" for key, why in failures.items()]
    refused: list[str] = []
    for key, content in replies.items():
        try:
            fields = fields_of(content)
            pid = field_of(fields, "participant_id", str)
            encrypted = field_of(fields, "encrypted", bool)
        except _MALFORMED as exc:
            refused.append(f"{key} answered without a usable enrolment ({exc}); check that "
                           "its SuperNode runs fedcrm's ClientApp")
            continue
        if roster is not None and pid not in roster:
            problems.append(f"{key} says it is {pid!r}, who is not in the roster {roster}")
            continue
        if pid in enrolments:
            raise ConfigError(f"two SuperNodes both say they are {pid!r}; give each org's "
                              "node its own --node-config org=...")
        if encrypted != settings.encryption.enabled:
            raise ConfigError(f"org {pid!r} has encryption "
                              f"{'on' if encrypted else 'off'} but the coordinator "
                              "has it the other way; all parties must read the same config")
        if "refused" in fields:
            refused.append(f"org {pid!r} ({key}) refused to enrol: {fields['refused']}")
            continue
        try:
            enrolments[pid] = _enrolment_of(pid, by_node[key], fields, encrypted=encrypted)
        except _MALFORMED as exc:
            refused.append(f"org {pid!r} ({key}) sent invalid enrolment facts ({exc}); check "
                           "its SuperNode's --node-config (quality=...) and its data")
    if refused:
        # as the in-process Participant and SecureCoordinator refuse such an org when they
        # are built: the run does not start without it
        raise ConfigError("the federation cannot start: " + "; ".join(refused))
    order = [pid for pid in (roster or sorted(enrolments)) if pid in enrolments]
    if len(order) < minimum:
        raise AggregationError(f"only {order} enrolled, {minimum} needed ([flower] "
                               f"min_available); problems: {'; '.join(problems) or 'none'}")
    if problems:
        warnings.warn("some nodes did not enrol: " + "; ".join(problems), RuntimeWarning,
                      stacklevel=2)
    link = NodeLink(grid, {pid: enrolments[pid].node_id for pid in order},
                    timeout=flower.round_timeout, poll_interval=flower.poll_interval)
    return link, [enrolments[pid] for pid in order]


def run_federation(grid: Grid, settings: FederationConfig, *,
                   setup: PublicSetup | None = None,
                   log_path: str | Path | None = None,
                   on_round: RoundHook | None = None) -> FederationResult:
    """The ServerApp's work: enrol the orgs, run the configured rounds, evaluate.
    ``on_round`` is called after every round with its record and the global model."""
    link, enrolments = enrol(grid, settings)
    coordinator: FlowerCoordinator
    if settings.encryption.enabled:
        if setup is None:
            raise ConfigError("encryption is enabled but the coordinator has no public setup "
                              "([encryption] keys)")
        coordinator = FlowerSecureCoordinator(link, enrolments, settings, setup,
                                              log_path=log_path)
    else:
        coordinator = FlowerCoordinator(link, enrolments, settings, log_path=log_path)
    coordinator.on_round = on_round
    return coordinator.run(progress=False)


# ------------------------------------------------------------------------------------ apps
ResourceProvider = Callable[[Context], NodeResources]


def make_client_app(resources: ResourceProvider) -> ClientApp:
    """A ClientApp whose handlers run one org's :class:`NodeAgent` (``resources`` maps the
    node's context to what that org brings)."""
    app = ClientApp()

    def handler(action: Callable[[NodeAgent, RecordDict], RecordDict]
                ) -> Callable[[Message, Context], Message]:
        def handle(message: Message, context: Context) -> Message:
            agent = NodeAgent(resources(context), context.state)
            return Message(action(agent, message.content), reply_to=message)
        return handle

    app.query("enrol")(handler(lambda agent, _: agent.enrol()))
    app.train("plain")(handler(NodeAgent.train))
    app.train("secure")(handler(NodeAgent.train_encrypted))
    app.query("decrypt")(handler(NodeAgent.decrypt))
    app.evaluate("validate")(handler(NodeAgent.validate))
    app.evaluate("resync")(handler(NodeAgent.resync))
    app.evaluate("test")(handler(NodeAgent.test))
    return app


def make_server_app(settings: FederationConfig | Callable[[Context], FederationConfig], *,
                    setup: PublicSetup | None = None,
                    log_path: str | Path | None = None,
                    on_round: RoundHook | None = None,
                    on_result: Callable[[FederationResult], None] | None = None) -> ServerApp:
    """A ServerApp running :func:`run_federation` (``on_result`` receives the result)."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        config = settings(context) if callable(settings) else settings
        result = run_federation(grid, config, setup=setup, log_path=log_path,
                                on_round=on_round)
        if on_result is not None:
            on_result(result)

    return app


# ------------------------------------------------------------------------------ simulation
@dataclass(repr=False)
class SimulatedOrg:
    """One org of a simulated Flower federation (its data stays in its virtual node)."""

    participant_id: str
    data: ParticipantData
    quality_multiplier: float = 1.0


def run_flower_simulation(
    orgs: Sequence[SimulatedOrg],
    settings: FederationConfig,
    *,
    keys: Any = None,
    log_path: str | Path | None = None,
    state_dir: str | Path | None = None,
    privacy_seed: int | None = None,
    on_round: RoundHook | None = None,
    verbose: bool = False,
) -> FederationResult:
    """Run the federation on Flower's simulation engine (one virtual SuperNode per org).

    ``keys`` (:class:`~fedcrm.federation.FederationKeys`) is required with encryption; the
    federation id comes from ``[encryption] federation_id``. Privacy engines keep their state
    under ``state_dir`` (a temporary folder by default).
    """
    from flwr.simulation import run_simulation

    check_simulation_device(settings.training.device)
    if not orgs:
        raise ConfigError("a federation needs at least one org")
    ids = [org.participant_id for org in orgs]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"org ids must be unique, got {ids}")
    setup: PublicSetup | None = None
    secrets: dict[str, OrgSecrets] = {}
    if settings.encryption.enabled:
        if keys is None:
            raise ConfigError("encryption is enabled: pass the federation's keys "
                              "(fedcrm.federation.key_ceremony)")
        federation_id = settings.encryption.federation_id or "fedcrm-flower-simulation"
        setup = PublicSetup(keys.public_key, keys.roster, federation_id)
        secrets = {pid: OrgSecrets(keys.shares[pid], keys.signing_keys[pid])
                   for pid in ids if pid in keys.shares}
    settings = settings.model_copy(update={"participants": settings.participants or ids})
    temporary = tempfile.TemporaryDirectory(prefix="fedcrm-flower-") if state_dir is None else None
    folder = Path(state_dir if state_dir is not None else temporary.name)  # type: ignore[union-attr]
    resources = [
        NodeResources(participant_id=org.participant_id, data=org.data, config=settings,
                      quality_multiplier=org.quality_multiplier, setup=setup,
                      secrets=secrets.get(org.participant_id), state_dir=folder,
                      ledger_path=folder / "privacy-ledger.jsonl",
                      privacy_seed=privacy_seed)
        for org in orgs]

    ready: dict[int, NodeResources] = {}

    def provide(context: Context) -> NodeResources:
        # runs in the engine's worker processes; the data arrives there read-only (shared
        # memory), and torch wants writable arrays: copy once per worker and org
        index = int(context.node_config["partition-id"])
        if index not in ready:
            node = resources[index]
            data = node.data
            copied = ParticipantData(
                np.array(data.train_x), np.array(data.train_y), np.array(data.validation_x),
                np.array(data.validation_y), np.array(data.test_x), np.array(data.test_y),
                list(data.feature_names))
            ready[index] = replace(node, data=copied)
        return ready[index]

    holder: dict[str, FederationResult] = {}
    failure: list[BaseException] = []

    def keep(result: FederationResult) -> None:
        holder["result"] = result

    server = make_server_app(settings, setup=setup, log_path=log_path, on_round=on_round,
                             on_result=keep)
    cpus = settings.flower.simulation_cpus_per_node
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            run_simulation(server, make_client_app(provide), num_supernodes=len(orgs),
                           backend_config={"client_resources": {"num_cpus": cpus,
                                                                "num_gpus": 0.0},
                                           "init_args": {"num_cpus": max(
                                               math.ceil(cpus * len(orgs)), 1)}},
                           verbose_logging=verbose)
    except BaseException as exc:  # the engine wraps the ServerApp's error; unwrap it
        failure.append(exc)
    finally:
        if temporary is not None:
            temporary.cleanup()
    if failure:
        cause: BaseException | None = failure[0]
        while cause is not None and not isinstance(cause, AggregationError | ConfigError):
            cause = cause.__cause__
        raise (cause or failure[0])
    if "result" not in holder:
        raise AggregationError("the Flower simulation ended without a result; run with "
                               "verbose=True to see the engine's log")
    return holder["result"]



# ------------------------------------------------------------------------------ deployment
def deployment_client_app() -> ClientApp:
    """The ClientApp of a real SuperNode: each org's resources come from the node's
    ``--node-config`` (see :meth:`NodeResources.from_node_config`)."""
    return make_client_app(lambda context: NodeResources.from_node_config(context.node_config))


def deployment_server_app() -> ServerApp:
    """The ServerApp of a real SuperLink. Its run config names the federation file
    (``config``) and a folder for ``rounds.jsonl`` and ``result.json`` (``output``)."""
    from fedcrm.federation.backends.node import load_public_setup

    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        path = str(context.run_config.get("config", ""))
        if not path:
            raise ConfigError("the run config lacks config=<federation file>; start the run "
                              "with flwr run --run-config 'config=\"...\" output=\"...\"'")
        settings = FederationConfig.from_file(path)
        output = Path(str(context.run_config.get("output", "") or ".")).expanduser()
        output.mkdir(parents=True, exist_ok=True)
        log_path = output / "rounds.jsonl"
        log_path.unlink(missing_ok=True)
        setup = None
        if settings.encryption.enabled and settings.encryption.keys is not None:
            setup = load_public_setup(settings.encryption.keys)
        try:
            result = run_federation(grid, settings, setup=setup, log_path=log_path)
        except Exception as exc:
            (output / "error.txt").write_text(f"{type(exc).__name__}: {exc}\n",
                                              encoding="utf-8")
            raise
        write_result(output / "result.json", result)

    return app


def write_result(path: str | Path, result: FederationResult) -> Path:
    """Store a :class:`FederationResult` as JSON (float32 vectors as lists)."""
    import json

    def vector(value: Any) -> list[float] | None:
        return None if value is None else np.asarray(value, dtype=np.float32).tolist()

    data = {"parameters": vector(result.parameters),
            "best_parameters": vector(result.best_parameters),
            "best_round": result.best_round,
            "history": [record.model_dump(mode="json") for record in result.history],
            "test_metrics": result.test_metrics,
            "best_test_metrics": result.best_test_metrics,
            "averaged_parameters": vector(result.averaged_parameters),
            "averaged_rounds": result.averaged_rounds,
            "averaged_test_metrics": result.averaged_test_metrics}
    file = Path(path)
    file.write_text(json.dumps(data), encoding="utf-8")
    return file


def read_result(path: str | Path) -> FederationResult:
    """A :class:`FederationResult` written by :func:`write_result`."""
    import json

    data = json.loads(Path(path).read_text(encoding="utf-8"))
    for key in ("parameters", "best_parameters", "averaged_parameters"):
        if data.get(key) is not None:
            data[key] = np.asarray(data[key], dtype=np.float32)
    return FederationResult.model_validate(data)
