"""``load_schema``: pick the right loader for whatever the user has."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from fedcrm.errors import SchemaError
from fedcrm.schema._files import is_tool_json, walk_files
from fedcrm.schema.describe import load_describe
from fedcrm.schema.live import is_salesforce_client, load_live
from fedcrm.schema.mdapi import OBJECT_SUFFIX as MDAPI_SUFFIX
from fedcrm.schema.mdapi import load_mdapi
from fedcrm.schema.models import OrgSchema
from fedcrm.schema.sfdx import FIELD_SUFFIX, load_sfdx
from fedcrm.schema.sfdx import OBJECT_SUFFIX as SFDX_SUFFIX

Format = Literal["auto", "sfdx", "mdapi", "describe", "live"]


def detect_format(path: Path) -> Literal["sfdx", "mdapi", "describe"]:
    """Which metadata format ``path`` holds; a clear error if none."""
    if not path.exists():
        raise SchemaError("no such file or folder", path=path)
    if path.is_file():
        if path.suffix.lower() == ".json":
            return "describe"
        if path.suffix.lower() == ".object":
            return "mdapi"
        zipped = (" (a .zip such as a Metadata API retrieve's unpackaged.zip: unzip it and "
                  "give the folder)" if path.suffix.lower() == ".zip" else "")
        raise SchemaError(
            "unsupported file; give an sfdx project folder, a Metadata API objects/ folder or "
            f".object file, or a describe .json file{zipped}",
            path=path,
        )
    try:
        next(path.iterdir(), None)
    except OSError as exc:
        raise SchemaError(f"cannot list this folder ({exc.strerror or exc})", path=path) from exc
    sfdx_file, mdapi_file = _first_metadata_files(path)
    if sfdx_file is not None and mdapi_file is not None:
        raise SchemaError(_mixed_formats_message(path, sfdx_file, mdapi_file), path=path)
    if sfdx_file is not None:
        return "sfdx"
    if mdapi_file is not None:
        return "mdapi"
    json_files = [f for f in walk_files(path) if f.suffix.lower() == ".json"]
    if any(not is_tool_json(f.relative_to(path)) for f in json_files):
        return "describe"
    if (path / "sfdx-project.json").is_file():
        # an sfdx project whose objects/ folders are empty: its JSON files are tool settings
        # (.vscode/settings.json), not describe output, so say what is missing
        return "sfdx"
    if json_files:
        return "describe"
    raise SchemaError(
        "no Salesforce metadata found: expected objects/<Object>/fields/*.field-meta.xml "
        "(sfdx), objects/<Object>.object (Metadata API) or describe .json files",
        path=path,
    )


def _first_metadata_files(path: Path) -> tuple[Path | None, Path | None]:
    """The first sfdx file and the first Metadata API ``.object`` file under ``path``."""
    sfdx_file = mdapi_file = None
    for file in walk_files(path):
        if sfdx_file is None and file.name.endswith((FIELD_SUFFIX, SFDX_SUFFIX)):
            sfdx_file = file
        elif mdapi_file is None and file.name.endswith(MDAPI_SUFFIX):
            mdapi_file = file
        if sfdx_file is not None and mdapi_file is not None:
            break
    return sfdx_file, mdapi_file


def _mixed_formats_message(path: Path, sfdx_file: Path, mdapi_file: Path) -> str:
    """Both formats in one folder: say where each is and how to load just one."""
    sfdx_part = sfdx_file.relative_to(path).parts
    mdapi_part = mdapi_file.relative_to(path).parts
    message = (f"holds both sfdx source (e.g. {Path(*sfdx_part)}) and Metadata API files "
               f"(e.g. {Path(*mdapi_part)}); fedcrm reads one format per org: ")
    if len(sfdx_part) > 1 and len(mdapi_part) > 1 and sfdx_part[0] != mdapi_part[0]:
        message += (f"load one of them by pointing at {path / sfdx_part[0]} or "
                    f"{path / mdapi_part[0]}")
    else:
        message += "move one format into a folder of its own and point at that folder"
    return message + (" (in Python, load_schema(..., format='sfdx' or 'mdapi') picks one "
                      "explicitly)")


def load_schema(
    source: str | Path | Any,
    *,
    org_id: str | None = None,
    strict: bool = True,
    format: Format = "auto",
) -> OrgSchema:
    """Load one org's metadata into an :class:`OrgSchema`.

    ``source`` is an sfdx project or ``objects/`` folder, a Metadata API folder or ``.object``
    file, a describe ``.json`` file or folder, parsed describe data (with ``org_id``), or an
    authenticated ``simple_salesforce.Salesforce`` client. The org id defaults to the folder
    or file name without extension. With ``strict=False`` bad fields and files are skipped
    and listed in ``schema.warnings`` instead of raising :class:`fedcrm.SchemaError`.
    """
    if org_id is not None and (not isinstance(org_id, str) or not org_id.strip()):
        # an empty id used to fall back on the folder name without a word
        raise SchemaError(f"org_id must be a non-empty string (or left out to use the folder "
                          f"or file name), got {org_id!r}")
    if format == "live" or (format == "auto" and is_salesforce_client(source)):
        return load_live(source, org_id=org_id, strict=strict)
    if isinstance(source, Mapping | list):
        return load_describe(source, org_id=org_id, strict=strict)
    if not isinstance(source, str | Path):
        raise SchemaError(
            f"cannot load a schema from a {type(source).__name__}; give a path, describe data "
            "or a simple_salesforce.Salesforce client"
        )
    if isinstance(source, str) and not source.strip():
        # Path("") is the current folder: an empty option value would read whatever is here
        raise SchemaError("the schema path is empty; give a metadata folder or a describe file")
    path = Path(source).expanduser()
    chosen = detect_format(path) if format == "auto" else format
    if chosen == "sfdx":
        return load_sfdx(path, org_id=org_id, strict=strict)
    if chosen == "mdapi":
        return load_mdapi(path, org_id=org_id, strict=strict)
    if chosen == "describe":
        return load_describe(path, org_id=org_id, strict=strict)
    raise SchemaError(f"unknown format {format!r}; use auto, sfdx, mdapi, describe or live")
