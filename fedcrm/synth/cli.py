"""``fedcrm synth``: generate a synthetic federation and write it to a folder.

A thin layer over :func:`fedcrm.synth.generate_federation`; the lead wires :func:`synth` into
the ``fedcrm`` app (``app.command("synth")(synth)``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fedcrm._console import console, error_console, friendly_errors, print_json
from fedcrm.synth.federation import DEFAULT_REFERENCE_DATE, Federation, generate_federation

_OBJECT_COLUMNS = (("Account", "Accts"), ("Contact", "Contacts"), ("Lead", "Leads"),
                   ("Opportunity", "Opps"), ("Case", "Cases"))


def summary_table(federation: Federation) -> Table:
    """One row per org: language, naming style, records per object and data quality."""
    table = Table(title=f"Synthetic federation (seed {federation.seed})")
    table.add_column("Org")
    table.add_column("Lang")
    table.add_column("Style")
    for _, title in _OBJECT_COLUMNS:
        table.add_column(title, justify="right")
    table.add_column("Other", justify="right")
    table.add_column("Complete", justify="right")
    table.add_column("Recency", justify="right")
    table.add_column("Labels", justify="right")
    totals = dict.fromkeys([name for name, _ in _OBJECT_COLUMNS] + ["custom"], 0)
    for org in federation.orgs:
        records = org.records
        custom = sum(n for name, n in records.items() if name.endswith("__c"))
        for name, _ in _OBJECT_COLUMNS:
            totals[name] += records.get(name, 0)
        totals["custom"] += custom
        definitive = org.measured.definitive_share
        mean_definitive = sum(definitive.values()) / len(definitive) if definitive else 0.0
        table.add_row(
            org.org_id, org.profile.language, org.profile.naming_style,
            *(f"{records.get(name, 0):,}" for name, _ in _OBJECT_COLUMNS),
            f"{custom:,}" if custom else "-",
            f"{org.measured.completeness:.2f}",
            f"{org.measured.recency:.2f}",
            f"{org.profile.quality.label_reliability:.2f}/{mean_definitive:.2f}",
        )
    table.add_section()
    table.add_row("total", "", "", *(f"{totals[name]:,}" for name, _ in _OBJECT_COLUMNS),
                  f"{totals['custom']:,}", "", "", "")
    table.caption = ("Other: records of custom objects. Complete, Recency: measured from the "
                     "records. Labels: label reliability q / measured definitive share (q is a "
                     "per-event probability, not a target share; see docs/synth.md).")
    return table


@friendly_errors
def synth(
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="Folder to write to (empty, new, or an earlier synth output).")],
    orgs: Annotated[int, typer.Option("--orgs", help="Number of orgs.")] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same files).")] = 0,
    scale: Annotated[float, typer.Option(
        "--scale", help="Multiply every org's size (0.01 for a quick look).")] = 1.0,
    accounts_min: Annotated[int, typer.Option(
        "--accounts-min", help="Smallest org size in accounts (before --scale).")] = 2000,
    accounts_max: Annotated[int, typer.Option(
        "--accounts-max", help="Largest org size in accounts (before --scale).")] = 50_000,
    languages: Annotated[str, typer.Option(
        "--languages", help="Comma-separated org languages: en, de, fr, es.")] = "en,de,fr,es",
    reference_date: Annotated[str, typer.Option(
        "--reference-date", help="The fixed 'today' of every record (YYYY-MM-DD).")
    ] = DEFAULT_REFERENCE_DATE.isoformat(),
    include_latent: Annotated[bool, typer.Option(
        "--include-latent", help="Also write canonical latent values and true outcomes.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Generate heterogeneous synthetic Salesforce orgs with known ground truth."""
    language_list = tuple(part.strip() for part in languages.split(",") if part.strip())
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=error_console if as_json else console, transient=True,
        disable=as_json,
    )
    with progress:
        generating = progress.add_task("generating orgs", total=orgs if orgs > 0 else None)
        writing = progress.add_task("writing files", total=orgs if orgs > 0 else None,
                                    visible=False)

        def report(stage: str, done: int, total: int) -> None:
            task = generating if stage == "generate" else writing
            progress.update(task, completed=done, total=total, visible=True)

        federation = generate_federation(
            orgs, seed, accounts=(accounts_min, accounts_max), scale=scale,
            languages=language_list, reference_date=reference_date, progress=report,
        )
        folder = federation.write(out, include_latent=include_latent, progress=report)
    if as_json:
        print_json(federation.manifest)
        return
    console.print(summary_table(federation))
    total = sum(sum(org.records.values()) for org in federation.orgs)
    console.print(f"Wrote {len(federation.orgs)} orgs, {total:,} records to {folder} "
                  f"(manifest: {folder / 'federation.json'})", highlight=False)
