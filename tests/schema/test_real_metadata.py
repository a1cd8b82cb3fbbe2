"""Every real org in ../shared loads with no field dropped, checked field by field."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedcrm import load_schema
from fedcrm.schema import DataKind, SourceFormat, kind_from_metadata_type
from tests.schema._xml_truth import mdapi_truth, object_names, sfdx_truth

ORGS = ["coral-cloud", "easy-spaces", "ebikes", "eda", "npsp", "pmm", "volunteers"]


@pytest.mark.parametrize("org_name", ORGS)
def test_every_field_loaded_as_declared(real_orgs_dir: Path, org_name: str) -> None:
    org_dir = real_orgs_dir / org_name
    schema = load_schema(org_dir)
    mdapi = schema.source_format is SourceFormat.MDAPI
    truth = mdapi_truth(org_dir) if mdapi else sfdx_truth(org_dir)
    assert schema.org_id == org_name
    assert not [w for w in schema.warnings if w.skipped], "strict load must skip nothing"
    loaded = {(o.api_name, f.api_name): f for o, f in schema.iter_fields()}
    assert set(loaded) == set(truth), "fields dropped or invented"
    for key, (type_name, label) in truth.items():
        field = loaded[key]
        expected_kind = kind_from_metadata_type(type_name) if type_name else DataKind.UNKNOWN
        if type_name and type_name.strip().lower() == "autonumber":
            expected_kind = DataKind.AUTO_NUMBER
        operation = (field.summary_operation or "").lower()
        if field.is_rollup_summary and operation in ("sum", "min", "max"):
            # a roll-up has the kind of what it computes: the summarised child field's
            child, _, name = (field.summarized_field or "").partition(".")
            source = loaded.get((child, name)) or next(
                (f for (o, n), f in loaded.items()
                 if o.lower() == child.lower() and n.lower() == name.lower()), None)
            wanted = ("numeric",) if operation == "sum" else ("numeric", "temporal")
            if source is not None and source.kind.family in wanted:
                expected_kind = source.kind
        assert field.kind is expected_kind, key
        assert field.label == label, key
    assert {o.api_name for o in schema.objects} == object_names(org_dir, mdapi)


def test_formats_detected(real_orgs_dir: Path) -> None:
    assert load_schema(real_orgs_dir / "volunteers").source_format is SourceFormat.MDAPI
    assert load_schema(real_orgs_dir / "npsp").source_format is SourceFormat.SFDX


def test_rich_attributes_survive(real_orgs_dir: Path) -> None:
    npsp = load_schema(real_orgs_dir / "npsp")
    deceased = npsp["Account"]["All_Members_Deceased__c"]
    assert deceased.kind is DataKind.BOOLEAN
    assert deceased.description and "household" in deceased.description
    assert deceased.help_text and deceased.default_value == "false"
    # a global value set is recorded by name, not silently dropped
    ach = npsp["npe01__OppPayment__c"]["ACH_Code__c"]
    assert ach.value_set_name == "Payment_ACH_Code"
    assert ach.namespace is None and npsp["npe01__OppPayment__c"].is_custom
    lookups = [f for _, f in npsp.iter_fields() if f.kind is DataKind.REFERENCE]
    assert lookups and all(f.reference_to for f in lookups if f.source_type == "MasterDetail")
    picklists = [f for _, f in npsp.iter_fields() if f.picklist_values]
    assert len(picklists) > 20
    formulas = [f for _, f in npsp.iter_fields() if f.is_formula]
    assert formulas and all(f.formula for f in formulas)
    summaries = [f for _, f in npsp.iter_fields() if f.is_rollup_summary]
    assert summaries and all(f.summary_operation for f in summaries)


def test_legacy_picklist_layout_in_mdapi(real_orgs_dir: Path) -> None:
    volunteers = load_schema(real_orgs_dir / "volunteers")
    picklists = [f for _, f in volunteers.iter_fields() if f.kind is DataKind.PICKLIST]
    assert picklists
    assert sum(bool(f.picklist_values) for f in picklists) >= len(picklists) // 2
