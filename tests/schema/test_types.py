from __future__ import annotations

import pytest

from fedcrm.schema import DataKind, kind_from_describe, kind_from_metadata_type

METADATA_CASES = {
    "Text": DataKind.TEXT,
    "Number": DataKind.NUMBER,
    "Currency": DataKind.CURRENCY,
    "Picklist": DataKind.PICKLIST,
    "Checkbox": DataKind.BOOLEAN,
    "Date": DataKind.DATE,
    "DateTime": DataKind.DATETIME,
    "Time": DataKind.TIME,
    "Lookup": DataKind.REFERENCE,
    "MasterDetail": DataKind.REFERENCE,
    "Hierarchy": DataKind.REFERENCE,
    "ExternalLookup": DataKind.REFERENCE,
    "Email": DataKind.EMAIL,
    "Phone": DataKind.PHONE,
    "Url": DataKind.URL,
    "Percent": DataKind.PERCENT,
    "TextArea": DataKind.TEXTAREA,
    "LongTextArea": DataKind.LONG_TEXTAREA,
    "Html": DataKind.RICH_TEXT,
    "MultiselectPicklist": DataKind.MULTIPICKLIST,
    "Summary": DataKind.NUMBER,
    "AutoNumber": DataKind.AUTO_NUMBER,
    "EncryptedText": DataKind.ENCRYPTED_TEXT,
    "Location": DataKind.LOCATION,
}


@pytest.mark.parametrize(("type_name", "kind"), sorted(METADATA_CASES.items()))
def test_metadata_api_types(type_name: str, kind: DataKind) -> None:
    assert kind_from_metadata_type(type_name) is kind
    assert kind_from_metadata_type(f"  {type_name.lower()} ") is kind


DESCRIBE_CASES = {
    "string": DataKind.TEXT,
    "double": DataKind.NUMBER,
    "int": DataKind.NUMBER,
    "long": DataKind.NUMBER,
    "currency": DataKind.CURRENCY,
    "percent": DataKind.PERCENT,
    "picklist": DataKind.PICKLIST,
    "multipicklist": DataKind.MULTIPICKLIST,
    "combobox": DataKind.COMBOBOX,
    "boolean": DataKind.BOOLEAN,
    "reference": DataKind.REFERENCE,
    "id": DataKind.ID,
    "date": DataKind.DATE,
    "datetime": DataKind.DATETIME,
    "time": DataKind.TIME,
    "email": DataKind.EMAIL,
    "phone": DataKind.PHONE,
    "url": DataKind.URL,
    "address": DataKind.ADDRESS,
    "location": DataKind.LOCATION,
    "base64": DataKind.BINARY,
    "anyType": DataKind.ANY,
    "encryptedstring": DataKind.ENCRYPTED_TEXT,
    "textarea": DataKind.TEXTAREA,
}


@pytest.mark.parametrize(("type_name", "kind"), sorted(DESCRIBE_CASES.items()))
def test_describe_types(type_name: str, kind: DataKind) -> None:
    assert kind_from_describe({"type": type_name, "length": 255}) is kind


def test_describe_textarea_variants() -> None:
    assert kind_from_describe({"type": "textarea", "length": 255}) is DataKind.TEXTAREA
    assert kind_from_describe({"type": "textarea", "length": 32768}) is DataKind.LONG_TEXTAREA
    rich = {"type": "textarea", "length": 32768, "extraTypeInfo": "richtextarea"}
    assert kind_from_describe(rich) is DataKind.RICH_TEXT
    assert kind_from_describe({"type": "string", "autoNumber": True}) is DataKind.AUTO_NUMBER


def test_unknown_types_are_none() -> None:
    assert kind_from_metadata_type("Hologram") is None
    assert kind_from_describe({"type": "hologram"}) is None


def test_both_type_systems_agree_on_families() -> None:
    pairs = [("Currency", "currency"), ("Checkbox", "boolean"), ("Lookup", "reference"),
             ("Text", "string"), ("Picklist", "picklist"), ("Number", "double")]
    for metadata_type, describe_type in pairs:
        assert kind_from_metadata_type(metadata_type) is kind_from_describe({"type": describe_type})
