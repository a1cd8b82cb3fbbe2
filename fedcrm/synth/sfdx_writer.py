"""Write an org's metadata as Salesforce DX source: one ``<Field>.field-meta.xml`` per field
under ``objects/<Object>/fields/`` and an ``<Object>.object-meta.xml`` for custom objects.

Elements follow the Metadata API ``CustomField``/``CustomObject`` types and appear in
alphabetical order, as ``sf project retrieve`` writes them. Every attribute of a
:class:`~fedcrm.schema.FieldMeta` that the sfdx loader reads is rendered, so loading the folder
gives the same model back.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

from fedcrm.schema.models import FieldMeta, OrgSchema, SObjectSchema
from fedcrm.synth.planner import CustomObjectPlan

NAMESPACE = "http://soap.sforce.com/2006/04/metadata"
SOURCE_ROOT = Path("force-app") / "main" / "default" / "objects"


def _element(name: str, value: str, indent: str = "    ") -> str:
    return f"{indent}<{name}>{escape(value)}</{name}>\n"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def field_xml(meta: FieldMeta, *, standard: bool) -> str:
    """The ``CustomField`` document of one field."""
    parts: dict[str, str] = {"fullName": _element("fullName", meta.api_name)}
    type_name = meta.source_type or "Text"
    if meta.default_value is not None:
        parts["defaultValue"] = _element("defaultValue", meta.default_value)
    if type_name == "Lookup":
        parts["deleteConstraint"] = _element("deleteConstraint", "SetNull")
    if meta.description:
        parts["description"] = _element("description", meta.description)
    if not standard:
        parts["externalId"] = _element("externalId", _bool(meta.external_id))
    if meta.formula:
        parts["formula"] = _element("formula", meta.formula)
        parts["formulaTreatBlanksAs"] = _element("formulaTreatBlanksAs", "BlankAsZero")
    if meta.help_text:
        parts["inlineHelpText"] = _element("inlineHelpText", meta.help_text)
    if meta.label:
        parts["label"] = _element("label", meta.label)
    if meta.length is not None:
        parts["length"] = _element("length", str(meta.length))
    if meta.precision is not None:
        parts["precision"] = _element("precision", str(meta.precision))
    for reference in meta.reference_to:
        parts["referenceTo"] = parts.get("referenceTo", "") + _element("referenceTo", reference)
    if meta.relationship_name:
        parts["relationshipLabel"] = _element("relationshipLabel",
                                              meta.relationship_name.replace("_", " "))
        parts["relationshipName"] = _element("relationshipName", meta.relationship_name)
    if type_name == "MasterDetail":
        parts["relationshipOrder"] = _element("relationshipOrder", "0")
        parts["reparentableMasterDetail"] = _element("reparentableMasterDetail", "false")
        parts["writeRequiresMasterRead"] = _element("writeRequiresMasterRead", "false")
    if not standard and type_name not in ("MasterDetail", "Checkbox") and not meta.formula:
        parts["required"] = _element("required", _bool(meta.required))
    if meta.scale is not None:
        parts["scale"] = _element("scale", str(meta.scale))
    if not meta.formula:
        parts["trackHistory"] = _element("trackHistory", "false")
    parts["type"] = _element("type", type_name)
    if not standard and type_name in ("Text", "Number", "Email") and not meta.formula:
        parts["unique"] = _element("unique", _bool(meta.unique))
    if meta.picklist_values:
        values = "".join(
            "            <value>\n"
            + _element("fullName", value.value, " " * 16)
            + _element("default", _bool(value.default), " " * 16)
            + _element("label", value.label or value.value, " " * 16)
            + "            </value>\n"
            for value in meta.picklist_values
        )
        parts["valueSet"] = (
            "    <valueSet>\n"
            + _element("restricted", "true", " " * 8)
            + "        <valueSetDefinition>\n"
            + _element("sorted", "false", " " * 12)
            + values
            + "        </valueSetDefinition>\n    </valueSet>\n"
        )
    if type_name == "LongTextArea":
        parts["visibleLines"] = _element("visibleLines", "3")
    body = "".join(parts[key] for key in sorted(parts, key=lambda k: (k != "fullName", k)))
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<CustomField xmlns="{NAMESPACE}">\n'
            f"{body}</CustomField>\n")


def object_xml(sobject: SObjectSchema, plan: CustomObjectPlan) -> str:
    """The ``CustomObject`` document of a custom object."""
    name = plan.name_field
    lines = [
        _element("deploymentStatus", "Deployed"),
    ]
    if plan.description:
        lines.append(_element("description", plan.description))
    lines.append(_element("label", plan.label))
    lines.append(
        "    <nameField>\n"
        + _element("displayFormat", plan.display_format, " " * 8)
        + _element("label", name.label or "Name", " " * 8)
        + _element("type", name.source_type or "Text", " " * 8)
        + "    </nameField>\n"
    )
    lines.append(_element("pluralLabel", plan.plural_label))
    lines.append(_element("sharingModel", "ControlledByParent"))
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<CustomObject xmlns="{NAMESPACE}">\n'
            + "".join(lines) + "</CustomObject>\n")


def write_metadata(schema: OrgSchema, metadata_dir: Path,
                   custom_object: CustomObjectPlan | None) -> int:
    """Write every field (and the custom object's definition) under ``metadata_dir``;
    returns the number of files written."""
    written = 0
    (metadata_dir / "sfdx-project.json").parent.mkdir(parents=True, exist_ok=True)
    (metadata_dir / "sfdx-project.json").write_text(
        '{\n  "packageDirectories": [{"path": "force-app", "default": true}],\n'
        '  "sourceApiVersion": "61.0"\n}\n', encoding="utf-8")
    for sobject in schema.objects:
        folder = metadata_dir / SOURCE_ROOT / sobject.api_name
        fields_folder = folder / "fields"
        fields_folder.mkdir(parents=True, exist_ok=True)
        if custom_object is not None and sobject.api_name == custom_object.api_name:
            (folder / f"{sobject.api_name}.object-meta.xml").write_text(
                object_xml(sobject, custom_object), encoding="utf-8")
            written += 1
        for meta in sobject.fields:
            if meta.is_name_field:
                continue
            standard = not meta.is_custom
            (fields_folder / f"{meta.api_name}.field-meta.xml").write_text(
                field_xml(meta, standard=standard), encoding="utf-8")
            written += 1
    return written
