"""Load Metadata API format: one ``objects/<Object>.object`` file per object, whose
``<fields>`` elements are the fields."""

from __future__ import annotations

from pathlib import Path

from fedcrm.errors import SchemaError
from fedcrm.schema._files import folder_org_id, walk_files
from fedcrm.schema._metadata_xml import (
    add_inline_fields,
    build_object,
    complete_objects,
    is_value_set_file,
    object_attributes,
    parse_name_field,
    parse_xml_file,
)
from fedcrm.schema._problems import ProblemLog
from fedcrm.schema.models import FieldMeta, OrgSchema, SObjectSchema, SourceFormat

OBJECT_SUFFIX = ".object"


def is_mdapi_source(path: Path) -> bool:
    """True if ``path`` is a ``.object`` file or a folder holding some."""
    if path.is_file():
        return path.name.endswith(OBJECT_SUFFIX)
    return path.is_dir() and any(f.name.endswith(OBJECT_SUFFIX) for f in walk_files(path))


def load_mdapi(path: str | Path, *, org_id: str | None = None, strict: bool = True) -> OrgSchema:
    """Load every ``.object`` file under ``path`` (or the single file ``path``)."""
    root = Path(path)
    log = ProblemLog(strict=strict)
    value_set_files: list[Path] = []
    if root.is_file():
        files = [root]
        default_org = root.stem
    elif root.is_dir():
        every_file = list(walk_files(root, log=log))
        files = [f for f in every_file if f.name.endswith(OBJECT_SUFFIX)]
        value_set_files = [f for f in every_file if is_value_set_file(f)]
        default_org = folder_org_id(root)
    else:
        raise SchemaError("no such file or folder", path=root)
    if not files:
        raise SchemaError(
            "no Metadata API object files found (expected objects/<Object>.object)", path=root
        )
    objects: dict[str, SObjectSchema] = {}
    for file in files:
        name = file.name[: -len(OBJECT_SUFFIX)]
        if name.lower() in objects:
            log.problem(
                f"object defined twice (also in {objects[name.lower()].source}); keep one file",
                path=file,
                sobject=name,
            )
            continue
        sobject = _load_object_file(file, name, log)
        if sobject is not None:
            objects[name.lower()] = sobject
    return OrgSchema(
        org_id=org_id or default_org,
        source_format=SourceFormat.MDAPI,
        source=str(root),
        objects=complete_objects(sorted(objects.values(), key=lambda o: o.api_name.lower()),
                                 root, value_set_files, log),
        warnings=tuple(log.warnings),
    )


def _load_object_file(file: Path, name: str, log: ProblemLog) -> SObjectSchema | None:
    try:
        root = parse_xml_file(file, "CustomObject")
    except SchemaError as exc:
        log.problem(exc.reason, path=file, sobject=name)
        return None
    fields: dict[str, FieldMeta] = {}
    add_inline_fields(root, fields, path=file, sobject=name, log=log)
    name_field = parse_name_field(root, path=file, sobject=name)
    if name_field is not None:
        fields.setdefault("name", name_field)
    return build_object(
        log,
        path=file,
        name=name,
        fields=tuple(sorted(fields.values(), key=lambda f: f.api_name.lower())),
        source=str(file),
        **object_attributes(root),
    )
