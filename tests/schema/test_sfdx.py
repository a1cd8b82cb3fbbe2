from __future__ import annotations

from pathlib import Path

import pytest

from fedcrm import SchemaError, load_schema
from fedcrm.schema import DataKind, load_sfdx
from tests.schema._builders import custom_field_xml, write_sfdx_field


def test_loads_project_with_object_meta(tmp_path: Path) -> None:
    write_sfdx_field(tmp_path / "force-app", "Invoice__c", "Amount__c", type_="Currency",
                     extra="<precision>16</precision><scale>2</scale>")
    meta = tmp_path / "force-app" / "objects" / "Invoice__c" / "Invoice__c.object-meta.xml"
    meta.write_text(
        '<?xml version="1.0"?><CustomObject xmlns="http://soap.sforce.com/2006/04/metadata">'
        "<label>Invoice</label><pluralLabel>Invoices</pluralLabel>"
        "<nameField><label>Invoice Number</label><type>AutoNumber</type></nameField>"
        "</CustomObject>"
    )
    schema = load_schema(tmp_path, org_id="acme")
    invoice = schema["Invoice__c"]
    assert invoice.label == "Invoice" and invoice.plural_label == "Invoices"
    assert invoice["Amount__c"].kind is DataKind.CURRENCY
    assert (invoice["Amount__c"].precision, invoice["Amount__c"].scale) == (16, 2)
    assert invoice["Name"].is_name_field and invoice["Name"].kind is DataKind.AUTO_NUMBER


def test_picklist_values_and_reference(tmp_path: Path) -> None:
    picklist = (
        "<valueSet><valueSetDefinition>"
        "<value><fullName>Gold</fullName><default>true</default><label>Gold tier</label></value>"
        "<value><fullName>Silver</fullName><default>false</default><label>Silver</label>"
        "<isActive>false</isActive></value>"
        "</valueSetDefinition></valueSet>"
    )
    write_sfdx_field(tmp_path, "Account", "Tier__c", type_="Picklist", extra=picklist)
    write_sfdx_field(tmp_path, "Account", "Partner__c", type_="Lookup",
                     extra="<referenceTo>Account</referenceTo><relationshipName>Partners"
                           "</relationshipName>")
    account = load_schema(tmp_path)["Account"]
    values = account["Tier__c"].picklist_values
    assert [(v.value, v.label, v.default, v.active) for v in values] == [
        ("Gold", "Gold tier", True, True), ("Silver", "Silver", False, False),
    ]
    assert account["Partner__c"].reference_to == ("Account",)
    assert account["Partner__c"].relationship_name == "Partners"


def test_malformed_xml_names_the_file(tmp_path: Path) -> None:
    path = write_sfdx_field(tmp_path, "Account", "Broken__c", content="<CustomField><label>")
    with pytest.raises(SchemaError, match="malformed XML") as info:
        load_schema(tmp_path)
    assert info.value.path == str(path)
    assert info.value.sobject == "Account" and info.value.field == "Broken__c"


def test_unknown_type(tmp_path: Path) -> None:
    write_sfdx_field(tmp_path, "Account", "Odd__c", type_="Hologram")
    with pytest.raises(SchemaError, match="unknown field type 'Hologram'") as info:
        load_schema(tmp_path)
    assert info.value.field == "Odd__c" and info.value.sobject == "Account"


def test_missing_type_on_custom_field(tmp_path: Path) -> None:
    write_sfdx_field(tmp_path, "Account", "NoType__c", type_=None)
    with pytest.raises(SchemaError, match="no <type>"):
        load_schema(tmp_path)


def test_missing_label_on_custom_field(tmp_path: Path) -> None:
    write_sfdx_field(tmp_path, "Account", "NoLabel__c", label=None)
    with pytest.raises(SchemaError, match="no <label>"):
        load_schema(tmp_path)


def test_standard_field_without_type_is_kept_as_unknown(tmp_path: Path) -> None:
    write_sfdx_field(tmp_path, "Account", "Industry", type_=None)
    schema = load_schema(tmp_path)
    assert schema["Account"]["Industry"].kind is DataKind.UNKNOWN
    assert [w.skipped for w in schema.warnings] == [False]


def test_full_name_must_match_file_name(tmp_path: Path) -> None:
    write_sfdx_field(tmp_path, "Account", "Right__c", content=custom_field_xml("Wrong__c"))
    with pytest.raises(SchemaError, match="does not match the file name"):
        load_schema(tmp_path)


def test_duplicate_field_across_package_dirs(tmp_path: Path) -> None:
    write_sfdx_field(tmp_path / "pkg-a", "Account", "Tier__c")
    write_sfdx_field(tmp_path / "pkg-b", "Account", "Tier__c")
    with pytest.raises(SchemaError, match="defined twice"):
        load_schema(tmp_path)
    lenient = load_schema(tmp_path, strict=False)
    assert lenient["Account"].field("Tier__c")
    assert len(lenient.warnings) == 1 and lenient.warnings[0].skipped


def test_objects_merge_across_package_dirs(tmp_path: Path) -> None:
    write_sfdx_field(tmp_path / "pkg-a", "Account", "A__c")
    write_sfdx_field(tmp_path / "pkg-b", "Account", "B__c")
    account = load_schema(tmp_path)["Account"]
    assert [f.api_name for f in account.fields] == ["A__c", "B__c"]


def test_bad_number_attribute(tmp_path: Path) -> None:
    write_sfdx_field(tmp_path, "Account", "Size__c", type_="Number",
                     extra="<precision>eighteen</precision>")
    with pytest.raises(SchemaError, match="<precision> must be a whole number"):
        load_schema(tmp_path)


def test_entity_expansion_is_refused(tmp_path: Path) -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;">]>'
        "<CustomField><fullName>Bomb__c</fullName><label>&lol2;</label><type>Text</type>"
        "</CustomField>"
    )
    write_sfdx_field(tmp_path, "Account", "Bomb__c", content=bomb)
    with pytest.raises(SchemaError, match="entities or DTDs"):
        load_schema(tmp_path)


def test_lenient_mode_reports_everything_skipped(tmp_path: Path) -> None:
    write_sfdx_field(tmp_path, "Account", "Good__c")
    write_sfdx_field(tmp_path, "Account", "Broken__c", content="<CustomField")
    write_sfdx_field(tmp_path, "Account", "Odd__c", type_="Hologram")
    write_sfdx_field(tmp_path, "Lead", "NoType__c", type_=None)
    schema = load_sfdx(tmp_path, strict=False)
    assert [f.api_name for _, f in schema.iter_fields()] == ["Good__c"]
    skipped = {(w.sobject, w.field) for w in schema.warnings if w.skipped}
    assert skipped == {("Account", "Broken__c"), ("Account", "Odd__c"), ("Lead", "NoType__c")}
    assert all(w.path for w in schema.warnings)


def test_empty_and_missing_folders(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="no Salesforce metadata found"):
        load_schema(tmp_path)
    with pytest.raises(SchemaError, match="no such file"):
        load_schema(tmp_path / "nope")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(SchemaError, match="unsupported file"):
        load_schema(tmp_path / "notes.txt")
    (tmp_path / "unpackaged.zip").write_bytes(b"PK\x03\x04")
    with pytest.raises(SchemaError, match="unzip it and give the folder"):
        load_schema(tmp_path / "unpackaged.zip")


def test_field_file_outside_fields_folder(tmp_path: Path) -> None:
    (tmp_path / "objects" / "Account").mkdir(parents=True)
    (tmp_path / "objects" / "Account" / "Loose__c.field-meta.xml").write_text(
        custom_field_xml("Loose__c"))
    with pytest.raises(SchemaError, match="not inside an <Object>/fields/ folder"):
        load_schema(tmp_path)
