"""The exported folders run through the pipeline unchanged: features under the ground-truth
mapping for every dataset, and the whole demo (matcher → features → federated training) on one
slice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from fedcrm import load_schema
from fedcrm.datasets import RealFederation, truth_mapping
from fedcrm.demo import run_demo
from fedcrm.errors import FeatureError
from fedcrm.features import read_records
from fedcrm.federation.config import TrainingConfig
from fedcrm.federation.experiment import OrgInput, prepare_task
from fedcrm.ontology import load_ontology

#: concepts each dataset's task must find in its feature space under the true mapping
EXPECTED_SOURCES = {
    "telco-churn": {"account.tenure_months", "account.contract_term", "account.mrr",
                    "account.lifetime_value", "custom:account.online_security"},
    "bank-churn": {"account.tenure_months", "account.number_of_products", "custom:account.age",
                   "custom:account.balance", "custom:account.active_member"},
    "lead-scoring": {"lead.lead_source", "lead.website_visits", "lead.has_opted_out_of_email",
                     "custom:lead.time_on_website"},
    "sales-pipeline": {"opportunity.amount", "account.industry", "account.annual_revenue",
                       "account.number_of_employees", "custom:opportunity.product"},
}
#: label concepts that must never become features
OUTCOMES = {"account.churned", "lead.is_converted", "opportunity.stage", "opportunity.is_won",
            "opportunity.is_closed", "opportunity.close_date", "opportunity.expected_revenue"}


def _inputs(folder: Path) -> list[OrgInput]:
    orgs = sorted(p for p in folder.iterdir() if (p / "metadata").is_dir())
    return [OrgInput(o.name, load_schema(o / "metadata", org_id=o.name),
                     read_records(o / "records")) for o in orgs]


@pytest.mark.parametrize("name", sorted(EXPECTED_SOURCES))
def test_every_org_builds_its_task_matrix_under_the_true_mapping(
        name: str, written: dict[str, Path], slices: dict[str, RealFederation]) -> None:
    folder = written[name]
    reference = json.loads((folder / "federation.json").read_text())["reference_date"]
    federation = slices[name]
    prepared = prepare_task(federation.definition.task, _inputs(folder), truth_mapping(folder),
                            load_ontology(), pd.Timestamp(reference))
    assert prepared.skipped == {}
    sources = {source.name for source in prepared.space.sources}
    assert EXPECTED_SOURCES[name] <= sources
    assert not sources & OUTCOMES
    for matrix in prepared.matrices:
        counts = federation.outcome_counts(federation.org(matrix.org_id))
        assert matrix.report.n_labelled == counts.labelled
        assert matrix.report.positive_rate == pytest.approx(counts.positive_rate)


@pytest.mark.usefixtures("one_torch_thread")
def test_run_demo_completes_on_a_real_slice(written: dict[str, Path],
                                            slices: dict[str, RealFederation]) -> None:
    folder = written["sales-pipeline"]
    # no task given: the one the export was written for (its manifest names it)
    result = run_demo(data=folder, progress=False, config=TrainingConfig(rounds=2, local_epochs=1))
    assert list(result.tasks) == ["win_probability"] and result.skipped_tasks == {}
    assert result.orgs == sorted(org.org_id for org in slices["sales-pipeline"].orgs)
    task = result.tasks["win_probability"]
    assert {score.org for score in task.orgs} == set(result.orgs)
    assert set(task.mean) == {"local", "fedavg", "quality_weighted", "centralised"}
    assert all(value is None or 0.0 <= value <= 1.0 for value in task.mean.values())
    assert task.mean_spearman  # win probability reports Spearman too
    # the matcher was scored against the exported ground truth
    assert result.matching.concept_precision is not None
    assert result.matching.n_fields == sum(org.schema.n_fields
                                           for org in slices["sales-pipeline"].orgs)


@pytest.mark.usefixtures("one_torch_thread")
def test_default_tasks_no_org_can_take_part_in_are_skipped_not_fatal(
        written: dict[str, Path], tmp_path: Path) -> None:
    """Without the manifest's task, every task is tried: the ones this deal data cannot
    label are skipped with the reason, and the one it can is trained and kept."""
    folder = tmp_path / "no-task"
    shutil.copytree(written["sales-pipeline"], folder)
    manifest = json.loads((folder / "federation.json").read_text())
    del manifest["task"]
    (folder / "federation.json").write_text(json.dumps(manifest))
    result = run_demo(data=folder, progress=False, config=TrainingConfig(rounds=2, local_epochs=1))
    assert list(result.tasks) == ["win_probability"]
    assert set(result.skipped_tasks) == {"churn", "lead_conversion"}
    assert all("no org can take part" in why for why in result.skipped_tasks.values())
    # a task asked for by name is an error, raised before any task trains
    with pytest.raises(FeatureError, match="^lead_conversion: no org can take part"):
        run_demo(data=folder, tasks=["win_probability", "lead_conversion"], progress=False,
                 config=TrainingConfig(rounds=2, local_epochs=1))


def test_truth_mapping_of_a_folder_that_is_none_names_it(tmp_path: Path) -> None:
    from fedcrm.errors import MappingError

    a_file = tmp_path / "federation.json"
    a_file.write_text("{}")
    for given, what in ((tmp_path / "missing", "does not exist"), (a_file, "is a file")):
        with pytest.raises(MappingError, match=f"{what}; give the folder `fedcrm synth --out`"):
            truth_mapping(given)
