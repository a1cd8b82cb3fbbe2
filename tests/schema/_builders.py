"""Write small metadata folders for loader tests."""

from __future__ import annotations

from pathlib import Path

NS = 'xmlns="http://soap.sforce.com/2006/04/metadata"'


def custom_field_xml(name: str | None, *, type_: str | None = "Text", label: str | None = "L",
                     extra: str = "") -> str:
    parts = []
    if name is not None:
        parts.append(f"<fullName>{name}</fullName>")
    if label is not None:
        parts.append(f"<label>{label}</label>")
    if type_ is not None:
        parts.append(f"<type>{type_}</type>")
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<CustomField {NS}>'
        + "".join(parts) + extra + "</CustomField>\n"
    )


def write_sfdx_field(root: Path, sobject: str, name: str, content: str | None = None,
                     **kwargs: str | None) -> Path:
    folder = root / "objects" / sobject / "fields"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.field-meta.xml"
    path.write_text(content if content is not None else custom_field_xml(name, **kwargs))
    return path


def write_mdapi_object(root: Path, sobject: str, fields_xml: str) -> Path:
    folder = root / "objects"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{sobject}.object"
    path.write_text(
        f'<?xml version="1.0" encoding="UTF-8"?>\n<CustomObject {NS}>{fields_xml}</CustomObject>\n'
    )
    return path


def mdapi_field(name: str, type_: str = "Text", label: str = "L", extra: str = "") -> str:
    return (f"<fields><fullName>{name}</fullName><label>{label}</label>"
            f"<type>{type_}</type>{extra}</fields>")


def global_value_set_xml(values: list[str], *, inactive: tuple[str, ...] = ()) -> str:
    entries = "".join(
        f"<customValue><fullName>{v}</fullName><default>false</default><label>{v} label</label>"
        + ("<isActive>false</isActive>" if v in inactive else "") + "</customValue>"
        for v in values)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<GlobalValueSet {NS}>{entries}'
            "<masterLabel>Set</masterLabel><sorted>false</sorted></GlobalValueSet>\n")


def value_set_field_extra(set_name: str) -> str:
    """A picklist's ``<valueSet>`` that uses a global value set (it lists no values)."""
    return (f"<valueSet><restricted>true</restricted><valueSetName>{set_name}</valueSetName>"
            "</valueSet>")


def standard_value_set_xml(values: list[str]) -> str:
    entries = "".join(f"<standardValue><fullName>{v}</fullName><default>false</default>"
                      f"<label>{v}</label></standardValue>" for v in values)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<StandardValueSet {NS}>'
            f"<sorted>false</sorted>{entries}</StandardValueSet>\n")
