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
from fedcrm.errors import ConfigError

app = typer.Typer(help="Real public CRM datasets as federations of Salesforce orgs.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def datasets_table() -> Table:
    """One row per dataset: task, split key, orgs and reference date."""
    # the data root can come from $FEDCRM_SHARED_DATA: shown as written, never as markup
    table = Table(title=plain(f"Real CRM datasets (read from {default_data_root()})",
                              style="table.title"))
    # names, org ids (one per line) and dates never break, so they can be copied into a
    # command; on a narrow terminal task and split key fold rather than end in "…"
    table.add_column("Name", no_wrap=True)
    for column in ("Task", "Split by"):
        table.add_column(column, overflow="fold")
    table.add_column("Orgs", no_wrap=True)
    table.add_column("Reference\ndate", no_wrap=True)
    for name, definition in definitions().items():
        table.add_row(name, definition.task.value, plain(definition.split_key),
                      "\n".join(spec.org_id for spec in definition.orgs),
                      definition.reference_date.isoformat())
    return table


def federation_table(federation: RealFederation) -> Table:
    """One row per exported org: split values, language, style, records, labels."""
    table = Table(title=f"{federation.definition.title} ({federation.name})")
    # org ids never break (they are typed into other commands); on a narrow terminal the other
    # columns wrap, and fold rather than end in "…"
    table.add_column("Org", no_wrap=True)
    for column in ("Split value", "Lang", "Style"):
        table.add_column(column, overflow="fold")
    for column in ("Records", "Labelled", "Positive"):
        table.add_column(column, justify="right", overflow="fold")
    for org in federation.orgs:
        counts = federation.outcome_counts(org)
        table.add_row(org.org_id, plain(" / ".join(org.spec.keys)), org.spec.language,
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
        "--root", help="The crm-datasets folder, or the shared data folder holding it "
        "(default: $FEDCRM_SHARED_DATA/crm-datasets when that variable is set, else "
        "shared/data/crm-datasets in the folder that holds the fedcrm repository).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Write a dataset as a federation (the `fedcrm synth` layout); then run
    `fedcrm demo --data OUT`."""
    definition = definitions().get(name)
    if max_rows is not None and definition is not None and max_rows < len(definition.orgs):
        # checked here too, so that the message names the option rather than max_rows=
        raise ConfigError(f"--max-rows must be at least the number of orgs of {name} "
                          f"({len(definition.orgs)}), got {max_rows}")
    federation = load_dataset(name, root, seed=seed, max_rows=max_rows)
    folder = federation.write(out)
    if as_json:
        print_json(federation.manifest)
        return
    console.print(federation_table(federation))
    console.print(plain(f"Wrote {len(federation.orgs)} orgs to {folder} (manifest: "
                        f"{folder / 'federation.json'}); run the pipeline with "
                        f"`fedcrm demo --data {folder}`"), highlight=False, soft_wrap=True)
