from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fedcrm import ConfigError
from fedcrm.features import build_feature_space, build_task_matrix, canonicalize
from fedcrm.features.leakage import LeakageScreen, screen_leakage
from fedcrm.federation import TrainingConfig
from fedcrm.federation.experiment import OrgInput, left_out_for_leakage, prepare_task, run_task
from fedcrm.matching.proposal import FieldMapping, MappingProposal, OrgMapping
from fedcrm.schema.models import DataKind, FieldMeta
from fedcrm.synth import Federation


def _labels(n_pos: int, n_neg: int) -> np.ndarray:
    return np.r_[np.ones(n_pos), np.zeros(n_neg)]


def test_a_field_set_only_on_part_of_one_class_is_flagged() -> None:
    rng = np.random.default_rng(0)
    y = _labels(200, 800)
    exit_survey = (y == 1) & (rng.random(len(y)) < 0.6)  # only on churned accounts
    loss_reason = (y == 0) & (rng.random(len(y)) < 0.3)  # only on lost deals
    noise = rng.normal(size=len(y))
    findings = screen_leakage(np.c_[exit_survey, loss_reason, noise], y,
                              ["exit", "loss", "noise"])
    assert findings is not None
    by_column = {f.column: f for f in findings}
    assert set(by_column) == {"exit", "loss"}
    exit_finding = by_column["exit"]
    assert (exit_finding.outcome, exit_finding.side) == (1, "high")
    assert exit_finding.share == pytest.approx(exit_survey.sum() / 200, abs=1e-4)
    assert exit_finding.other_share == 0.0
    assert exit_finding.n_records == exit_survey.sum()
    assert (by_column["loss"].outcome, by_column["loss"].side) == (0, "high")


def test_a_numeric_threshold_region_is_found_from_either_side() -> None:
    y = _labels(100, 400)
    # renewals: never 0 on a retained account, often 0 on a churned one
    renewals = np.r_[np.repeat([0.0, 1.0, 2.0, 4.0], 25), np.repeat([1.0, 2.0, 3.0, 4.0], 100)]
    findings = screen_leakage(renewals[:, None], y, ["renewals"])
    assert findings is not None and len(findings) == 1
    assert (findings[0].outcome, findings[0].side, findings[0].share) == (1, "low", 0.25)
    findings = screen_leakage(-renewals[:, None], y, ["minus"])
    assert findings is not None and findings[0].side == "high"


def test_blank_cells_encoded_as_zero_do_not_hide_a_pure_zero() -> None:
    y = _labels(100, 400)
    renewals = np.r_[np.repeat([0.0, 1.0, 2.0, 4.0], 25), np.repeat([1.0, 2.0, 3.0, 4.0], 100)]
    blank = np.zeros(len(y), dtype=bool)
    blank[::5] = True  # a fifth of each class has no value, encoded 0 like a real zero
    encoded = np.where(blank, 0.0, renewals)
    assert screen_leakage(encoded[:, None], y, ["renewals"]) == []
    observed = ~blank[:, None]
    findings = screen_leakage(encoded[:, None], y, ["renewals"], observed=observed)
    assert findings is not None and [(f.outcome, f.side) for f in findings] == [(1, "low")]
    assert findings[0].share == pytest.approx(20 / 100)  # shares are of all churned records
    with pytest.raises(ValueError, match="observed"):
        screen_leakage(encoded[:, None], y, ["renewals"], observed=observed[:10])


def test_a_strong_but_honest_field_is_not_flagged() -> None:
    rng = np.random.default_rng(1)
    y = _labels(300, 1200)
    # a two-year contract: 30 % of retained accounts, 1.3 % of churned ones (likelihood
    # ratio 23, below the screen's 50)
    two_year = np.r_[np.arange(300) < 4, np.arange(1200) < 360].astype(float)
    tenure = rng.normal(size=len(y)) + 1.0 * (y == 0)
    assert screen_leakage(np.c_[two_year, tenure], y, ["two_year", "tenure"]) == []
    # the same field with a ratio above 50 is flagged
    stronger = np.r_[np.arange(300) < 1, np.arange(1200) < 360].astype(float)
    assert [f.column for f in screen_leakage(stronger[:, None], y, ["x"]) or []] == ["x"]


def test_small_splits_are_not_screened_and_small_classes_not_judged() -> None:
    y = _labels(10, 30)
    assert screen_leakage(np.c_[y], y, ["label_copy"]) is None
    # 25 positives: a region of positives may be judged (60 negatives to compare with), a
    # region of negatives not (15 positives are too few to say "almost none")
    y = _labels(25, 60)
    findings = screen_leakage(np.c_[y], y, ["label_copy"], LeakageScreen(min_records=5))
    assert findings is not None and {(f.outcome, f.side) for f in findings} == {(1, "high")}
    with pytest.raises(ValueError, match="names"):
        screen_leakage(np.zeros((4, 2)), np.zeros(4), ["one"])


def _with_exit_survey(federation: Federation, mapping: MappingProposal, churned_share: float
                      ) -> tuple[list[OrgInput], MappingProposal]:
    """The federation with a custom ``Exit_Survey__c`` checkbox on Account in every org, set
    on ``churned_share`` of the churned accounts only (a field filled after the outcome)."""
    rng = np.random.default_rng(7)
    inputs, orgs = [], []
    for org in federation.orgs:
        churned = org.latent["Account"]["account.churned"].to_numpy(dtype=bool)
        tables = dict(org.tables)
        tables["Account"] = org.tables["Account"].assign(
            Exit_Survey__c=np.where(churned & (rng.random(len(churned)) < churned_share),
                                    "true", "false"))
        field = FieldMeta(api_name="Exit_Survey__c", label="Exit survey sent",
                          kind=DataKind.BOOLEAN)
        objects = tuple(o.model_copy(update={"fields": (*o.fields, field)})
                        if o.api_name == "Account" else o for o in org.schema.objects)
        inputs.append(OrgInput(org.org_id, org.schema.model_copy(update={"objects": objects}),
                               tables))
        own = mapping.org(org.org_id)
        orgs.append(OrgMapping(org=org.org_id, fields=[*own.fields, FieldMapping(
            object="Account", field="Exit_Survey__c", concept=None, confidence=1.0,
            block="custom:account.exit_survey")]))
    return inputs, mapping.model_copy(update={"orgs": orgs})


def test_prepare_task_leaves_a_leaky_source_out_of_every_org(federation, mapping, ontology,
                                                             reference) -> None:
    inputs, planted = _with_exit_survey(federation, mapping, 0.7)
    schemas = {i.org_id: i.schema for i in inputs}
    full = build_feature_space("churn", ontology, planted, schemas)
    assert "custom:account.exit_survey" in {s.name for s in full.sources}

    prepared = prepare_task("churn", inputs, planted, ontology, reference)
    flagged_by = prepared.leakage["custom:account.exit_survey"]
    screened = [m.org_id for m in prepared.matrices if m.report.leakage is not None]
    assert flagged_by and set(flagged_by) <= set(screened)
    assert "custom:account.exit_survey" not in {s.name for s in prepared.space.sources}
    assert prepared.space.n_features == full.n_features - 2  # value and #missing columns
    for matrix in prepared.matrices:
        assert matrix.space == prepared.space
        assert matrix.x.shape == (len(matrix.y), prepared.space.n_features)
    result = run_task(prepared, TrainingConfig(rounds=1, local_epochs=1),
                      methods=("local",), progress=False)
    assert result.leakage == prepared.leakage
    assert result.left_out == ["custom:account.exit_survey"]
    # fedcrm demo --backend flower reports them too (its baselines need no Flower run)
    from fedcrm.federation.backends.task import run_task_flower

    on_flower = run_task_flower(prepared, TrainingConfig(rounds=1, local_epochs=1),
                                methods=("local",))
    assert (on_flower.leakage, on_flower.left_out) == (result.leakage, result.left_out)

    assert prepared.left_out == ["custom:account.exit_survey"]
    kept = prepare_task("churn", inputs, planted, ontology, reference, drop_leakage="none")
    assert kept.space == full and kept.leakage == prepared.leakage and kept.left_out == []
    # the columns it left out are the ones the kept matrix has beyond the restricted one
    names = full.feature_names
    keep = [names.index(n) for n in prepared.space.feature_names]
    for restricted, whole in zip(prepared.matrices, kept.matrices, strict=True):
        np.testing.assert_array_equal(restricted.x, whole.x[:, keep])
        # the report names only the sources the restricted matrix still has
        assert "custom:account.exit_survey" not in restricted.report.sources_present
        assert "custom:account.exit_survey" not in restricted.report.sources_missing
        dropped = {"custom:account.exit_survey"}
        assert set(restricted.report.sources_present) == (
            set(whole.report.sources_present) - dropped)
    # the quality weight counts only the sources the model sees: as if built without them
    org = next(i for i in inputs if i.org_id == prepared.matrices[0].org_id)
    direct = build_task_matrix(
        canonicalize(org.org_id, org.tables, org.schema, planted.org(org.org_id), ontology),
        prepared.space, reference)
    restricted = prepared.matrices[0].report
    assert restricted.quality == direct.report.quality
    assert restricted.quality_multiplier == direct.report.quality_multiplier
    assert restricted.quality != kept.matrices[0].report.quality
    assert any("custom:account.exit_survey" in whole.report.sources_present
               for whole in kept.matrices)


def test_an_honest_federation_loses_no_source(federation, mapping, ontology, reference
                                              ) -> None:
    inputs = [OrgInput(o.org_id, o.schema, o.tables) for o in federation.orgs]
    for task in ("churn", "lead_conversion", "win_probability"):
        prepared = prepare_task(task, inputs, mapping, ontology, pd.Timestamp(reference))
        assert prepared.leakage == {}, task


def test_a_flagged_ontology_feature_is_kept_as_a_warning_unless_asked(
        federation, mapping, ontology, reference) -> None:
    # an absurd revenue on 80 % of the churned accounts only: the screen flags
    # account.annual_revenue, which the ontology declares a feature
    rng = np.random.default_rng(3)
    inputs = []
    for org in federation.orgs:
        field = next(f.field for f in mapping.org(org.org_id).fields
                     if f.concept == "account.annual_revenue")
        churned = org.latent["Account"]["account.churned"].to_numpy(dtype=bool)
        table = org.tables["Account"].copy()
        table[field] = table[field].where(~(churned & (rng.random(len(churned)) < 0.8)),
                                          10**12)
        inputs.append(OrgInput(org.org_id, org.schema, {**org.tables, "Account": table}))
    default = prepare_task("churn", inputs, mapping, ontology, reference)
    assert "account.annual_revenue" in default.leakage
    assert "account.annual_revenue" not in default.left_out
    assert "account.annual_revenue" in {s.name for s in default.space.sources}
    strict = prepare_task("churn", inputs, mapping, ontology, reference, drop_leakage="all")
    assert "account.annual_revenue" in strict.left_out
    assert "account.annual_revenue" not in {s.name for s in strict.space.sources}
    with pytest.raises(ConfigError, match="drop_leakage"):
        prepare_task("churn", inputs, mapping, ontology, reference,
                     drop_leakage="yes")  # type: ignore[arg-type]


def test_the_default_policy_leaves_out_flagged_custom_blocks_and_roll_ups() -> None:
    # a flagged roll-up (won renewals with a blank type counted as wins) was kept: it is
    # neither a custom block nor an ontology feature the ontology vouches for
    flagged = ["account.contract_term", "custom:account.exit_survey", "rollup:won_deals_365d"]
    assert left_out_for_leakage(flagged, "custom") == ["custom:account.exit_survey",
                                                       "rollup:won_deals_365d"]
    assert left_out_for_leakage(flagged, "all") == sorted(flagged)
    assert left_out_for_leakage(flagged, "none") == []
