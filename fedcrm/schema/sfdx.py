"""Load Salesforce DX source format: ``objects/<Object>/fields/<Field>.field-meta.xml`` and
``objects/<Object>/<Object>.object-meta.xml``, anywhere under a project folder."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from fedcrm.errors import SchemaError
from fedcrm.schema._files import folder_org_id, walk_files
from fedcrm.schema._metadata_xml import (
    add_inline_fields,
    build_object,
    complete_objects,
    is_value_set_file,
    object_attributes,
    parse_custom_field,
    parse_name_field,
    parse_xml_file,
)
from fedcrm.schema._problems import ProblemLog
from fedcrm.schema.models import FieldMeta, OrgSchema, SObjectSchema, SourceFormat

FIELD_SUFFIX = ".field-meta.xml"
OBJECT_SUFFIX = ".object-meta.xml"


def is_sfdx_source(path: Path) -> bool:
    """True if ``path`` is a folder holding sfdx-format object metadata."""
    if not path.is_dir():
        return False
    return any(
        f.name.endswith((FIELD_SUFFIX, OBJECT_SUFFIX)) for f in walk_files(path)
    )


def load_sfdx(path: str | Path, *, org_id: str | None = None, strict: bool = True) -> OrgSchema:
    """Load every object and field under an sfdx project or ``objects/`` folder.

    Objects that appear in several package directories are merged; a field defined twice
    is an error (strict) or kept once with a warning (lenient).
    """
    root = Path(path)
    if not root.is_dir():
        raise SchemaError("not a folder; give an sfdx project or its objects/ folder", path=root)
    log = ProblemLog(strict=strict)
    # keyed by lower-case name: API names are case-insensitive, so package folders
    # objects/Account and objects/account hold one object (it was "defined twice")
    field_files: dict[str, list[Path]] = defaultdict(list)
    object_files: dict[str, list[Path]] = defaultdict(list)
    spelling: dict[str, str] = {}
    value_set_files: list[Path] = []
    for file in walk_files(root, log=log):
        if is_value_set_file(file):
            value_set_files.append(file)
        elif file.name.endswith(FIELD_SUFFIX):
            # objects/<Object>/fields/<Field>: a fields/ folder elsewhere (force-app/main/
            # default/fields/) named a made-up object after the folder above it ("default")
            # (the folder given may itself be the objects folder under another name, or one
            # object's folder)
            object_folder = file.parent.parent
            if file.parent.name != "fields" or not (
                    object_folder.parent.name.lower() == "objects"
                    or root.resolve() in (object_folder.resolve(),
                                          object_folder.parent.resolve())):
                log.problem(
                    "field file is not inside an objects/<Object>/fields/ folder; move it there "
                    "so its object is known",
                    path=file,
                )
                continue
            object_name = file.parent.parent.name
            spelling.setdefault(object_name.lower(), object_name)
            field_files[object_name.lower()].append(file)
        elif file.name.endswith(OBJECT_SUFFIX):
            object_name = file.name[: -len(OBJECT_SUFFIX)]
            if file.parent.name != object_name:
                log.problem(
                    f"object file for {object_name!r} sits in folder {file.parent.name!r}; "
                    "sfdx expects objects/<Object>/<Object>.object-meta.xml",
                    path=file,
                    sobject=object_name,
                )
                continue
            spelling[object_name.lower()] = object_name  # the object file's spelling wins
            object_files[object_name.lower()].append(file)
    if not field_files and not object_files and not any(w.skipped for w in log.warnings):
        raise SchemaError(
            "no sfdx object metadata found (expected objects/<Object>/fields/"
            "<Field>.field-meta.xml files; retrieve them into the project with `sf project "
            "retrieve start --metadata CustomObject`)",
            path=root,
        )
    objects: list[SObjectSchema] = []
    for key in sorted(set(field_files) | set(object_files)):
        sobject = _load_object(
            spelling[key], object_files.get(key, []), field_files.get(key, []), log
        )
        if sobject is not None:
            objects.append(sobject)
    return OrgSchema(
        org_id=org_id or folder_org_id(root),
        source_format=SourceFormat.SFDX,
        source=str(root),
        objects=complete_objects(objects, root, value_set_files, log),
        warnings=tuple(log.warnings),
    )


def _load_object(
    name: str, object_files: list[Path], field_files: list[Path], log: ProblemLog
) -> SObjectSchema | None:
    attributes: dict[str, str | None] = {"label": None, "plural_label": None, "description": None}
    fields: dict[str, FieldMeta] = {}
    source: str | None = None
    for object_file in object_files:
        try:
            root = parse_xml_file(object_file, "CustomObject")
        except SchemaError as exc:
            log.problem(exc.reason, path=object_file, sobject=name)
            continue
        source = source or str(object_file)
        for key, value in object_attributes(root).items():
            attributes[key] = attributes[key] or value
        # an object file converted from the Metadata API may still declare its fields inline
        # (<fields> elements); they were dropped without a word
        add_inline_fields(root, fields, path=object_file, sobject=name, log=log)
        name_field = parse_name_field(root, path=object_file, sobject=name)
        if name_field is not None:
            fields.setdefault("name", name_field)
    for field_file in field_files:
        expected = field_file.name[: -len(FIELD_SUFFIX)]
        try:
            root = parse_xml_file(field_file, "CustomField")
        except SchemaError as exc:
            log.problem(exc.reason, path=field_file, sobject=name, field=expected)
            continue
        field = parse_custom_field(
            root, path=field_file, sobject=name, log=log, expected_name=expected
        )
        if field is None:
            continue
        key = field.api_name.lower()
        if key in fields and not fields[key].is_name_field:
            log.problem(
                f"field defined twice (also in {fields[key].source}); keep one definition",
                path=field_file,
                sobject=name,
                field=field.api_name,
            )
            continue
        fields[key] = field
    source = source or (str(field_files[0].parent.parent) if field_files else None)
    return build_object(
        log,
        path=source,
        name=name,
        fields=tuple(sorted(fields.values(), key=lambda f: f.api_name.lower())),
        source=source,
        **attributes,
    )
