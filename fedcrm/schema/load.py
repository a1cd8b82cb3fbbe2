"""``load_schema``: pick the right loader for whatever the user has."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from fedcrm.errors import SchemaError
from fedcrm.schema.describe import load_describe
from fedcrm.schema.live import is_salesforce_client, load_live
from fedcrm.schema.mdapi import is_mdapi_source, load_mdapi
from fedcrm.schema.models import OrgSchema
from fedcrm.schema.sfdx import is_sfdx_source, load_sfdx

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
        raise SchemaError(
            "unsupported file; give an sfdx project folder, a Metadata API objects/ folder or "
            ".object file, or a describe .json file",
            path=path,
        )
    if is_sfdx_source(path):
        return "sfdx"
    if is_mdapi_source(path):
        return "mdapi"
    if any(path.rglob("*.json")):
        return "describe"
    raise SchemaError(
        "no Salesforce metadata found: expected objects/<Object>/fields/*.field-meta.xml "
        "(sfdx), objects/<Object>.object (Metadata API) or describe .json files",
        path=path,
    )


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
    if format == "live" or (format == "auto" and is_salesforce_client(source)):
        return load_live(source, org_id=org_id, strict=strict)
    if isinstance(source, Mapping | list):
        return load_describe(source, org_id=org_id, strict=strict)
    if not isinstance(source, str | Path):
        raise SchemaError(
            f"cannot load a schema from a {type(source).__name__}; give a path, describe data "
            "or a simple_salesforce.Salesforce client"
        )
    path = Path(source).expanduser()
    chosen = detect_format(path) if format == "auto" else format
    if chosen == "sfdx":
        return load_sfdx(path, org_id=org_id, strict=strict)
    if chosen == "mdapi":
        return load_mdapi(path, org_id=org_id, strict=strict)
    if chosen == "describe":
        return load_describe(path, org_id=org_id, strict=strict)
    raise SchemaError(f"unknown format {format!r}; use auto, sfdx, mdapi, describe or live")
