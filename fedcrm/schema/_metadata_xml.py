"""Parse Metadata API XML (``CustomField`` / ``CustomObject``), shared by the sfdx and mdapi
loaders: both formats use the same elements, only the file layout differs.

Element names follow the Metadata API Developer Guide ("CustomField", "CustomObject").
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException
from pydantic import ValidationError

from fedcrm._files import undecodable_at
from fedcrm.errors import SchemaError
from fedcrm.schema._files import walk_files
from fedcrm.schema._problems import ProblemLog, describe_validation_error
from fedcrm.schema.models import DataKind, FieldMeta, PicklistValue, SObjectSchema
from fedcrm.schema.types import kind_from_metadata_type

#: Salesforce caps metadata files far below this; anything larger is not metadata.
#: a guard against a wrong file, not a Salesforce limit: a full retrieve of an object with
#: many record types and picklists can pass 20 MB (a review's 300 picklists and 28 record
#: types made 25 MB, parsed in 0.65 s with 85 MB of memory)
MAX_XML_BYTES = 256 * 1024 * 1024

#: FieldMeta / SObjectSchema attribute → the element it comes from, for error messages
_XML_TAGS = {"api_name": "fullName", "help_text": "inlineHelpText",
             "reference_to": "referenceTo", "relationship_name": "relationshipName",
             "default_value": "defaultValue", "plural_label": "pluralLabel"}


def local_name(element: Element) -> str:
    """Tag without its XML namespace."""
    tag = element.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def children(element: Element, name: str) -> list[Element]:
    """Direct children called ``name`` (namespace-agnostic)."""
    return [child for child in element if local_name(child) == name]


def child_text(element: Element, name: str) -> str | None:
    """Stripped text of the first direct child called ``name``; ``None`` if absent or empty."""
    for child in element:
        if local_name(child) == name:
            text = (child.text or "").strip()
            return text or None
    return None


def parse_xml_file(path: Path, expected_root: str) -> Element:
    """Parse ``path`` safely (no entity expansion, no external entities) and check its root.

    Raises :class:`SchemaError` naming the file for unreadable, malformed or wrong-kind XML.
    """
    try:
        size = path.stat().st_size
        if size > MAX_XML_BYTES:
            raise SchemaError(
                f"file is {size} bytes, larger than any metadata file "
                f"({MAX_XML_BYTES} bytes); is it really Salesforce metadata?",
                path=path,
            )
        root = SafeElementTree.parse(str(path)).getroot()
    except ParseError as exc:
        raise SchemaError(_not_utf8(path) or f"malformed XML ({exc}); fix or remove the file",
                          path=path) from exc
    except DefusedXmlException as exc:
        raise SchemaError(
            f"XML uses entities or DTDs, which metadata never needs ({type(exc).__name__})",
            path=path,
        ) from exc
    except OSError as exc:
        raise SchemaError(f"cannot read file ({exc.strerror or exc})", path=path) from exc
    except LookupError as exc:
        # <?xml ... encoding="bogus"?>: expat knows no such encoding
        raise SchemaError(f"XML declares an encoding Python does not know ({exc}); save the "
                          "file as UTF-8 and declare encoding=\"UTF-8\"", path=path) from exc
    except ValueError as exc:
        raise SchemaError(f"cannot decode the XML ({exc}); save the file as UTF-8",
                          path=path) from exc
    if local_name(root) != expected_root:
        raise SchemaError(
            f"expected a <{expected_root}> document, found <{local_name(root)}>",
            path=path,
        )
    return root


def _not_utf8(path: Path) -> str | None:
    """Why a file that did not parse is not UTF-8, when that is the reason; else ``None``.

    A file saved in Latin-1 or Windows-1252 without an encoding declaration fails as
    "not well-formed (invalid token)", which sends users looking for an XML mistake.
    """
    try:
        data = path.read_bytes()
    except OSError:
        return None
    declaration = re.match(rb"\s*<\?xml[^>]*encoding=[\"']([^\"']+)", data)
    if declaration is not None and declaration.group(1).lower() not in (b"utf-8", b"utf8"):
        return None  # it names its own encoding; the parse error is something else
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (f"the file is not UTF-8 ({undecodable_at(exc)}); metadata files are UTF-8: "
                "re-save it as UTF-8 (or declare its encoding in <?xml ... encoding=...?>)")
    return None


def _parse_bool(text: str | None) -> bool:
    return (text or "").strip().lower() == "true"


def _parse_int(
    element: Element, name: str, *, path: Path, sobject: str, field: str
) -> int | None:
    text = child_text(element, name)
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise SchemaError(
            f"<{name}> must be a whole number, found {text!r}",
            path=path,
            sobject=sobject,
            field=field,
        ) from None
    if value < 0:
        raise SchemaError(
            f"<{name}> must not be negative, found {value}", path=path, sobject=sobject, field=field
        )
    return value


def _picklist_values(element: Element) -> tuple[tuple[PicklistValue, ...], str | None]:
    """Values of a picklist in either the current (``valueSet``) or the legacy
    (``picklist/picklistValues``) layout, plus the global value set name if used."""
    values: list[PicklistValue] = []
    value_set_name: str | None = None
    for value_set in children(element, "valueSet"):
        value_set_name = child_text(value_set, "valueSetName") or value_set_name
        for definition in children(value_set, "valueSetDefinition"):
            for value in children(definition, "value"):
                api_value = child_text(value, "fullName")
                if api_value is None:
                    continue
                values.append(
                    PicklistValue(
                        value=api_value,
                        label=child_text(value, "label"),
                        default=_parse_bool(child_text(value, "default")),
                        active=child_text(value, "isActive") != "false",
                    )
                )
    for legacy in children(element, "picklist"):
        for value in children(legacy, "picklistValues"):
            api_value = child_text(value, "fullName")
            if api_value is None:
                continue
            values.append(
                PicklistValue(
                    value=api_value,
                    label=api_value,
                    default=_parse_bool(child_text(value, "default")),
                )
            )
    return tuple(values), value_set_name


def parse_custom_field(
    element: Element,
    *,
    path: Path,
    sobject: str,
    log: ProblemLog,
    expected_name: str | None = None,
) -> FieldMeta | None:
    """Turn one ``<CustomField>`` (sfdx) or ``<fields>`` (mdapi) element into a
    :class:`FieldMeta`; ``None`` when lenient mode skipped it (the log says why)."""
    name = child_text(element, "fullName") or expected_name
    if name is None:
        log.problem(
            "field has no <fullName>; every field needs its API name", path=path, sobject=sobject
        )
        return None
    # API names are case-insensitive: lower__c.field-meta.xml may hold Lower__c (the tag's
    # spelling is the name)
    if expected_name is not None and name.lower() != expected_name.lower():
        log.problem(
            f"<fullName> {name!r} does not match the file name {expected_name!r}; rename the "
            "file or fix the tag",
            path=path,
            sobject=sobject,
            field=name,
        )
        return None
    is_custom = name.endswith("__c")
    type_name = child_text(element, "type")
    if type_name is None:
        if is_custom:
            log.problem(
                "custom field has no <type>; add the field type (e.g. <type>Text</type>)",
                path=path,
                sobject=sobject,
                field=name,
            )
            return None
        kind = DataKind.UNKNOWN
        log.note(
            "standard field declares no <type>; kept with kind 'unknown'",
            path=path,
            sobject=sobject,
            field=name,
        )
    else:
        found = kind_from_metadata_type(type_name)
        if found is None:
            log.problem(
                f"unknown field type {type_name!r}; expected a Metadata API FieldType such as "
                "Text, Number, Currency, Picklist, Checkbox, Date or Lookup",
                path=path,
                sobject=sobject,
                field=name,
            )
            return None
        kind = found
    label = child_text(element, "label")
    if label is None and is_custom:
        log.problem(
            "custom field has no <label>; Salesforce requires one",
            path=path,
            sobject=sobject,
            field=name,
        )
        return None
    try:
        picklist_values, value_set_name = _picklist_values(element)
        formula = child_text(element, "formula")
        type_lower = (type_name or "").lower()
        attributes: dict[str, Any] = {
            "api_name": name,
            "label": label,
            "kind": kind,
            "source_type": type_name,
            "length": _parse_int(element, "length", path=path, sobject=sobject, field=name),
            "precision": _parse_int(element, "precision", path=path, sobject=sobject, field=name),
            "scale": _parse_int(element, "scale", path=path, sobject=sobject, field=name),
            "description": child_text(element, "description"),
            "help_text": child_text(element, "inlineHelpText"),
            "picklist_values": picklist_values,
            "value_set_name": value_set_name,
            "reference_to": tuple(
                (ref.text or "").strip()
                for ref in children(element, "referenceTo")
                if (ref.text or "").strip()
            ),
            "relationship_name": child_text(element, "relationshipName"),
            "formula": formula,
            "default_value": child_text(element, "defaultValue"),
            "required": _parse_bool(child_text(element, "required")),
            "unique": _parse_bool(child_text(element, "unique")),
            "external_id": _parse_bool(child_text(element, "externalId")),
            "is_formula": formula is not None,
            "is_rollup_summary": type_lower == "summary",
            "is_master_detail": type_lower == "masterdetail",
            "summary_operation": child_text(element, "summaryOperation"),
            "summarized_field": child_text(element, "summarizedField"),
            "source": str(path),
        }
    except SchemaError as exc:
        log.problem(exc.reason, path=path, sobject=sobject, field=name)
        return None
    try:
        return FieldMeta(**attributes)
    except ValidationError as exc:
        log.problem(f"invalid field ({describe_validation_error(exc, _XML_TAGS)})",
                    path=path, sobject=sobject, field=name.strip() or None)
        return None


def add_inline_fields(root: Element, fields: dict[str, FieldMeta], *, path: Path, sobject: str,
                      log: ProblemLog) -> None:
    """Add the ``<fields>`` elements of an object file (Metadata API; an sfdx object file may
    keep them too) to ``fields`` (lower-cased API name → field); a field already there is
    named as defined twice and skipped."""
    for element in children(root, "fields"):
        field = parse_custom_field(element, path=path, sobject=sobject, log=log)
        if field is None:
            continue
        key = field.api_name.lower()
        if key in fields:
            log.problem("field defined twice in this file; keep one <fields> element",
                        path=path, sobject=sobject, field=field.api_name)
            continue
        fields[key] = field


def parse_name_field(element: Element, *, path: Path, sobject: str) -> FieldMeta | None:
    """The ``Name`` field a custom object declares in ``<nameField>``, if any."""
    for name_field in children(element, "nameField"):
        type_name = child_text(name_field, "type") or "Text"
        kind = DataKind.AUTO_NUMBER if type_name.lower() == "autonumber" else DataKind.TEXT
        return FieldMeta(
            api_name="Name",
            label=child_text(name_field, "label"),
            kind=kind,
            source_type=type_name,
            description=child_text(name_field, "description"),
            is_name_field=True,
            required=True,
            source=str(path),
        )
    return None


def object_attributes(root: Element) -> dict[str, str | None]:
    """Object-level label, plural label and description of a ``<CustomObject>``."""
    return {
        "label": child_text(root, "label"),
        "plural_label": child_text(root, "pluralLabel"),
        "description": child_text(root, "description"),
    }


def build_object(
    log: ProblemLog, *, path: str | Path | None, name: str, **attributes: Any
) -> SObjectSchema | None:
    """An :class:`SObjectSchema`, or ``None`` (logged as a problem naming ``path``) when the
    metadata gives it invalid attributes, e.g. a blank object name."""
    try:
        return SObjectSchema(api_name=name, **attributes)
    except ValidationError as exc:
        log.problem(f"invalid object ({describe_validation_error(exc, _XML_TAGS)})",
                    path=path, sobject=name.strip() or None)
        return None


def complete_objects(objects: list[SObjectSchema], root: Path, value_set_files: list[Path],
                     log: ProblemLog) -> tuple[SObjectSchema, ...]:
    """What the sfdx and Metadata API loaders do once every object is read: picklists get
    their value sets' values (``value_set_files`` found under ``root``, see
    :func:`is_value_set_file`), and roll-up summaries the kind of what they compute."""
    sets = _load_value_sets(_value_set_files(root, value_set_files, log), log)
    return tuple(_resolve_rollup_kinds(_apply_value_sets(objects, sets, log)))


def _resolve_rollup_kinds(objects: list[SObjectSchema]) -> list[SObjectSchema]:
    """Give each roll-up summary the kind of what it computes.

    Metadata XML types every roll-up ``Summary``; its value is a count (``count``) or has the
    summarised child field's kind (``sum``, ``min``, ``max``: the first or last date of a
    child's dates is a date). Without this the matcher saw "Customer since" computed as the
    ``min`` of order dates as a number and abstained. A standard field of the child, which
    metadata source seldom holds (``MIN(Opportunity.CloseDate)``, ``SUM(Opportunity.Amount)``),
    takes its kind from :func:`standard_field_kind`. A summarised field that is neither
    (another package's, or a typo) leaves the kind a number. A roll-up of a roll-up takes the
    kind its source resolved to (passes repeat until nothing changes).
    """
    for _ in range(len(objects) + 1):  # a chain resolves one link a pass; cycles stay numbers
        objects, changed = _resolve_rollup_kinds_once(objects)
        if not changed:
            break
    return objects


def _resolve_rollup_kinds_once(objects: list[SObjectSchema]
                               ) -> tuple[list[SObjectSchema], bool]:
    """One pass of :func:`_resolve_rollup_kinds`: the objects, and whether a kind changed."""
    by_name = {o.api_name.lower(): o for o in objects}
    resolved = []
    any_change = False
    for sobject in objects:
        fields = list(sobject.fields)
        changed = False
        for position, meta in enumerate(fields):
            operation = (meta.summary_operation or "").lower()
            if not meta.is_rollup_summary or operation not in ("sum", "min", "max") \
                    or not meta.summarized_field or "." not in meta.summarized_field:
                continue
            child_name, _, field_name = meta.summarized_field.partition(".")
            child = by_name.get(child_name.lower())
            source = next((f for f in child.fields if f.api_name.lower() == field_name.lower()),
                          None) if child is not None else None
            # a standard field in source usually declares no type (kind unknown): a retrieve
            # of Opportunity holds CloseDate.field-meta.xml without one
            kind = source.kind if source is not None and source.kind is not DataKind.UNKNOWN \
                else standard_field_kind(child_name, field_name)
            wanted = ("numeric",) if operation == "sum" else ("numeric", "temporal")
            if kind is not None and kind.family in wanted and kind is not meta.kind:
                fields[position] = meta.model_copy(update={"kind": kind})
                changed = True
        resolved.append(sobject.model_copy(update={"fields": tuple(fields)}) if changed
                        else sobject)
        any_change |= changed
    return resolved, any_change


#: system fields every object has (Salesforce Object Reference, "System Fields")
_SYSTEM_FIELD_KINDS = {"createddate": DataKind.DATETIME, "lastmodifieddate": DataKind.DATETIME,
                       "systemmodstamp": DataKind.DATETIME}
#: number, currency and date fields of the standard line-item objects, which roll-up summaries
#: of Opportunity, Order and Quote summarise (Salesforce Object Reference: OpportunityLineItem,
#: OrderItem, QuoteLineItem); the ontology's standard objects come from the ontology
_LINE_ITEM_KINDS = {
    **{(item, "quantity"): DataKind.NUMBER
       for item in ("opportunitylineitem", "orderitem", "quotelineitem")},
    **{(item, price): DataKind.CURRENCY
       for item in ("opportunitylineitem", "orderitem", "quotelineitem")
       for price in ("unitprice", "totalprice", "listprice")},
    **{(item, "servicedate"): DataKind.DATE
       for item in ("opportunitylineitem", "orderitem", "quotelineitem")},
    ("opportunitylineitem", "discount"): DataKind.PERCENT,
    ("quotelineitem", "discount"): DataKind.PERCENT,
    ("quotelineitem", "subtotal"): DataKind.CURRENCY,
    ("orderitem", "enddate"): DataKind.DATE,
}


def standard_field_kind(sobject: str, field: str) -> DataKind | None:
    """The kind of a standard field that metadata source seldom holds: a system date-time,
    a standard line item's amount or date, or a standard field of the ontology's objects
    (``Opportunity.CloseDate`` is a date, ``Opportunity.Amount`` a currency); None if unknown."""
    key = (sobject.lower(), field.lower())
    if key[1] in _SYSTEM_FIELD_KINDS:
        return _SYSTEM_FIELD_KINDS[key[1]]
    if key in _LINE_ITEM_KINDS:
        return _LINE_ITEM_KINDS[key]
    from fedcrm.ontology import load_ontology  # the ontology lists the standard fields

    try:
        concepts = load_ontology().concepts
    except Exception:  # no ontology: the kind stays unknown, not an error
        return None
    return next((concept.kind for concept in concepts
                 if concept.standard_field and concept.object.lower() == key[0]
                 and concept.standard_field.lower() == key[1]), None)


#: file names of global and standard value sets in sfdx source and a Metadata API retrieve:
#: suffix → (root element, value element, kind)
_VALUE_SET_FILES = {
    ".globalValueSet-meta.xml": ("GlobalValueSet", "customValue", "global"),
    ".globalValueSet": ("GlobalValueSet", "customValue", "global"),
    ".standardValueSet-meta.xml": ("StandardValueSet", "standardValue", "standard"),
    ".standardValueSet": ("StandardValueSet", "standardValue", "standard"),
}

#: the standard value set each standard picklist of the ontology's objects takes its values
#: from (Metadata API Developer Guide, "StandardValueSet Names and Standard Picklist Fields")
STANDARD_VALUE_SETS = {
    ("account", "industry"): "Industry", ("lead", "industry"): "Industry",
    ("account", "type"): "AccountType", ("account", "rating"): "AccountRating",
    ("lead", "rating"): "AccountRating", ("account", "ownership"): "AccountOwnership",
    ("account", "accountsource"): "LeadSource", ("lead", "leadsource"): "LeadSource",
    ("contact", "leadsource"): "LeadSource", ("opportunity", "leadsource"): "LeadSource",
    ("lead", "status"): "LeadStatus", ("opportunity", "stagename"): "OpportunityStage",
    ("opportunity", "type"): "OpportunityType", ("contact", "salutation"): "Salutation",
    ("lead", "salutation"): "Salutation", ("case", "origin"): "CaseOrigin",
    ("case", "priority"): "CasePriority", ("case", "reason"): "CaseReason",
    ("case", "status"): "CaseStatus", ("case", "type"): "CaseType",
}


def is_value_set_file(file: Path) -> bool:
    """True for a ``globalValueSets/`` or ``standardValueSets/`` value set file."""
    return file.name.endswith(tuple(_VALUE_SET_FILES))


def _value_set_files(root: Path, found: list[Path], log: ProblemLog) -> list[Path]:
    """The value set files of an org: ``found`` (under ``root``) plus, when ``root`` is an
    ``objects/`` folder, those in its sibling ``globalValueSets/`` and ``standardValueSets/``
    folders."""
    files = list(found)
    if root.is_dir() and root.name.lower() == "objects":
        for sibling in (root.parent / "globalValueSets", root.parent / "standardValueSets"):
            if sibling.is_dir():
                files += [f for f in walk_files(sibling, log=log) if is_value_set_file(f)]
    return files


def _load_value_sets(files: list[Path],
                     log: ProblemLog) -> dict[str, tuple[PicklistValue, ...]]:
    """Each value set's values, by ``"global:<name>"`` / ``"standard:<name>"`` (lower case;
    the name is the file name)."""
    sets: dict[str, tuple[PicklistValue, ...]] = {}
    for file in files:
        suffix = next(s for s in _VALUE_SET_FILES if file.name.endswith(s))
        root_tag, value_tag, kind = _VALUE_SET_FILES[suffix]
        key = f"{kind}:{file.name[: -len(suffix)].lower()}"
        try:
            root = parse_xml_file(file, root_tag)
        except SchemaError as exc:
            log.problem(exc.reason, path=file)
            continue
        values = tuple(
            PicklistValue(value=api_value, label=child_text(value, "label"),
                          default=_parse_bool(child_text(value, "default")),
                          active=child_text(value, "isActive") != "false")
            for value in children(root, value_tag)
            if (api_value := child_text(value, "fullName")) is not None
        )
        if key in sets:
            log.problem("value set defined twice; keep one file", path=file)
            continue
        sets[key] = values
    return sets


def _apply_value_sets(objects: list[SObjectSchema],
                      sets: dict[str, tuple[PicklistValue, ...]],
                      log: ProblemLog | None = None) -> list[SObjectSchema]:
    """Give each picklist without values of its own the values of its value set: a global
    value set it names (``<valueSetName>``), or for a standard picklist (``Industry``) its
    standard value set (:data:`STANDARD_VALUE_SETS`).

    Such a field's own metadata lists no values; without this they reached the matcher with
    none. A set not in the metadata leaves them empty; a global one it names is noted in
    ``log`` (the field loaded with no values and no word of why).
    """

    def values_of(sobject: SObjectSchema, meta: FieldMeta) -> tuple[PicklistValue, ...] | None:
        if meta.picklist_values:
            return None
        if meta.value_set_name:
            values = sets.get(f"global:{meta.value_set_name.lower()}")
            if values is None and log is not None:
                log.note(f"its values are in the global value set {meta.value_set_name!r}, "
                         "which the metadata given does not hold; retrieve globalValueSets/"
                         f"{meta.value_set_name}.globalValueSet-meta.xml with it to have them",
                         sobject=sobject.api_name, field=meta.api_name)
            return values
        standard = STANDARD_VALUE_SETS.get((sobject.api_name.lower(), meta.api_name.lower()))
        if standard is None or meta.kind.family != "categorical":
            return None
        return sets.get(f"standard:{standard.lower()}")

    resolved = []
    for sobject in objects:
        fields = tuple(
            meta if (values := values_of(sobject, meta)) is None
            else meta.model_copy(update={"picklist_values": values})
            for meta in sobject.fields
        )
        resolved.append(sobject if fields == sobject.fields
                        else sobject.model_copy(update={"fields": fields}))
    return resolved
