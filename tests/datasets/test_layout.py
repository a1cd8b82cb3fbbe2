"""What the loaders write: orgs split by the natural key, every field labelled once, metadata
that loads strictly, records that fit the metadata, and the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from fedcrm import load_schema
from fedcrm.datasets import LOADERS, DatasetManifest, RealFederation, definitions
from fedcrm.matching.corpus import check_labels, read_labels
from fedcrm.ontology import load_ontology
from fedcrm.schema.models import OrgSchema
from fedcrm.synth.fake import KEY_PREFIXES
from tests.datasets.conftest import NAMES, SLICE_ROWS, read_org_records, read_source

#: dataset → (source file, the split key's column in it, {org id: key values}) for counting
#: the natural split straight from the CSV, independently of the loaders
_SPLIT_FILES = {
    "telco-churn": ("telco_customer_churn.csv", "PaymentMethod"),
    "bank-churn": ("churn_modelling.csv", "Geography"),
    "lead-scoring": ("leads.csv", "Lead Origin"),
}


def _without_sources(schema: OrgSchema) -> dict:
    data = schema.model_dump()
    data["source"] = None
    for sobject in data["objects"]:
        sobject["source"] = None
        for field in sobject["fields"]:
            field["source"] = None
    return data


@pytest.mark.parametrize("name", NAMES)
def test_full_dataset_splits_by_the_natural_key(crm_root: Path, name: str) -> None:
    federation = LOADERS[name](crm_root)
    definition = federation.definition
    if name in _SPLIT_FILES:
        file, key = _SPLIT_FILES[name]
        counts = read_source(crm_root, definition.folder, file)[key].value_counts()
    else:  # deals per regional office of their agent
        deals = read_source(crm_root, "sales-pipeline", "sales_pipeline.csv")
        teams = read_source(crm_root, "sales-pipeline", "sales_teams.csv")
        counts = deals.merge(teams, on="sales_agent")["regional_office"].value_counts()
    task_object = definition.task_object
    for org in federation.orgs:
        expected = int(sum(counts[value] for value in org.spec.keys))
        assert org.records[task_object] == expected
        assert set(org.source_rows[task_object][definition.split_key]) == set(org.spec.keys)
    assert sum(o.records[task_object] for o in federation.orgs) == int(counts.sum())


def test_bank_split_keeps_the_country_imbalance(crm_root: Path) -> None:
    federation = LOADERS["bank-churn"](crm_root)
    sizes = {org.org_id: org.records["Account"] for org in federation.orgs}
    assert sizes == {"bank_france": 5014, "bank_germany": 2509, "bank_spain": 2477}
    rates = {org.org_id: federation.outcome_counts(org).positive_rate
             for org in federation.orgs}
    assert rates["bank_germany"] > 1.9 * rates["bank_france"]


@pytest.mark.parametrize("name", NAMES)
def test_slice_keeps_every_org_and_the_size_order(crm_root: Path, name: str,
                                                  slices: dict[str, RealFederation]) -> None:
    full = LOADERS[name](crm_root)
    sliced = slices[name]
    task_object = full.definition.task_object
    full_sizes = [o.records[task_object] for o in full.orgs]
    slice_sizes = [o.records[task_object] for o in sliced.orgs]
    assert abs(sum(slice_sizes) - SLICE_ROWS) <= len(slice_sizes)
    assert all(size >= min(25, full_size)
               for size, full_size in zip(slice_sizes, full_sizes, strict=True))
    order = sorted(range(len(full_sizes)), key=lambda i: -full_sizes[i])
    assert sorted(range(len(slice_sizes)), key=lambda i: -slice_sizes[i]) == order


@pytest.mark.parametrize("name", NAMES)
def test_every_field_is_labelled_once_with_known_concepts(
        name: str, slices: dict[str, RealFederation], written: dict[str, Path]) -> None:
    ontology = load_ontology()
    federation = slices[name]
    for annotated in federation.annotated_orgs():
        check_labels(annotated, ontology)  # every field once, known concepts only
        on_disk = read_labels(written[name] / annotated.org_id / "ground_truth.jsonl")
        assert {label.key for label in on_disk} == set(annotated.labels)
        assert all(label.concept is None or label.group is None for label in on_disk)
        for sobject, meta in annotated.schema.iter_fields():
            label = annotated.label(sobject.api_name, meta.api_name)
            if not meta.is_custom:  # a standard field means the concept it is the field of
                assert label.concept is not None
                assert ontology.concept(label.concept).standard_field == meta.api_name
    groups = {label.group for org in federation.orgs for label in org.labels if label.group}
    for group in groups:  # a group is a block shared by the orgs: every org has the field
        assert sum(any(label.group == group for label in org.labels)
                   for org in federation.orgs) == len(federation.orgs)


@pytest.mark.parametrize("name", NAMES)
def test_written_metadata_loads_strictly_and_equals_the_schema(
        name: str, slices: dict[str, RealFederation], written: dict[str, Path]) -> None:
    for org in slices[name].orgs:
        loaded = load_schema(written[name] / org.org_id / "metadata", org_id=org.org_id,
                             strict=True)
        assert loaded.warnings == ()
        assert _without_sources(loaded) == _without_sources(org.schema)


@pytest.mark.parametrize("name", NAMES)
def test_records_fit_the_metadata(name: str, slices: dict[str, RealFederation],
                                  written: dict[str, Path]) -> None:
    for org in slices[name].orgs:
        folder = written[name] / org.org_id
        files = sorted(p.stem for p in (folder / "records").glob("*.csv"))
        assert files == sorted(sobject.api_name for sobject in org.schema.objects)
        for sobject in org.schema.objects:
            records = read_org_records(folder, sobject.api_name)
            assert records.columns[0] == "Id"
            assert set(records.columns[1:]) == {f.api_name for f in sobject.fields}
            assert records["Id"].str.len().eq(18).all()
            assert records["Id"].str.startswith(KEY_PREFIXES[sobject.api_name]).all()
            assert records["Id"].is_unique
            assert len(records) == org.records[sobject.api_name]


@pytest.mark.parametrize("name", NAMES)
def test_manifest_describes_the_export(name: str, slices: dict[str, RealFederation],
                                       written: dict[str, Path]) -> None:
    document = json.loads((written[name] / "federation.json").read_text(encoding="utf-8"))
    manifest = DatasetManifest.model_validate(document)
    definition = definitions()[name]
    assert document["reference_date"] == definition.reference_date.isoformat()
    assert manifest.reference_date_reason
    assert manifest.split_key == definition.split_key
    assert manifest.max_rows == SLICE_ROWS
    assert f"fedcrm datasets export {name}" in manifest.reproduce
    for entry, org in zip(manifest.orgs, slices[name].orgs, strict=True):
        assert entry.org_id == org.org_id
        assert entry.records == org.records
        assert {(f.object, f.field) for f in entry.fields} == \
            {(s.api_name, f.api_name) for s, f in org.schema.iter_fields()}


def test_same_seed_same_files_other_seed_other_names(crm_root: Path, tmp_path: Path) -> None:
    def files(folder: Path) -> dict[str, bytes]:
        return {str(p.relative_to(folder)): p.read_bytes()
                for p in sorted(folder.rglob("*")) if p.is_file()}

    first = files(LOADERS["telco-churn"](crm_root, seed=3, max_rows=200).write(tmp_path / "a"))
    again = files(LOADERS["telco-churn"](crm_root, seed=3, max_rows=200).write(tmp_path / "b"))
    other = files(LOADERS["telco-churn"](crm_root, seed=4, max_rows=200).write(tmp_path / "c"))
    assert first == again
    assert first.keys() != other.keys()  # other field names (and another slice)


def test_orgs_name_the_same_column_differently(slices: dict[str, RealFederation]) -> None:
    for federation in slices.values():
        for column in federation.definition.columns:
            if column.standard is not None:
                continue
            names = {org.field_for(column.source, column.sobject).field.lower()
                     for org in federation.orgs}
            labels = {org.field_for(column.source, column.sobject).label
                      for org in federation.orgs}
            # rarely two orgs pick the same phrasing in the same style, never all of them
            assert len(names) > 1 or len(labels) > 1, (federation.name, column.source)


def test_rows_are_never_shared_between_orgs(slices: dict[str, RealFederation]) -> None:
    keys = {"telco-churn": "customerID", "bank-churn": "CustomerId",
            "lead-scoring": "Prospect ID", "sales-pipeline": "opportunity_id"}
    for name, federation in slices.items():
        task_object = federation.definition.task_object
        ids = pd.concat([org.source_rows[task_object][keys[name]] for org in federation.orgs])
        assert ids.is_unique
