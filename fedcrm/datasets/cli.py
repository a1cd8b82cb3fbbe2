"""``fedcrm datasets``: list the real CRM datasets and export them as federations.

A thin layer over :mod:`fedcrm.datasets`, mounted as ``fedcrm datasets``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fedcrm._console import console, friendly_errors, plain, print_json
from fedcrm.datasets import definitions, load_dataset
from fedcrm.datasets.federation import RealFederation
from fedcrm.datasets.source import default_data_root

app = typer.Typer(help="Real public CRM datasets as federations of Salesforce orgs.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def datasets_table() -> Table:
    """One row per dataset: task, split key, orgs and reference date."""
    table = Table(title=f"Real CRM datasets (read from {default_data_root()})")
    for column in ("Name", "Task", "Split by", "Orgs", "Reference date"):
        table.add_column(column)
    for name, definition in definitions().items():
        table.add_row(name, definition.task.value, definition.split_key,
                      ", ".join(spec.org_id for spec in definition.orgs),
                      definition.reference_date.isoformat())
    return table


def federation_table(federation: RealFederation) -> Table:
    """One row per exported org: split values, language, style, records, labels."""
    table = Table(title=f"{federation.definition.title} ({federation.name})")
    for column in ("Org", "Split value", "Lang", "Style", "Records", "Labelled", "Positive"):
        table.add_column(column, justify="right" if column in ("Records", "Labelled",
                                                               "Positive") else "left")
    for org in federation.orgs:
        counts = federation.outcome_counts(org)
        table.add_row(org.org_id, " / ".join(org.spec.keys), org.spec.language,
                      org.spec.naming_style,
                      ", ".join(f"{n:,} {name}" for name, n in org.records.items()),
                      f"{counts.labelled:,}", f"{counts.positive_rate:.1%}")
    return table


@app.command("list")
@friendly_errors
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List the datasets, their task, natural split and orgs."""
    if as_json:
        print_json({name: {"task": d.task.value, "split_key": d.split_key,
                           "orgs": [s.org_id for s in d.orgs],
                           "reference_date": d.reference_date.isoformat(),
                           "files": list(d.files), "source": d.source}
                    for name, d in definitions().items()})
        return
    console.print(datasets_table())


@app.command("export")
@friendly_errors
def export_command(
    name: Annotated[str, typer.Argument(help="Dataset name (see `fedcrm datasets list`).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the orgs to.")],
    max_rows: Annotated[int | None, typer.Option(
        "--max-rows", help="Only a seeded slice of about this many rows (every org kept).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (names, slice).")] = 0,
    root: Annotated[Path | None, typer.Option(
        "--root", help="The crm-datasets folder (default: ../shared/data/crm-datasets).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Write a dataset as a federation (the `fedcrm synth` layout); then run
    `fedcrm demo --data OUT`."""
    federation = load_dataset(name, root, seed=seed, max_rows=max_rows)
    folder = federation.write(out)
    if as_json:
        print_json(federation.manifest)
        return
    console.print(federation_table(federation))
    console.print(plain(f"Wrote {len(federation.orgs)} orgs to {folder} (manifest: "
                        f"{folder / 'federation.json'}); run the pipeline with "
                        f"`fedcrm demo --data {folder}`"), highlight=False)
