"""run_task with its trainings side by side in worker processes."""

from __future__ import annotations

import numpy as np
import pytest

from fedcrm import ConfigError
from fedcrm.federation import TrainingConfig
from fedcrm.federation.experiment import OrgInput, prepare_task, run_task

CONFIG = TrainingConfig(rounds=2, local_epochs=1, seed=4)


def test_methods_trained_side_by_side_give_the_models_trained_one_at_a_time(
        federation, mapping, ontology, reference) -> None:
    orgs = [OrgInput(o.org_id, o.schema, o.tables) for o in federation.orgs]
    prepared = prepare_task("lead_conversion", orgs, mapping, ontology, reference)
    alone = run_task(prepared, CONFIG, progress=False)
    beside = run_task(prepared, CONFIG, progress=False, workers=2)
    assert list(beside.mean) == ["local", "fedavg", "quality_weighted", "centralised"]
    assert beside.mean == alone.mean
    for one, other in zip(alone.orgs, beside.orgs, strict=True):
        assert one.org == other.org and one.metrics == other.metrics
    assert set(beside.seconds_per_round) == {"fedavg", "quality_weighted"}
    assert all(np.isfinite(v) and v > 0 for v in beside.seconds_per_round.values())


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2"])
def test_workers_must_be_a_whole_number_from_one(federation, mapping, ontology, reference,
                                                 workers) -> None:
    orgs = [OrgInput(o.org_id, o.schema, o.tables) for o in federation.orgs]
    prepared = prepare_task("lead_conversion", orgs, mapping, ontology, reference)
    with pytest.raises(ConfigError, match="workers must be a whole number"):
        run_task(prepared, CONFIG, progress=False, workers=workers)


def test_methods_given_as_one_string_are_refused_with_the_fix(federation, mapping, ontology,
                                                              reference) -> None:
    # iterated, "fedavg" gave "unknown method(s) ['a', 'd', 'e', 'f', 'g', 'v']"
    orgs = [OrgInput(o.org_id, o.schema, o.tables) for o in federation.orgs]
    prepared = prepare_task("lead_conversion", orgs, mapping, ontology, reference)
    with pytest.raises(ConfigError, match=r"not the string 'fedavg'; write \['fedavg'\]"):
        run_task(prepared, CONFIG, progress=False, methods="fedavg")


def test_an_orgs_currency_and_the_rates_reach_its_features(federation, mapping, ontology,
                                                          reference) -> None:
    # prepare_task could pass neither: amounts without a currency were always USD
    orgs = [OrgInput(o.org_id, o.schema, o.tables) for o in federation.orgs]
    plain = prepare_task("lead_conversion", orgs, mapping, ontology, reference)
    first = orgs[0].org_id
    orgs[0] = OrgInput(first, orgs[0].schema, orgs[0].tables, default_currency="eur")
    in_euros = prepare_task("lead_conversion", orgs, mapping, ontology, reference)
    rated = prepare_task("lead_conversion", orgs, mapping, ontology, reference,
                         currency_rates={"EUR": 2.0})
    changed = {m.org_id for m, n in zip(plain.matrices, in_euros.matrices, strict=True)
               if not np.array_equal(m.x, n.x, equal_nan=True)}
    assert changed == {first}  # only the org whose currency was given
    assert not np.array_equal(in_euros.matrices[0].x, rated.matrices[0].x, equal_nan=True)


@pytest.mark.parametrize(("options", "org_currency", "expected"), [
    ({}, "XYZ", r"org org01_isarwerk: default_currency 'XYZ' is not a currency code"),
    ({"currency_rates": {"BRL": -1.0}}, None, r"currency_rates\['BRL'\] is -1.0"),
])
def test_bad_currency_options_are_refused_before_any_org(federation, mapping, ontology, reference,
                                                         options, org_currency, expected) -> None:
    orgs = [OrgInput(o.org_id, o.schema, o.tables) for o in federation.orgs]
    orgs[0] = OrgInput(orgs[0].org_id, orgs[0].schema, orgs[0].tables,
                       default_currency=org_currency)
    with pytest.raises(ConfigError, match=expected):
        prepare_task("lead_conversion", orgs, mapping, ontology, reference, **options)
