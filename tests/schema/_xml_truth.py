"""Independent reading of the raw metadata XML, to check the loaders field by field."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

NS = "{http://soap.sforce.com/2006/04/metadata}"


def _text(element: ET.Element, tag: str) -> str | None:
    found = element.find(NS + tag)
    if found is None or found.text is None or not found.text.strip():
        return None
    return found.text.strip()


def sfdx_truth(org: Path) -> dict[tuple[str, str], tuple[str | None, str | None]]:
    """(object, field) → (type, label) for every field file and declared nameField."""
    truth: dict[tuple[str, str], tuple[str | None, str | None]] = {}
    for path in org.rglob("*.field-meta.xml"):
        root = ET.parse(path).getroot()
        name = _text(root, "fullName") or path.name.removesuffix(".field-meta.xml")
        truth[(path.parent.parent.name, name)] = (_text(root, "type"), _text(root, "label"))
    for path in org.rglob("*.object-meta.xml"):
        name_field = ET.parse(path).getroot().find(NS + "nameField")
        if name_field is not None:
            key = (path.parent.name, "Name")
            truth.setdefault(key, (_text(name_field, "type"), _text(name_field, "label")))
    return truth


def mdapi_truth(org: Path) -> dict[tuple[str, str], tuple[str | None, str | None]]:
    truth: dict[tuple[str, str], tuple[str | None, str | None]] = {}
    for path in org.rglob("*.object"):
        root = ET.parse(path).getroot()
        sobject = path.name.removesuffix(".object")
        for field in root.findall(NS + "fields"):
            truth[(sobject, _text(field, "fullName") or "")] = (
                _text(field, "type"), _text(field, "label"),
            )
        name_field = root.find(NS + "nameField")
        if name_field is not None:
            truth.setdefault(
                (sobject, "Name"), (_text(name_field, "type"), _text(name_field, "label"))
            )
    return truth


def object_names(org: Path, mdapi: bool) -> set[str]:
    if mdapi:
        return {p.name.removesuffix(".object") for p in org.rglob("*.object")}
    names = {p.parent.parent.name for p in org.rglob("*.field-meta.xml")}
    names |= {p.parent.name for p in org.rglob("*.object-meta.xml")}
    return names
