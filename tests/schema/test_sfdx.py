from __future__ import annotations

from pathlib import Path

import pytest

from fedcrm import SchemaError, load_schema
from fedcrm.schema import DataKind, load_sfdx
from tests.schema._builders import (
    custom_field_xml,
    global_value_set_xml,
    mdapi_field,
    standard_value_set_xml,
    value_set_field_extra,
    write_sfdx_field,
)


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


def test_full_name_and_file_name_may_differ_in_case(tmp_path: Path) -> None:
    # API names are case-insensitive; the field was refused ("does not match the file name")
    write_sfdx_field(tmp_path, "Account", "lower__c", content=custom_field_xml("Lower__c"))
    assert [f.api_name for f in load_schema(tmp_path)["Account"].fields] == ["Lower__c"]


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
    with pytest.raises(SchemaError, match="not inside an objects/<Object>/fields/ folder"):
        load_schema(tmp_path)


def test_a_fields_folder_outside_objects_names_no_object(tmp_path: Path) -> None:
    # force-app/main/default/fields/Stray__c became a field of an object "default"
    default = tmp_path / "force-app" / "main" / "default"
    write_sfdx_field(tmp_path, "Account", "A__c")
    (default / "fields").mkdir(parents=True)
    (default / "fields" / "Stray__c.field-meta.xml").write_text(custom_field_xml("Stray__c"))
    with pytest.raises(SchemaError, match=r"Stray__c.field-meta.xml.*not inside an "
                       r"objects/<Object>/fields/ folder"):
        load_schema(tmp_path)
    lenient = load_schema(tmp_path, strict=False)
    assert [o.api_name for o in lenient.objects] == ["Account"]
    # the object folder itself, or the objects/ folder, given as the root still loads
    objects = next(tmp_path.rglob("objects"))
    assert [o.api_name for o in load_schema(objects).objects] == ["Account"]
    assert [f.api_name for f in load_schema(objects / "Account").objects[0].fields] == ["A__c"]
    # and so does a folder of object folders under another name (metadata/Account/fields/)
    other = tmp_path / "metadata"
    objects.rename(other)
    assert [o.api_name for o in load_schema(other).objects] == ["Account"]


def test_object_folders_differing_in_case_are_one_object(tmp_path: Path) -> None:
    # API names are case-insensitive: two package folders objects/Account and objects/account
    # were "defined twice" with one folder named
    write_sfdx_field(tmp_path / "pkg-a", "Account", "A__c")
    write_sfdx_field(tmp_path / "pkg-b", "account", "B__c")
    schema = load_schema(tmp_path)
    assert [o.api_name for o in schema.objects] == ["Account"]
    assert [f.api_name for f in schema["Account"].fields] == ["A__c", "B__c"]


def test_picklist_takes_its_global_value_sets_values(tmp_path: Path) -> None:
    root = tmp_path / "force-app" / "main" / "default"
    write_sfdx_field(root, "Account", "Region__c", type_="Picklist",
                     extra=value_set_field_extra("Sales_Region"))
    write_sfdx_field(root, "Account", "Zone__c", type_="Picklist",
                     extra=value_set_field_extra("Not_Retrieved"))
    (root / "globalValueSets").mkdir()
    (root / "globalValueSets" / "Sales_Region.globalValueSet-meta.xml").write_text(
        global_value_set_xml(["EMEA", "APAC", "Old"], inactive=("Old",)))
    for source in (tmp_path, root / "objects"):  # the project, or just its objects/ folder
        account = load_schema(source)["Account"]
        region = account.field("Region__c")
        assert [(v.value, v.label, v.active) for v in region.picklist_values] == [
            ("EMEA", "EMEA label", True), ("APAC", "APAC label", True), ("Old", "Old label", False)]
        assert region.value_set_name == "Sales_Region"
        assert account.field("Zone__c").picklist_values == ()  # its set is not in the folder


def test_a_broken_global_value_set_is_named(tmp_path: Path) -> None:
    write_sfdx_field(tmp_path, "Account", "Region__c", type_="Picklist",
                     extra=value_set_field_extra("Sales_Region"))
    (tmp_path / "globalValueSets").mkdir()
    bad = tmp_path / "globalValueSets" / "Sales_Region.globalValueSet-meta.xml"
    bad.write_text("<GlobalValueSet><customValue>")
    with pytest.raises(SchemaError, match=r"Sales_Region\.globalValueSet-meta\.xml.*malformed"):
        load_schema(tmp_path)
    lenient = load_schema(tmp_path, strict=False)
    assert lenient["Account"].field("Region__c").picklist_values == ()
    assert any("Sales_Region" in str(w.path) for w in lenient.warnings)


def test_an_sfdx_project_with_empty_objects_folders_says_so(tmp_path: Path) -> None:
    # its .vscode/settings.json made it a describe folder: "not a REST describe" naming that file
    (tmp_path / "force-app" / "main" / "default" / "objects").mkdir(parents=True)
    (tmp_path / ".vscode").mkdir()
    (tmp_path / ".vscode" / "settings.json").write_text('{"editor.tabSize": 4}')
    (tmp_path / "sfdx-project.json").write_text('{"packageDirectories": [{"path": "force-app"}]}')
    # what `sf project generate` writes, and an LWC lint file: tool JSON, not describe output
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "project-scratch-def.json").write_text('{"orgName": "x"}')
    lwc = tmp_path / "force-app" / "main" / "default" / "lwc"
    lwc.mkdir()
    (lwc / ".eslintrc.json").write_text("{}")
    with pytest.raises(SchemaError, match=r"no sfdx object metadata found.*sf project retrieve"):
        load_schema(tmp_path)


def test_a_field_file_that_is_not_utf8_says_so(tmp_path: Path) -> None:
    path = write_sfdx_field(tmp_path, "Account", "Umsatz__c")
    path.write_bytes(custom_field_xml("Umsatz__c", label="Umsatz \xe4")
                     .replace('encoding="UTF-8"', "").encode("latin-1"))
    with pytest.raises(SchemaError,
                       match=r"not UTF-8 \(byte 0xe4 on line 2\).*re-save it as UTF-8"):
        load_schema(tmp_path)
    declared = custom_field_xml("Umsatz__c", label="Umsatz \xe4").replace("UTF-8", "ISO-8859-1")
    path.write_bytes(declared.encode("latin-1"))  # a file that names its encoding is read
    assert load_schema(tmp_path)["Account"].field("Umsatz__c").label == "Umsatz \xe4"


def test_describe_json_inside_an_sfdx_project_is_still_read(tmp_path: Path) -> None:
    # sfdx-project.json alone sent every such folder to the sfdx loader ("no sfdx object
    # metadata found"); its tool files (.vscode/, sfdx-project.json) are not describe output
    (tmp_path / "sfdx-project.json").write_text('{"packageDirectories": []}')
    (tmp_path / ".vscode").mkdir()
    (tmp_path / ".vscode" / "settings.json").write_text("{}")
    (tmp_path / "describe").mkdir()
    (tmp_path / "describe" / "Account.json").write_text(
        '{"name": "Account", "fields": [{"name": "Tier__c", "type": "string", "label": "T"}]}')
    assert [f.api_name for f in load_schema(tmp_path)["Account"].fields] == ["Tier__c"]


def test_standard_picklists_take_their_standard_value_sets_values(tmp_path: Path) -> None:
    # Account.Industry retrieved as sfdx source lists no values: they are in
    # standardValueSets/Industry.standardValueSet-meta.xml (and Lead.Rating's in AccountRating)
    root = tmp_path / "force-app" / "main" / "default"
    write_sfdx_field(root, "Account", "Industry", type_="Picklist", label=None)
    write_sfdx_field(root, "Lead", "Rating", type_="Picklist", label=None)
    write_sfdx_field(root, "Lead", "Region__c", type_="Picklist")  # custom: no standard set
    (root / "standardValueSets").mkdir()
    (root / "standardValueSets" / "Industry.standardValueSet-meta.xml").write_text(
        standard_value_set_xml(["Agriculture", "Banking"]))
    (root / "standardValueSets" / "AccountRating.standardValueSet-meta.xml").write_text(
        standard_value_set_xml(["Hot", "Warm", "Cold"]))
    for source in (tmp_path, root / "objects"):
        schema = load_schema(source)
        assert [v.value for v in schema["Account"].field("Industry").picklist_values] == [
            "Agriculture", "Banking"]
        assert [v.value for v in schema["Lead"].field("Rating").picklist_values] == [
            "Hot", "Warm", "Cold"]
        assert schema["Lead"].field("Region__c").picklist_values == ()


def test_fields_declared_inline_in_the_object_file_are_loaded(tmp_path: Path) -> None:
    # an object file converted from the Metadata API may keep its <fields>: they were lost
    write_sfdx_field(tmp_path / "force-app", "Invoice__c", "Amount__c", type_="Currency")
    meta = tmp_path / "force-app" / "objects" / "Invoice__c" / "Invoice__c.object-meta.xml"
    meta.write_text(
        '<?xml version="1.0"?><CustomObject xmlns="http://soap.sforce.com/2006/04/metadata">'
        f"<label>Invoice</label>{mdapi_field('Due_Date__c', 'Date', 'Due date')}"
        "<nameField><label>Invoice Number</label><type>AutoNumber</type></nameField>"
        "</CustomObject>")
    invoice = load_schema(tmp_path, org_id="acme")["Invoice__c"]
    assert {f.api_name for f in invoice.fields} == {"Amount__c", "Due_Date__c", "Name"}
    assert invoice["Due_Date__c"].kind is DataKind.DATE
    # declared inline and in a field file: one definition too many, named
    meta.write_text(meta.read_text().replace("Due_Date__c", "Amount__c"))
    with pytest.raises(SchemaError, match="Amount__c.*defined twice"):
        load_schema(tmp_path)


def test_a_roll_up_of_a_roll_up_takes_the_kind_its_source_resolves_to(tmp_path: Path) -> None:
    # the second link kept kind number: its source was still a number when it was looked at
    root = tmp_path / "force-app"

    def summary(sobject: str, name: str, operation: str, source: str) -> None:
        child = source.split(".")[0]
        write_sfdx_field(root, sobject, name, type_="Summary", extra=(
            f"<summaryForeignKey>{child}.Parent__c</summaryForeignKey>"
            f"<summaryOperation>{operation}</summaryOperation>"
            f"<summarizedField>{source}</summarizedField>"))

    write_sfdx_field(root, "Line__c", "Amount__c", type_="Currency")
    write_sfdx_field(root, "Line__c", "Ordered_On__c", type_="Date")
    summary("Invoice__c", "Total__c", "sum", "Line__c.Amount__c")
    summary("Invoice__c", "First_Order__c", "min", "Line__c.Ordered_On__c")
    summary("Account", "Total_Invoiced__c", "sum", "Invoice__c.Total__c")
    summary("Account", "Customer_Since__c", "min", "Invoice__c.First_Order__c")
    summary("Account", "Invoices__c", "count", "Invoice__c.Total__c")
    schema = load_schema(tmp_path, org_id="acme")
    assert schema["Invoice__c"]["Total__c"].kind is DataKind.CURRENCY
    assert schema["Account"]["Total_Invoiced__c"].kind is DataKind.CURRENCY
    assert schema["Account"]["Customer_Since__c"].kind is DataKind.DATE
    assert schema["Account"]["Invoices__c"].kind is DataKind.NUMBER  # a count


def test_a_roll_up_of_a_standard_child_field_takes_that_fields_kind(tmp_path: Path) -> None:
    """MIN(Opportunity.CloseDate) stayed a number: standard fields are seldom in source, so
    the summarised field was not found (and "Customer Since" abstained at 0.38)."""
    root = tmp_path / "force-app"

    def summary(name: str, operation: str, source: str) -> None:
        write_sfdx_field(root, "Account", name, type_="Summary", extra=(
            f"<summaryForeignKey>{source.split('.')[0]}.AccountId</summaryForeignKey>"
            f"<summaryOperation>{operation}</summaryOperation>"
            f"<summarizedField>{source}</summarizedField>"))

    summary("Customer_Since__c", "min", "Opportunity.CloseDate")
    summary("Total_Won__c", "sum", "Opportunity.Amount")
    summary("First_Created__c", "min", "Opportunity.CreatedDate")
    summary("Sum_Probability__c", "sum", "Opportunity.Probability")
    summary("Unknown__c", "max", "Opportunity.Not_There__c")
    write_sfdx_field(root, "Opportunity", "Products__c", type_="Summary", extra=(
        "<summaryForeignKey>OpportunityLineItem.OpportunityId</summaryForeignKey>"
        "<summaryOperation>sum</summaryOperation>"
        "<summarizedField>OpportunityLineItem.TotalPrice</summarizedField>"))
    # a retrieve of Opportunity usually holds its standard fields without a <type>
    write_sfdx_field(root, "Opportunity", "CloseDate", type_=None)
    write_sfdx_field(root, "Opportunity", "Amount", type_=None)
    schema = load_schema(tmp_path, org_id="acme")
    assert schema["Opportunity"]["CloseDate"].kind is DataKind.UNKNOWN
    account = schema["Account"]
    assert account["Customer_Since__c"].kind is DataKind.DATE
    assert account["Total_Won__c"].kind is DataKind.CURRENCY
    assert account["First_Created__c"].kind is DataKind.DATETIME
    assert account["Sum_Probability__c"].kind is DataKind.PERCENT
    assert account["Unknown__c"].kind is DataKind.NUMBER  # neither in the org nor standard
    assert schema["Opportunity"]["Products__c"].kind is DataKind.CURRENCY


def test_a_global_value_set_missing_from_the_metadata_is_noted(tmp_path: Path) -> None:
    # NPSP's ACH_Code__c names the set Payment_ACH_Code, which its metadata lacks: it loaded
    # with no values and no word of why
    write_sfdx_field(tmp_path, "Payment__c", "ACH_Code__c", type_="Picklist",
                     extra=value_set_field_extra("Payment_ACH_Code"))
    schema = load_schema(tmp_path)
    assert schema["Payment__c"]["ACH_Code__c"].picklist_values == ()
    (warning,) = schema.warnings
    assert not warning.skipped and warning.field == "ACH_Code__c"
    assert "global value set 'Payment_ACH_Code', which the metadata given does not hold" in \
        str(warning)
    # with the set beside it: its values, and no note
    (tmp_path / "globalValueSets").mkdir()
    (tmp_path / "globalValueSets" / "Payment_ACH_Code.globalValueSet-meta.xml").write_text(
        global_value_set_xml(["Debit", "Credit"]))
    schema = load_schema(tmp_path)
    assert [v.value for v in schema["Payment__c"]["ACH_Code__c"].picklist_values] == [
        "Debit", "Credit"]
    assert schema.warnings == ()


def test_a_knowledge_data_category_field_in_describe_output_is_text() -> None:
    # an org with Knowledge: strict loading refused its whole describe dump
    from fedcrm.schema import load_describe

    selection = {"name": "FAQ__DataCategorySelection", "label": "FAQ Data Category",
                 "custom": False, "fields": [
                     {"name": "Id", "label": "Id", "type": "id"},
                     {"name": "DataCategoryGroupName", "label": "Data Category Group",
                      "type": "datacategorygroupreference"}]}
    schema = load_describe([selection], org_id="kb")
    field = schema["FAQ__DataCategorySelection"]["DataCategoryGroupName"]
    assert field.kind is DataKind.TEXT
