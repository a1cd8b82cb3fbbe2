"""``fedcrm schema``: load org metadata and show what is in it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from fedcrm._console import console, error_console, friendly_errors, plain, print_json
from fedcrm.errors import SchemaError
from fedcrm.schema import load_schema, summarize_schema
from fedcrm.schema.models import OrgSchema

app = typer.Typer(help="Load Salesforce org metadata and summarise it.", no_args_is_help=True)

PathArgument = Annotated[
    Path,
    typer.Argument(help="sfdx project / objects folder, Metadata API folder, or describe JSON."),
]
OrgIdOption = Annotated[
    str | None, typer.Option("--org-id", help="Org id (default: folder or file name).")
]
LenientOption = Annotated[
    bool,
    typer.Option("--lenient", help="Skip bad files and fields (and list them) instead of failing."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def load_for_command(path: Path, *, org_id: str | None, lenient: bool) -> OrgSchema:
    """``load_schema`` for a command with ``--lenient``: a strict failure that lenient loading
    would skip says so."""
    try:
        return load_schema(path, org_id=org_id, strict=not lenient)
    except SchemaError as exc:
        if lenient or not exc.skippable:
            raise
        raise SchemaError(f"{exc.reason}; --lenient skips what is broken and lists it",
                          path=exc.path, sobject=exc.sobject, field=exc.field) from None


def _object_list(schema: OrgSchema, most: int = 20) -> str:
    """The org's object names for an error message (the first ``most`` of them)."""
    names = [o.api_name for o in schema.objects]
    if not names:
        return "none (the org has no objects)"
    listed = ", ".join(names[:most])
    if len(names) > most:
        listed += f" and {len(names) - most} more (see `fedcrm schema summary`)"
    return listed


def print_warnings(schema: OrgSchema, to: Console | None = None) -> None:
    """List what lenient loading skipped or noticed (on ``to``; default standard output, and
    standard error beside ``--json``, which must stay JSON alone)."""
    out = to or console
    skipped = [w for w in schema.warnings if w.skipped]
    notes = [w for w in schema.warnings if not w.skipped]
    # warnings quote labels, values and paths from the org's files: never read them as markup
    if skipped:
        out.print(f"[yellow]Skipped {len(skipped)} item(s):[/]")
        for warning in skipped:
            out.print(Text.assemble("  ", ("-", "yellow"), " ", str(warning)), highlight=False)
    if notes:
        out.print(f"[dim]{len(notes)} note(s):[/]")
        for warning in notes:
            out.print(plain(f"  - {warning}", style="dim"), highlight=False)


@app.command("summary")
@friendly_errors
def summary_command(
    path: PathArgument,
    org_id: OrgIdOption = None,
    lenient: LenientOption = False,
    as_json: JsonOption = False,
) -> None:
    """Summarise one org: objects, field counts by kind, custom fields, namespaces."""
    schema = load_for_command(path, org_id=org_id, lenient=lenient)
    summary = summarize_schema(schema)
    if as_json:
        print_json(summary)
        print_warnings(schema, to=error_console)
        return
    table = Table(title=plain(f"Org {summary.org_id} ({summary.source_format})",
                              style="table.title"))
    for column in ("Object", "Label", "Fields", "Custom", "Picklists", "Lookups", "Formulas"):
        table.add_column(column, justify="right" if column not in ("Object", "Label") else "left")
    for row in summary.objects:
        table.add_row(
            plain(row.object),
            plain(row.label or ""),
            str(row.n_fields),
            str(row.n_custom),
            str(row.n_picklist),
            str(row.n_reference),
            str(row.n_formula),
        )
    table.add_section()
    table.add_row(
        "total", f"{summary.n_objects} objects", str(summary.n_fields),
        str(summary.n_custom_fields), "", "", "",
    )
    console.print(table)
    if summary.namespaces:
        console.print(plain(f"Managed-package namespaces: {', '.join(summary.namespaces)}"))
    print_warnings(schema)


@app.command("fields")
@friendly_errors
def fields_command(
    path: PathArgument,
    sobject: Annotated[
        str | None, typer.Option("--object", help="Only this object.")
    ] = None,
    org_id: OrgIdOption = None,
    lenient: LenientOption = False,
    as_json: JsonOption = False,
) -> None:
    """List fields with their kind, label and description."""
    schema = load_for_command(path, org_id=org_id, lenient=lenient)
    if sobject and sobject not in schema:
        raise SchemaError(f"no object {sobject!r} in this org; --object takes one of "
                          f"{_object_list(schema)}", path=path)
    objects = [schema.object(sobject)] if sobject else list(schema.objects)
    if as_json:
        print_json([o.model_dump(mode="json", exclude={"source"}) for o in objects])
        print_warnings(schema, to=error_console)  # --lenient's skips were not said at all
        return
    for obj in objects:
        table = Table(title=plain(f"{schema.org_id}: {obj.api_name}", style="table.title"))
        for column in ("Field", "Label", "Kind", "Description"):
            table.add_column(column, overflow="fold")
        for field in obj.fields:
            table.add_row(
                plain(field.api_name), plain(field.label or ""), field.kind.value,
                plain((field.description or field.help_text or "")[:120]),
            )
        console.print(table)
    print_warnings(schema)
