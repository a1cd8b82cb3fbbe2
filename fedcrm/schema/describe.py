"""Load REST describe JSON, as ``simple_salesforce`` returns it from ``sf.Account.describe()``.

Accepted shapes: one object's describe; a list of them; a bundle ``{"sobjects": [...]}``;
a mapping ``{"Account": {...}, ...}``; a ``.json`` file holding any of these; or a folder of
such files. Field keys follow the REST API's ``DescribeSObjectResult`` / ``Field``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from fedcrm._files import undecodable_at
from fedcrm.errors import SchemaError, validation_problems
from fedcrm.schema._files import folder_org_id, is_tool_json, walk_files
from fedcrm.schema._problems import ProblemLog, describe_validation_error
from fedcrm.schema.models import FieldMeta, OrgSchema, PicklistValue, SObjectSchema, SourceFormat
from fedcrm.schema.types import kind_from_describe

#: describe files of even the largest orgs are a few MB per object
MAX_JSON_BYTES = 200 * 1024 * 1024

#: FieldMeta / SObjectSchema attribute → the describe key it comes from, for error messages
_DESCRIBE_KEYS = {"api_name": "name", "help_text": "inlineHelpText",
                  "reference_to": "referenceTo", "relationship_name": "relationshipName",
                  "formula": "calculatedFormula", "default_value": "defaultValue",
                  "plural_label": "labelPlural"}


class _DescribePicklistValue(BaseModel):
    model_config = ConfigDict(extra="allow")
    value: str
    label: str | None = None
    active: bool = True
    defaultValue: bool = False  # noqa: N815 (REST key)


class _DescribeField(BaseModel):
    """The subset of a describe ``Field`` fedcrm reads; everything else is allowed and ignored."""

    model_config = ConfigDict(extra="allow")
    name: str
    type: str
    label: str | None = None
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    inlineHelpText: str | None = None  # noqa: N815
    picklistValues: list[_DescribePicklistValue] = []  # noqa: N815
    referenceTo: list[str] = []  # noqa: N815
    relationshipName: str | None = None  # noqa: N815
    calculated: bool = False
    calculatedFormula: str | None = None  # noqa: N815
    defaultValue: Any = None  # noqa: N815
    nillable: bool = True
    createable: bool = True
    defaultedOnCreate: bool = False  # noqa: N815
    unique: bool = False
    externalId: bool = False  # noqa: N815
    nameField: bool = False  # noqa: N815
    cascadeDelete: bool = False  # noqa: N815

    @field_validator("picklistValues", "referenceTo", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


def _is_object_describe(value: Any) -> bool:
    return isinstance(value, Mapping) and "name" in value and "fields" in value


def _is_global_describe(data: Any) -> bool:
    """True for a global describe (``sf.describe()``): object names, no fields."""
    if not isinstance(data, Mapping) or not isinstance(data.get("sobjects"), list):
        return False
    sobjects = data["sobjects"]
    return bool(sobjects) and not any(_is_object_describe(s) for s in sobjects)


def _describes_in(data: Any, *, path: str) -> list[Mapping[str, Any]]:
    """Object describes contained in one JSON document, whatever its shape."""
    if _is_object_describe(data):
        return [data]
    if isinstance(data, list):
        found: list[Mapping[str, Any]] = []
        for item in data:
            found.extend(_describes_in(item, path=path))
        return found
    if isinstance(data, Mapping):
        if "sobjects" in data:
            if _is_global_describe(data):
                raise SchemaError(
                    "this is a global describe (object names only, no fields); describe each "
                    "object (sf.<Object>.describe()) or load the live org with load_live()",
                    path=path,
                )
            return _describes_in(data["sobjects"], path=path)
        if "result" in data and "status" in data:
            # the Salesforce CLI's --json envelope: {"status": 0, "result": {describe}}
            return _describes_in(data["result"], path=path)
        values = list(data.values())
        if values and all(_is_object_describe(v) for v in values):
            return list(values)
    raise SchemaError(
        "not a REST describe: expected an object describe with 'name' and 'fields', a list of "
        "them, or a bundle {'sobjects': [...]}",
        path=path,
    )


def _read_json(path: Path) -> Any:
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise SchemaError(f"file is {size} bytes, too large for a describe", path=path)
        with path.open("rb") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise SchemaError(
            f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", path=path
        ) from exc
    except UnicodeDecodeError as exc:
        raise SchemaError(f"file is not UTF-8 text ({undecodable_at(exc)}); describe JSON is "
                          "UTF-8: re-save it as UTF-8", path=path) from exc
    except ValueError as exc:
        # e.g. an integer of more than 4300 digits (Python's int-conversion limit)
        raise SchemaError(f"unreadable JSON ({str(exc).split(';')[0]}); no describe holds "
                          "such values", path=path) from exc
    except RecursionError:
        raise SchemaError("JSON nested too deeply to be a describe", path=path) from None
    except OSError as exc:
        raise SchemaError(f"cannot read file ({exc.strerror or exc})", path=path) from exc


def field_from_describe(
    raw: Any, *, sobject: str, source: str, log: ProblemLog
) -> FieldMeta | None:
    """One describe field dict → :class:`FieldMeta` (``None`` if lenient mode skipped it)."""
    name = raw.get("name") if isinstance(raw, Mapping) else None
    try:
        parsed = _DescribeField.model_validate(raw)
    except ValidationError as exc:
        log.problem(f"invalid describe field ({validation_problems(exc, root='field')})",
                    path=source, sobject=sobject, field=name if isinstance(name, str) else None)
        return None
    kind = kind_from_describe(parsed.model_dump())
    if kind is None:
        log.problem(
            f"unknown describe type {parsed.type!r}; expected a REST field type such as "
            "string, double, currency, picklist, boolean, date or reference",
            path=source,
            sobject=sobject,
            field=parsed.name,
        )
        return None
    default = parsed.defaultValue
    try:
        return FieldMeta(
            api_name=parsed.name,
            label=parsed.label,
            kind=kind,
            source_type=parsed.type,
            length=parsed.length or None,
            precision=parsed.precision or None,
            scale=parsed.scale if parsed.precision else None,
            help_text=parsed.inlineHelpText,
            picklist_values=tuple(
                PicklistValue(value=v.value, label=v.label, active=v.active, default=v.defaultValue)
                for v in parsed.picklistValues
            ),
            reference_to=tuple(parsed.referenceTo),
            relationship_name=parsed.relationshipName,
            formula=parsed.calculatedFormula,
            default_value=None if default is None else str(default),
            required=not parsed.nillable and parsed.createable and not parsed.defaultedOnCreate,
            unique=parsed.unique,
            external_id=parsed.externalId,
            is_formula=parsed.calculated and parsed.calculatedFormula is not None,
            is_master_detail=parsed.cascadeDelete and parsed.type == "reference",
            is_name_field=parsed.nameField,
            source=source,
        )
    except ValidationError as exc:
        log.problem(f"invalid describe field ({describe_validation_error(exc, _DESCRIBE_KEYS)})",
                    path=source, sobject=sobject, field=parsed.name.strip() or None)
        return None


def sobject_from_describe(
    describe: Mapping[str, Any], *, source: str, log: ProblemLog
) -> SObjectSchema | None:
    """One object describe → :class:`SObjectSchema` (``None`` if lenient mode skipped it)."""
    name = describe.get("name")
    raw_fields = describe.get("fields")
    if not isinstance(name, str) or not name.strip():
        log.problem("object describe has no 'name'", path=source)
        return None
    if not isinstance(raw_fields, list):
        log.problem("'fields' must be a list", path=source, sobject=name)
        return None
    fields: dict[str, FieldMeta] = {}
    for raw in raw_fields:
        field = field_from_describe(raw, sobject=name, source=source, log=log)
        if field is None:
            continue
        key = field.api_name.lower()
        if key in fields:
            log.problem("field listed twice in the describe; keep one", path=source,
                        sobject=name, field=field.api_name)
            continue
        fields[key] = field
    label = describe.get("label")
    plural = describe.get("labelPlural")
    try:
        return SObjectSchema(
            api_name=name,
            label=label if isinstance(label, str) else None,
            plural_label=plural if isinstance(plural, str) else None,
            fields=tuple(fields.values()),
            source=source,
        )
    except ValidationError as exc:
        log.problem(f"invalid object describe ({describe_validation_error(exc, _DESCRIBE_KEYS)})",
                    path=source, sobject=name)
        return None


def schema_from_describes(
    describes: Iterable[tuple[Mapping[str, Any], str]],
    *,
    org_id: str,
    source_format: SourceFormat,
    source: str | None,
    log: ProblemLog,
) -> OrgSchema:
    """Build an org from (describe, where-it-came-from) pairs; shared by file and live loading."""
    objects: dict[str, SObjectSchema] = {}
    for describe, origin in describes:
        sobject = sobject_from_describe(describe, source=origin, log=log)
        if sobject is None:
            continue
        key = sobject.api_name.lower()
        if key in objects:
            log.problem(f"object described twice (also in {objects[key].source})",
                        path=origin, sobject=sobject.api_name)
            continue
        objects[key] = sobject
    return OrgSchema(
        org_id=org_id,
        source_format=source_format,
        source=source,
        objects=tuple(sorted(objects.values(), key=lambda o: o.api_name.lower())),
        warnings=tuple(log.warnings),
    )


def load_describe(
    source: str | Path | Mapping[str, Any] | list[Any],
    *,
    org_id: str | None = None,
    strict: bool = True,
) -> OrgSchema:
    """Load describe JSON from a file, a folder of ``.json`` files, or already-parsed data."""
    log = ProblemLog(strict=strict)
    pairs: list[tuple[Mapping[str, Any], str]] = []
    if isinstance(source, Mapping | list):
        if org_id is None:
            raise SchemaError("give org_id= when loading describe data from Python objects")
        for describe in _describes_in(source, path="<python>"):
            pairs.append((describe, f"describe:{describe.get('name')}"))
        return schema_from_describes(pairs, org_id=org_id, source_format=SourceFormat.DESCRIBE,
                                     source=None, log=log)
    path = Path(source)
    if path.is_dir():
        files = [f for f in walk_files(path, log=log) if f.suffix.lower() == ".json"
                 and not is_tool_json(f.relative_to(path))]
        if not files:
            raise SchemaError("no .json describe files in this folder", path=path)
        default_org = folder_org_id(path)
    elif path.is_file():
        files = [path]
        default_org = path.stem
    else:
        raise SchemaError("no such file or folder", path=path)
    for file in files:
        try:
            document = _read_json(file)
            if len(files) > 1 and _is_global_describe(document):
                log.note("global describe (object list only) next to the object describes; "
                         "nothing to load from it", path=file)
                continue
            describes = _describes_in(document, path=str(file))
        except SchemaError as exc:
            log.problem(exc.reason, path=file)
            continue
        except RecursionError:
            log.problem("JSON nested too deeply to be a describe", path=file)
            continue
        pairs.extend((d, str(file)) for d in describes)
    if not pairs and strict:
        raise SchemaError("no object describe in it (an empty list?); give the JSON of "
                          "sObject describe calls", path=path)
    return schema_from_describes(pairs, org_id=org_id or default_org,
                                 source_format=SourceFormat.DESCRIBE, source=str(path), log=log)
