"""``fedcrm synth``: generate a synthetic federation and write it to a folder.

A thin layer over :func:`fedcrm.synth.generate_federation`; the lead wires :func:`synth` into
the ``fedcrm`` app (``app.command("synth")(synth)``).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fedcrm._console import console, error_console, friendly_errors, plain, print_json
from fedcrm.errors import ConfigError
from fedcrm.synth.federation import (
    DEFAULT_REFERENCE_DATE,
    MAX_ACCOUNTS,
    MAX_ORGS,
    Federation,
    generate_federation,
)
from fedcrm.synth.folder import check_output_folder
from fedcrm.synth.vocabulary import LANGUAGES

_OBJECT_COLUMNS = (("Account", "Accts"), ("Contact", "Contacts"), ("Lead", "Leads"),
                   ("Opportunity", "Opps"), ("Case", "Cases"))


def summary_tables(federation: Federation) -> tuple[Table, Table]:
    """Two tables with one row per org: its profile and data quality, and its records per
    object. Two, not one, so that each fits an 80-column terminal with nothing cut."""
    profiles = Table(title=f"Synthetic federation (seed {federation.seed})")
    # org ids and styles fold rather than end in "…"; numbers never break
    profiles.add_column("Org", overflow="fold")
    profiles.add_column("Lang", no_wrap=True)
    profiles.add_column("Style", overflow="fold")
    for title in ("Complete", "Recency", "Labels"):
        profiles.add_column(title, justify="right", no_wrap=True)
    profiles.caption = ("Complete, Recency: measured from the records. Labels: label "
                        "reliability q / measured definitive share (q is a per-event "
                        "probability, not a target share; see docs/synth.md).")
    records_table = Table(title="Records per org")
    records_table.add_column("Org", overflow="fold")
    for _, title in (*_OBJECT_COLUMNS, ("custom", "Other")):
        records_table.add_column(title, justify="right", no_wrap=True)
    records_table.caption = "Other: records of custom objects."
    totals = dict.fromkeys([name for name, _ in _OBJECT_COLUMNS] + ["custom"], 0)
    for org in federation.orgs:
        records = org.records
        custom = sum(n for name, n in records.items() if name.endswith("__c"))
        for name, _ in _OBJECT_COLUMNS:
            totals[name] += records.get(name, 0)
        totals["custom"] += custom
        definitive = org.measured.definitive_share
        mean_definitive = sum(definitive.values()) / len(definitive) if definitive else 0.0
        profiles.add_row(
            plain(org.org_id), org.profile.language, org.profile.naming_style,
            f"{org.measured.completeness:.2f}",
            f"{org.measured.recency:.2f}",
            f"{org.profile.quality.label_reliability:.2f}/{mean_definitive:.2f}",
        )
        records_table.add_row(plain(org.org_id),
                              *(f"{records.get(name, 0):,}" for name, _ in _OBJECT_COLUMNS),
                              f"{custom:,}" if custom else "-")
    records_table.add_section()
    records_table.add_row("total", *(f"{totals[name]:,}" for name, _ in _OBJECT_COLUMNS),
                          f"{totals['custom']:,}")
    return profiles, records_table


def check_options(*, orgs: int, seed: int, scale: float, accounts_min: int, accounts_max: int,
                  languages: tuple[str, ...], reference_date: str) -> None:
    """Refuse invalid options with a message that names the option (the library's own checks,
    which name Python parameters, still run after these)."""
    if not 1 <= orgs <= MAX_ORGS:
        raise ConfigError(f"--orgs must be between 1 and {MAX_ORGS}, got {orgs}")
    if seed < 0:
        raise ConfigError(f"--seed must be at least 0, got {seed}")
    if not math.isfinite(scale) or scale <= 0:
        raise ConfigError(f"--scale must be a positive number, got {scale:g}")
    for option, accounts in (("--accounts-min", accounts_min), ("--accounts-max", accounts_max)):
        if not 1 <= accounts <= MAX_ACCOUNTS:
            raise ConfigError(f"{option} must be between 1 and {MAX_ACCOUNTS:,}, got "
                              f"{accounts:,}")
    if accounts_min > accounts_max:
        raise ConfigError(f"--accounts-min {accounts_min:,} is greater than --accounts-max "
                          f"{accounts_max:,}")
    largest = round(accounts_max * scale)
    if largest > MAX_ACCOUNTS:
        raise ConfigError(f"--scale {scale:g} makes orgs of up to {largest:,} accounts "
                          f"(--accounts-max {accounts_max:,} × --scale); at most "
                          f"{MAX_ACCOUNTS:,} accounts per org: lower --scale or --accounts-max")
    if not languages:
        raise ConfigError(f"--languages must name at least one of {', '.join(LANGUAGES)}")
    unknown = [lang for lang in languages if lang not in LANGUAGES]
    if unknown:
        raise ConfigError(f"--languages: unknown language(s) {', '.join(unknown)}; use "
                          f"{', '.join(LANGUAGES)}")
    if len(set(languages)) != len(languages):
        raise ConfigError(f"--languages names a language twice: {','.join(languages)}")
    try:
        date = dt.date.fromisoformat(reference_date)
    except ValueError:
        raise ConfigError(f"--reference-date must be a date (YYYY-MM-DD), got "
                          f"{reference_date!r}") from None
    if not dt.date(2005, 1, 1) <= date <= dt.date(2100, 12, 31):
        raise ConfigError(f"--reference-date must lie between 2005 and 2100, got {date}")


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
    check_options(orgs=orgs, seed=seed, scale=scale, accounts_min=accounts_min,
                  accounts_max=accounts_max, languages=language_list,
                  reference_date=reference_date)
    # a folder that cannot take the federation is refused before the orgs are generated
    check_output_folder(out)
    # progress goes to stderr: stdout holds only the result, so piped output starts with it
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=error_console, transient=True,
        disable=as_json or not error_console.is_terminal,
    )
    with progress:
        generating = progress.add_task("generating orgs", total=orgs)
        writing = progress.add_task("writing files", total=orgs, visible=False)

        def report(stage: str, done: int, total: int) -> None:
            task = generating if stage == "generate" else writing
            progress.update(task, completed=done, total=total, visible=True)
            if progress.disable and not as_json:
                # no bar outside a terminal: a line per org, so a pipe or CI log is not
                # silent for minutes
                verb = "generated" if stage == "generate" else "wrote"
                error_console.print(plain(f"fedcrm synth: {verb} {done} of {total} orgs"),
                                    highlight=False)

        federation = generate_federation(
            orgs, seed, accounts=(accounts_min, accounts_max), scale=scale,
            languages=language_list, reference_date=reference_date, progress=report,
        )
        folder = federation.write(out, include_latent=include_latent, progress=report)
    if as_json:
        print_json(federation.manifest)
        return
    for table in summary_tables(federation):
        console.print(table)
    total = sum(sum(org.records.values()) for org in federation.orgs)
    console.print(plain(f"Wrote {len(federation.orgs)} orgs, {total:,} records to {folder} "
                        f"(manifest: {folder / 'federation.json'})"),
                  highlight=False, soft_wrap=True)
