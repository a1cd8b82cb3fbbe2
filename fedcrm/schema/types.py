"""Map Salesforce's two type systems onto :class:`DataKind`.

Metadata API field types are listed in the Metadata API Developer Guide, "CustomField"
(``FieldType`` enumeration); REST describe types in the SOAP/REST API guide,
"Field Types" (``fieldType`` of ``DescribeSObjectResult.fields``).
"""

from __future__ import annotations

from typing import Any

from fedcrm.schema.models import DataKind

#: Metadata API ``<type>`` → kind (keys lower-cased).
METADATA_API_TYPES: dict[str, DataKind] = {
    "text": DataKind.TEXT,
    "textarea": DataKind.TEXTAREA,
    "longtextarea": DataKind.LONG_TEXTAREA,
    "html": DataKind.RICH_TEXT,
    "encryptedtext": DataKind.ENCRYPTED_TEXT,
    "number": DataKind.NUMBER,
    "currency": DataKind.CURRENCY,
    "percent": DataKind.PERCENT,
    "checkbox": DataKind.BOOLEAN,
    "date": DataKind.DATE,
    "datetime": DataKind.DATETIME,
    "time": DataKind.TIME,
    "picklist": DataKind.PICKLIST,
    "multiselectpicklist": DataKind.MULTIPICKLIST,
    "lookup": DataKind.REFERENCE,
    "masterdetail": DataKind.REFERENCE,
    "hierarchy": DataKind.REFERENCE,
    "externallookup": DataKind.REFERENCE,
    "indirectlookup": DataKind.REFERENCE,
    "metadatarelationship": DataKind.REFERENCE,
    "email": DataKind.EMAIL,
    "phone": DataKind.PHONE,
    "url": DataKind.URL,
    "autonumber": DataKind.AUTO_NUMBER,
    "location": DataKind.LOCATION,
    "address": DataKind.ADDRESS,
    "file": DataKind.BINARY,
    # A roll-up summary is numeric (COUNT) or takes the summarised field's type (SUM/MIN/MAX,
    # which Salesforce allows on number, currency, percent and date fields). Without the child
    # object's metadata we cannot know which, so it is NUMBER unless resolved later.
    "summary": DataKind.NUMBER,
}

#: REST describe ``type`` → kind (keys lower-cased).
DESCRIBE_TYPES: dict[str, DataKind] = {
    "string": DataKind.TEXT,
    "textarea": DataKind.TEXTAREA,
    "encryptedstring": DataKind.ENCRYPTED_TEXT,
    "int": DataKind.NUMBER,
    "long": DataKind.NUMBER,
    "double": DataKind.NUMBER,
    "currency": DataKind.CURRENCY,
    "percent": DataKind.PERCENT,
    "boolean": DataKind.BOOLEAN,
    "date": DataKind.DATE,
    "datetime": DataKind.DATETIME,
    "time": DataKind.TIME,
    "picklist": DataKind.PICKLIST,
    "multipicklist": DataKind.MULTIPICKLIST,
    "combobox": DataKind.COMBOBOX,
    "reference": DataKind.REFERENCE,
    "email": DataKind.EMAIL,
    "phone": DataKind.PHONE,
    "url": DataKind.URL,
    "id": DataKind.ID,
    "location": DataKind.LOCATION,
    "address": DataKind.ADDRESS,
    "base64": DataKind.BINARY,
    "anytype": DataKind.ANY,
    "complexvalue": DataKind.JSON,
    "json": DataKind.JSON,
    # Knowledge: <Article>__DataCategorySelection.DataCategoryGroupName, a category group's
    # name (Apex Schema.DisplayType.DATACATEGORYGROUPREFERENCE)
    "datacategorygroupreference": DataKind.TEXT,
}

#: The long-text threshold: Salesforce's plain TextArea holds at most 255 characters.
TEXTAREA_MAX_LENGTH = 255


def kind_from_metadata_type(type_name: str) -> DataKind | None:
    """Kind of a Metadata API type name, or ``None`` if the type is unknown."""
    return METADATA_API_TYPES.get(type_name.strip().lower())


def kind_from_describe(field: dict[str, Any]) -> DataKind | None:
    """Kind of a REST describe field dict, or ``None`` if its type is unknown.

    Describe reports rich and long text areas as ``textarea``; ``extraTypeInfo`` and
    ``length`` tell them apart, and ``autoNumber`` marks auto-number strings.
    """
    type_name = str(field.get("type", "")).strip().lower()
    kind = DESCRIBE_TYPES.get(type_name)
    if kind is DataKind.TEXTAREA:
        extra = str(field.get("extraTypeInfo") or "").lower()
        if extra == "richtextarea" or field.get("htmlFormatted"):
            return DataKind.RICH_TEXT
        length = field.get("length") or 0
        if isinstance(length, int) and length > TEXTAREA_MAX_LENGTH:
            return DataKind.LONG_TEXTAREA
    if kind is DataKind.TEXT and field.get("autoNumber"):
        return DataKind.AUTO_NUMBER
    return kind
