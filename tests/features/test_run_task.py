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
