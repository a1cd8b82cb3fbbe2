"""Bad input to the federation's Python API is refused where it enters, with a fedcrm error
that names the argument, never trained on or reported as a number."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from fedcrm.annotate.strategies import Impact
from fedcrm.errors import ConfigError, MappingError
from fedcrm.federation import (
    Coordinator,
    FedAvg,
    FedProx,
    Participant,
    TrainingConfig,
    key_ceremony,
    read_round_log,
)
from fedcrm.federation.coordinator import FederationResult
from fedcrm.federation.experiment import prepare_task
from fedcrm.matching.proposal import MappingProposal, OrgMapping
from fedcrm.ontology import load_ontology
from fedcrm.privacy.budget import MAX_EPSILON, validate_budget

from .helpers import logistic_org

CONFIG = TrainingConfig(rounds=1, local_epochs=1, seed=0)


def _named(data, names: list[str]):  # type: ignore[no-untyped-def]
    return dataclasses.replace(data, feature_names=names)


def test_participants_whose_columns_are_in_another_order_are_refused() -> None:
    names = [f"f{i}" for i in range(10)]
    a = Participant("a", _named(logistic_org(200, 0.0, 1), names), config=CONFIG)
    b = Participant("b", _named(logistic_org(200, 0.3, 2), names[::-1]), config=CONFIG)
    with pytest.raises(ConfigError, match="name their feature columns differently .column 0: "
                                          "'f0' vs 'f9'"):
        Coordinator([a, b], FedAvg(), CONFIG)
    same = Participant("b", _named(logistic_org(200, 0.3, 2), names), config=CONFIG)
    Coordinator([a, same], FedAvg(), CONFIG)  # the same order is fine
    with pytest.raises(ConfigError, match="3 feature names for 10 feature columns"):
        _named(logistic_org(200, 0.0, 1), names[:3])
    as_array = _named(logistic_org(200, 0.0, 1), np.array(names))  # type: ignore[arg-type]
    assert as_array.feature_names == names


def test_participant_data_reads_lists_and_column_labels_and_refuses_text() -> None:
    data = logistic_org(100, 0.0, 1)
    as_lists = dataclasses.replace(data, train_x=data.train_x.tolist(),
                                   train_y=data.train_y[:, None])
    assert as_lists.train_x.shape == data.train_x.shape and as_lists.train_y.ndim == 1
    assert as_lists.train_x.dtype == np.float32
    kept = dataclasses.replace(data)
    assert kept.train_x is data.train_x  # a numeric array is not copied
    with pytest.raises(ConfigError, match="must be numbers"):
        dataclasses.replace(data, train_x=np.full(data.train_x.shape, "x", dtype=object))
    with pytest.raises(ConfigError, match="participant id is a non-empty string"):
        Participant(7, data, config=CONFIG)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="data must be a ParticipantData"):
        Participant("a", data.train_x, config=CONFIG)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="quality multiplier must be a number"):
        Participant("a", data, config=CONFIG, quality_multiplier="1")  # type: ignore[arg-type]


def test_non_finite_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="finite number mu > 0"):
        FedProx(mu=float("nan"))
    assert FedProx(mu=np.float32(0.5)).mu == pytest.approx(0.5)  # numpy numbers are numbers
    with pytest.raises(ConfigError, match="impact weights must be finite"):
        Impact({"account.industry": True})  # type: ignore[dict-item]
    for setting in ("learning_rate", "prox_mu", "weight_decay"):
        with pytest.raises(ValueError, match=setting):
            TrainingConfig(**{setting: float("inf")})
    with pytest.raises(ConfigError, match="default must be a finite number"):
        Impact({}, default=float("nan"))
    with pytest.raises(ConfigError, match="none_weight must be a finite number"):
        Impact({}, none_weight=-5)
    with pytest.raises(ConfigError, match="promises nothing"):
        validate_budget(MAX_EPSILON * 10, 1e-5, 1000, participant_id="a")
    validate_budget(MAX_EPSILON, 1e-5, 1000, participant_id="a")


def test_a_string_is_not_taken_for_a_list_of_ids() -> None:
    with pytest.raises(ConfigError, match="not the string 'abc'; write \\['abc'\\]"):
        key_ceremony("abc", key_bits=512, allow_insecure_bits=True)


def test_a_mean_auc_without_any_scored_org_is_none_not_nan() -> None:
    result = FederationResult(parameters=np.zeros(3, dtype=np.float32),
                              best_parameters=np.zeros(3, dtype=np.float32),
                              averaged_parameters=np.zeros(3, dtype=np.float32),
                              history=[], test_metrics={"a": {"auc": None}},
                              averaged_test_metrics={})
    assert result.mean_test_auc is None and result.averaged_mean_test_auc is None


def test_runs_sharing_a_log_are_told_apart(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "rounds.jsonl"  # a missing folder is created
    data = logistic_org(200, 0.0, 1)
    runs = []
    for _ in range(2):
        coordinator = Coordinator([Participant("a", data, config=CONFIG)], FedAvg(), CONFIG,
                                  log_path=log)
        coordinator.run(progress=False)
        runs.append(coordinator.run_id)
    assert runs[0] != runs[1]
    with pytest.raises(ConfigError, match="holds the rounds of 2 coordinator runs"):
        read_round_log(log)
    assert [r.run for r in read_round_log(log, run=runs[1])] == [runs[1]]
    with pytest.raises(ConfigError, match="has no rounds of run 'typo'"):
        read_round_log(log, run="typo")
    old = tmp_path / "old.jsonl"  # written before run ids: run=None selects its rounds
    old.write_text("".join(r.model_copy(update={"run": None}).model_dump_json() + "\n"
                           for r in read_round_log(log, run=runs[0])))
    old.write_text(old.read_text() + log.read_text().splitlines()[-1] + "\n")
    assert [r.run for r in read_round_log(old, run=None)] == [None]
    with pytest.raises(ConfigError, match="is a folder"):
        Coordinator([Participant("a", data, config=CONFIG)], FedAvg(), CONFIG, log_path=tmp_path)
    if Path("/proc/self").is_dir():  # nothing can be created there, not even by root
        with pytest.raises(ConfigError, match=r"log_path /proc/rounds\.jsonl cannot be written"):
            Coordinator([Participant("a", data, config=CONFIG)], FedAvg(), CONFIG,
                        log_path="/proc/rounds.jsonl")
    log.write_text(json.dumps({"round": "x"}) + "\n")
    with pytest.raises(ConfigError, match="line 1: not a round record"):
        read_round_log(log)
    log.write_text("[" * 100_000 + "\n")  # a RecursionError escaped
    with pytest.raises(ConfigError, match="line 1: not a round record .JSON nested too deeply"):
        read_round_log(log)
    with pytest.raises(ConfigError, match="cannot read the round log"):
        read_round_log(tmp_path / "missing.jsonl")


def test_prepare_task_refuses_duplicate_unmapped_and_unknown_input() -> None:
    from fedcrm.federation.experiment import OrgInput
    from fedcrm.schema.models import OrgSchema, SourceFormat

    schema = OrgSchema(org_id="acme", source_format=SourceFormat.DESCRIBE, objects=())
    acme = OrgInput("acme", schema, {})
    mapping = MappingProposal(ontology_version="1", matcher_version="t",
                              orgs=[OrgMapping(org="acme", fields=[])])
    ontology = load_ontology()
    with pytest.raises(ConfigError, match="unknown task 'lead_conv'; choose from churn"):
        prepare_task("lead_conv", [acme], mapping, ontology, "2025-06-30")
    with pytest.raises(ConfigError, match=r"org id\(s\) \['acme'\] are given more than once"):
        prepare_task("churn", [acme, acme], mapping, ontology, "2025-06-30")
    other = OrgInput("Acme", schema.with_org_id("Acme"), {})
    with pytest.raises(ConfigError, match=r"org\(s\) \['Acme'\] have no mapping"):
        prepare_task("churn", [other], mapping, ontology, "2025-06-30")
    with pytest.raises(ConfigError, match="non-empty list of OrgInput"):
        prepare_task("churn", [], mapping, ontology, "2025-06-30")
    with pytest.raises(MappingError, match="no org 'nope' in this mapping"):
        mapping.org("nope")
    with pytest.raises(KeyError):  # as before, for code that caught KeyError
        mapping.org("nope")
