from __future__ import annotations

from pathlib import Path

import pytest

from fedcrm import SchemaError, load_schema
from fedcrm.schema import DataKind, SourceFormat
from tests.schema._builders import (
    global_value_set_xml,
    mdapi_field,
    value_set_field_extra,
    write_mdapi_object,
)


def test_loads_object_files(tmp_path: Path) -> None:
    write_mdapi_object(
        tmp_path, "Account",
        mdapi_field("Tier__c", "Picklist", extra="<picklist><picklistValues><fullName>Gold"
                    "</fullName><default>false</default></picklistValues></picklist>")
        + mdapi_field("Rev__c", "Currency", "Revenue"),
    )
    schema = load_schema(tmp_path, org_id="org1")
    assert schema.source_format is SourceFormat.MDAPI
    account = schema["Account"]
    assert account["Tier__c"].picklist_values[0].value == "Gold"
    assert account["Rev__c"].kind is DataKind.CURRENCY and account["Rev__c"].label == "Revenue"


def test_single_object_file(tmp_path: Path) -> None:
    path = write_mdapi_object(tmp_path, "Lead", mdapi_field("Score__c", "Number"))
    schema = load_schema(path)
    assert schema.org_id == "Lead" and schema["Lead"]["Score__c"].kind is DataKind.NUMBER


def test_duplicate_field_in_one_file(tmp_path: Path) -> None:
    write_mdapi_object(tmp_path, "Account", mdapi_field("A__c") + mdapi_field("A__c"))
    with pytest.raises(SchemaError, match="defined twice") as info:
        load_schema(tmp_path)
    assert info.value.field == "A__c" and info.value.path and info.value.path.endswith(
        "Account.object")


def test_unknown_type_and_lenient(tmp_path: Path) -> None:
    write_mdapi_object(tmp_path, "Account", mdapi_field("A__c", "Warp") + mdapi_field("B__c"))
    with pytest.raises(SchemaError, match="unknown field type 'Warp'"):
        load_schema(tmp_path)
    schema = load_schema(tmp_path, strict=False)
    assert [f.api_name for _, f in schema.iter_fields()] == ["B__c"]
    assert schema.warnings[0].field == "A__c"


def test_missing_full_name(tmp_path: Path) -> None:
    write_mdapi_object(tmp_path, "Account", "<fields><label>x</label><type>Text</type></fields>")
    with pytest.raises(SchemaError, match="no <fullName>"):
        load_schema(tmp_path)


def test_wrong_root_element(tmp_path: Path) -> None:
    folder = tmp_path / "objects"
    folder.mkdir()
    (folder / "Account.object").write_text("<Workflow></Workflow>")
    with pytest.raises(SchemaError, match="expected a <CustomObject> document"):
        load_schema(tmp_path)


def test_picklist_takes_its_global_value_sets_values(tmp_path: Path) -> None:
    write_mdapi_object(tmp_path, "Account", mdapi_field(
        "Region__c", "Picklist", extra=value_set_field_extra("Sales_Region")))
    (tmp_path / "globalValueSets").mkdir()
    (tmp_path / "globalValueSets" / "Sales_Region.globalValueSet").write_text(
        global_value_set_xml(["EMEA", "APAC"]))
    for source in (tmp_path, tmp_path / "objects"):
        region = load_schema(source)["Account"].field("Region__c")
        assert [v.value for v in region.picklist_values] == ["EMEA", "APAC"]
