from __future__ import annotations

import json
from pathlib import Path

import pytest

from fedcrm import SchemaError, load_schema
from fedcrm.schema import DataKind, SourceFormat, load_describe
from tests.conftest import FIXTURES

DESCRIBES = FIXTURES / "describe"


def account() -> dict:
    return json.loads((DESCRIBES / "Account.json").read_text())


def test_single_object_file() -> None:
    schema = load_schema(DESCRIBES / "Account.json")
    assert schema.source_format is SourceFormat.DESCRIBE and schema.org_id == "Account"
    fields = schema["Account"]
    assert fields["Umsatz_EUR__c"].help_text == "Jahresumsatz laut letztem Geschäftsbericht"
    assert fields["Health_Notes__c"].kind is DataKind.RICH_TEXT
    assert fields["Description"].kind is DataKind.LONG_TEXTAREA
    assert fields["Days_Since_Login__c"].is_formula
    assert fields["Days_Since_Login__c"].formula == "TODAY() - DATEVALUE(Last_Login__c)"
    assert fields["Tier__c"].picklist_values[2].default
    assert fields["Name"].is_name_field and fields["Name"].required
    assert fields["ParentId"].reference_to == ("Account",)
    assert len(fields.fields) == len(account()["fields"])


def test_folder_bundle_list_and_mapping_shapes(tmp_path: Path) -> None:
    folder = load_schema(DESCRIBES)
    assert {o.api_name for o in folder.objects} >= {"Account", "Lead", "Invoice__c"}
    assert [w.skipped for w in folder.warnings] == [False]  # the global describe is noted
    objects = [account(), json.loads((DESCRIBES / "Lead.json").read_text())]
    as_list = load_describe(objects, org_id="a")
    as_bundle = load_describe({"sobjects": objects}, org_id="a")
    as_mapping = load_describe({o["name"]: o for o in objects}, org_id="a")
    # what `sf sobject describe --json` prints: the describe inside the CLI's envelope
    as_cli = load_describe({"status": 0, "result": {"sobjects": objects}, "warnings": []},
                           org_id="a")
    assert as_list == as_bundle == as_mapping == as_cli
    bundle_file = tmp_path / "org7.json"
    bundle_file.write_text(json.dumps({"sobjects": objects}))
    from_file = load_schema(bundle_file)
    assert from_file.org_id == "org7" and len(from_file.objects) == 2


def test_python_data_needs_org_id() -> None:
    with pytest.raises(SchemaError, match="org_id"):
        load_schema(account())


def test_global_describe_alone_is_explained(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="global describe"):
        load_schema(DESCRIBES / "_global_describe.json")


def test_malformed_json_names_file_and_position(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"name": "Account", "fields": [}')
    with pytest.raises(SchemaError, match="malformed JSON at line 1") as info:
        load_schema(path)
    assert info.value.path == str(path)


def test_a_describe_that_is_not_utf8_names_the_byte_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "Account.json"
    path.write_bytes('{"name": "Account",\n "label": "Société", "fields": []}'.encode("latin-1"))
    with pytest.raises(SchemaError, match=r"not UTF-8 text \(byte 0xe9 on line 2\); describe "
                                          r"JSON is UTF-8: re-save it as UTF-8"):
        load_schema(path, org_id="acme")


def test_not_a_describe(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text('{"hello": "world"}')
    with pytest.raises(SchemaError, match="not a REST describe"):
        load_schema(path)


def test_unknown_type_invalid_field_and_duplicates(tmp_path: Path) -> None:
    data = account()
    data["fields"].append({**data["fields"][-1], "name": "Weird__c", "type": "hologram"})
    with pytest.raises(SchemaError, match="unknown describe type 'hologram'") as info:
        load_describe(data, org_id="x")
    assert info.value.sobject == "Account" and info.value.field == "Weird__c"
    data["fields"][-1] = {"name": "Bad__c", "type": "double", "length": "long"}
    with pytest.raises(SchemaError, match="invalid describe field"):
        load_describe(data, org_id="x")
    data["fields"][-1] = dict(data["fields"][0])
    with pytest.raises(SchemaError, match="listed twice"):
        load_describe(data, org_id="x")
    lenient = load_describe(data, org_id="x", strict=False)
    assert len(lenient["Account"].fields) == len(account()["fields"])
    assert lenient.warnings[0].field == "Id"


def test_missing_folder_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="no such file"):
        load_describe(tmp_path / "missing.json")
    with pytest.raises(SchemaError, match=r"no \.json describe files"):
        load_describe(tmp_path)


def test_a_file_without_any_describe_is_an_error_not_an_empty_org(tmp_path: Path) -> None:
    empty = tmp_path / "org.json"
    empty.write_text("[]")
    with pytest.raises(SchemaError, match="no object describe in it") as raised:
        load_describe(empty)
    assert str(empty) in str(raised.value)
    assert load_describe(empty, strict=False).objects == ()  # lenient: an empty org
