"""Input the loaders must turn into SchemaError problems (strict) or skipped items (lenient),
never another exception; mixed formats; symbolic links."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from fedcrm import SchemaError
from fedcrm.schema import load_schema
from tests.schema._builders import NS, write_mdapi_object, write_sfdx_field

GOOD_FIELD = {"name": "Good__c", "type": "string", "label": "Good"}


def write_json(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document))
    return path


# --- 4. describe JSON ----------------------------------------------------------------------------


@pytest.mark.parametrize(("bad_field", "expected"), [
    ({"name": "Foo__c", "type": "string", "label": "F", "length": -1}, "length"),
    ({"name": "Foo__c", "type": "double", "label": "F", "precision": -3}, "precision"),
    ({"name": "Foo__c", "type": "double", "label": "F", "precision": 5, "scale": -2}, "scale"),
    ({"name": "   ", "type": "string", "label": "F"}, "name"),
])
def test_describe_field_rejected_by_the_model_is_a_problem(
        tmp_path: Path, bad_field: dict[str, object], expected: str) -> None:
    path = write_json(tmp_path / "org.json", {"name": "Account",
                                              "fields": [bad_field, GOOD_FIELD]})
    with pytest.raises(SchemaError) as caught:
        load_schema(path)
    assert caught.value.path == str(path) and caught.value.sobject == "Account"
    assert f"invalid describe field ({expected}:" in caught.value.reason
    lenient = load_schema(path, strict=False)
    assert [f.api_name for f in lenient["Account"].fields] == ["Good__c"]
    assert len(lenient.warnings) == 1 and lenient.warnings[0].skipped


def test_describe_object_with_a_blank_name_is_a_problem(tmp_path: Path) -> None:
    path = write_json(tmp_path / "org.json", [{"name": "  ", "fields": [GOOD_FIELD]},
                                              {"name": "Account", "fields": [GOOD_FIELD]}])
    with pytest.raises(SchemaError, match="object describe has no 'name'"):
        load_schema(path)
    assert [o.api_name for o in load_schema(path, strict=False).objects] == ["Account"]


@pytest.mark.parametrize(("text", "expected"), [
    ('{"name": "Account", "fields": [], "x": ' + "9" * 5000 + "}", "unreadable JSON"),
    ("[" * (sys.getrecursionlimit() + 100), "nested too deeply"),
])
def test_describe_json_python_cannot_parse_is_a_problem(
        tmp_path: Path, text: str, expected: str) -> None:
    folder = tmp_path / "org"
    folder.mkdir()
    bad = folder / "bad.json"
    bad.write_text(text)
    write_json(folder / "good.json", {"name": "Account", "fields": [GOOD_FIELD]})
    with pytest.raises(SchemaError, match=expected) as caught:
        load_schema(folder)
    assert caught.value.path == str(bad)
    lenient = load_schema(folder, strict=False)
    assert [o.api_name for o in lenient.objects] == ["Account"]
    assert [w.path for w in lenient.warnings] == [str(bad)]


# --- 4. Metadata XML -----------------------------------------------------------------------------


def test_xml_with_an_unknown_encoding_is_a_problem(tmp_path: Path) -> None:
    bad = write_sfdx_field(tmp_path, "Account", "Rev__c", content=(
        '<?xml version="1.0" encoding="bogus"?>\n'
        f"<CustomField {NS}><fullName>Rev__c</fullName><label>R</label><type>Text</type>"
        "</CustomField>\n"))
    write_sfdx_field(tmp_path, "Account", "Good__c")
    with pytest.raises(SchemaError, match="encoding") as caught:
        load_schema(tmp_path)
    assert caught.value.path == str(bad) and caught.value.field == "Rev__c"
    lenient = load_schema(tmp_path, strict=False)
    assert [f.api_name for f in lenient["Account"].fields] == ["Good__c"]


def test_sfdx_names_the_model_rejects_are_problems(tmp_path: Path) -> None:
    # a field file named only by blanks and without <fullName>, and an object folder of blanks
    write_sfdx_field(tmp_path, "Account", "  ", content=(
        f'<?xml version="1.0" encoding="UTF-8"?>\n<CustomField {NS}><label>L</label>'
        "<type>Text</type></CustomField>\n"))
    write_sfdx_field(tmp_path, "Account", "Good__c")
    write_sfdx_field(tmp_path, "  ", "Other__c")
    with pytest.raises(SchemaError, match="invalid"):
        load_schema(tmp_path)
    lenient = load_schema(tmp_path, strict=False)
    assert [(o.api_name, [f.api_name for f in o.fields]) for o in lenient.objects] == [
        ("Account", ["Good__c"])]
    assert len(lenient.warnings) == 2


# --- 7. both formats in one folder ---------------------------------------------------------------


def test_folder_with_sfdx_and_metadata_api_files_is_an_error(tmp_path: Path) -> None:
    write_sfdx_field(tmp_path / "force-app", "Account", "Rev__c")
    write_mdapi_object(tmp_path / "src", "Contact", "")
    with pytest.raises(SchemaError) as caught:
        load_schema(tmp_path)
    message = str(caught.value)
    assert "both sfdx source" in message and "Metadata API" in message
    assert str(tmp_path / "force-app") in message and str(tmp_path / "src") in message
    assert [o.api_name for o in load_schema(tmp_path / "src").objects] == ["Contact"]
    assert [o.api_name for o in load_schema(tmp_path, format="mdapi").objects] == ["Contact"]


# --- 8. symbolic links ---------------------------------------------------------------------------


def test_links_out_of_the_folder_are_not_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    write_sfdx_field(elsewhere, "Contact", "Secret__c")
    org = tmp_path / "org"
    write_sfdx_field(org, "Account", "Rev__c")
    os.symlink(elsewhere / "objects" / "Contact", org / "objects" / "Contact")
    os.symlink(elsewhere / "objects" / "Contact" / "fields" / "Secret__c.field-meta.xml",
               org / "objects" / "Account" / "fields" / "Secret__c.field-meta.xml")
    schema = load_schema(org)  # strict: a link not followed is listed, not an error
    assert [(o.api_name, [f.api_name for f in o.fields]) for o in schema.objects] == [
        ("Account", ["Rev__c"])]
    skipped = sorted(Path(w.path).name for w in schema.warnings if w.skipped)
    assert skipped == ["Contact", "Secret__c.field-meta.xml"]
    assert all("outside" in w.message for w in schema.warnings)


def test_a_link_loop_is_walked_once(tmp_path: Path) -> None:
    write_sfdx_field(tmp_path, "Account", "Rev__c")
    os.symlink("..", tmp_path / "objects" / "up")
    os.symlink("self", tmp_path / "objects" / "self")
    schema = load_schema(tmp_path)
    assert [f.api_name for f in schema["Account"].fields] == ["Rev__c"]
    assert sorted(Path(w.path).name for w in schema.warnings) == ["self", "up"]
    assert not any(w.skipped for w in schema.warnings)


def test_links_inside_the_folder_are_followed_once(tmp_path: Path) -> None:
    org = tmp_path / "org"
    write_sfdx_field(org / "zz-real", "Account", "Rev__c")
    os.symlink("zz-real", org / "app")  # sorts first: read through the link, then not again
    schema = load_schema(org)
    assert [f.api_name for f in schema["Account"].fields] == ["Rev__c"]
    assert [(Path(w.path).name, w.skipped) for w in schema.warnings] == [("zz-real", False)]
    os.symlink("org", tmp_path / "alias")  # the folder given may itself be a link
    assert [f.api_name for f in load_schema(tmp_path / "alias")["Account"].fields] == ["Rev__c"]


@pytest.mark.parametrize("org_id", ["", "   ", 7])
def test_an_empty_org_id_is_refused_not_replaced_by_the_file_name(tmp_path: Path,
                                                                  org_id: object) -> None:
    path = write_json(tmp_path / "org.json", {"name": "Account", "fields": [GOOD_FIELD]})
    with pytest.raises(SchemaError, match="org_id must be a non-empty string"):
        load_schema(path, org_id=org_id)  # type: ignore[arg-type]
    assert load_schema(path, org_id="emea").org_id == "emea"


def test_the_current_folder_is_named_by_the_folder_it_stands_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Path(".").name is "": `fedcrm schema summary .` inside an org's folder once failed
    org = tmp_path / "emea"
    write_sfdx_field(org, "Account", "Rev__c")
    write_mdapi_object(tmp_path / "apac", "Account", "")  # apac/objects/Account.object
    monkeypatch.chdir(org)
    assert load_schema(".").org_id == "emea"
    monkeypatch.chdir(tmp_path / "apac" / "objects")
    assert load_schema(".").org_id == "objects" and load_schema("..").org_id == "apac"
    with pytest.raises(SchemaError, match="the schema path is empty"):
        load_schema("")  # Path("") would read the current folder


def test_a_folder_named_like_a_field_file_is_a_problem_not_a_silent_gap(tmp_path: Path) -> None:
    org = tmp_path / "org"
    write_sfdx_field(org, "Account", "Rev__c")
    (org / "objects" / "Account" / "fields" / "Area__c.field-meta.xml").mkdir()
    with pytest.raises(SchemaError, match="a folder named like a metadata file"):
        load_schema(org)
    lenient = load_schema(org, strict=False)
    assert [f.api_name for f in lenient["Account"].fields] == ["Rev__c"]
    assert any("a folder named like a metadata file" in str(w) for w in lenient.warnings)
