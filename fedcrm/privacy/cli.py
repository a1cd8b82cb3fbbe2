"""``fedcrm privacy …``: ε advice and ledger summaries on the command line.

A typer sub-app; the main CLI mounts it with ``app.add_typer(privacy_app, name="privacy")``.
Each command is a thin layer over a library function a notebook can call too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from fedcrm._console import friendly_errors, plain
from fedcrm.privacy.advice import EpsilonAdvice, Tier, advise_epsilon
from fedcrm.privacy.ledger import LedgerSummary, summarize_ledger

__all__ = ["app"]

app = typer.Typer(
    name="privacy",
    help="Differential-privacy budgets: ε advice and the privacy ledger.",
    no_args_is_help=True,
    add_completion=False,
)


def advice_table(advice: EpsilonAdvice) -> Table:
    """A rich table of one piece of advice."""
    table = Table(title=f"Recommended privacy budget ({advice.tier.value} tier)")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row("records (n)", f"{advice.n_samples:,}")
    table.add_row("recommended ε", f"{advice.epsilon:g}")
    table.add_row("tier cap on ε", f"{advice.epsilon_cap:g}")
    table.add_row("ε the data size needs", f"{advice.epsilon_for_utility:g}")
    table.add_row("suggested δ", f"{advice.delta:.3g}")
    return table


@app.command("advise")
@friendly_errors
def advise_command(
    n_samples: Annotated[
        int, typer.Option("--n-samples", min=1, help="Number of training records.")
    ],
    tier: Annotated[
        Tier, typer.Option("--tier", help="Regulatory tier of the data.", case_sensitive=False)
    ] = Tier.STANDARD,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Recommend ε (and δ) for a participant from its data size and regulatory tier."""
    advice = advise_epsilon(n_samples, tier)
    console = Console()
    if json_output:
        console.print_json(advice.model_dump_json())
        return
    console.print(advice_table(advice))
    console.print(advice.rationale, highlight=False)
    for warning in advice.warnings:
        console.print(Text.assemble(("note:", "yellow"), " ", warning), highlight=False)


def ledger_table(summaries: list[LedgerSummary]) -> Table:
    """A rich table with one row per participant of a ledger."""
    table = Table(title="Privacy ledger")
    # a narrow terminal folds long participant ids and wraps headers ("ε target" over two
    # lines) rather than cutting anything with "…"
    for column, justify in (
        ("participant", "left"),
        ("mode", "left"),
        ("accountant", "left"),
        ("rounds", "right"),
        ("ε spent", "right"),
        ("ε target", "right"),
        ("ε left", "right"),
        ("δ", "right"),
        ("status", "left"),
    ):
        # numbers never break ("1.5e-0" over "5" read as another number)
        table.add_column(column, justify=justify, overflow="fold",  # type: ignore[arg-type]
                         no_wrap=justify == "right")
    for summary in summaries:
        planned = f"/{summary.planned_rounds}" if summary.planned_rounds else ""
        table.add_row(
            # read from the ledger file: shown as written, never as rich markup
            plain(summary.participant_id),
            summary.mode,
            plain(summary.accountant),
            f"{summary.rounds_completed}{planned}",
            f"{summary.epsilon_spent:.4g}",
            f"{summary.epsilon_target:g}",
            f"{summary.epsilon_remaining:.4g}",
            f"{summary.delta:.3g}",
            summary.status,
        )
    return table


@app.command("ledger")
@friendly_errors
def ledger_command(
    path: Annotated[Path, typer.Argument(help="Ledger file (JSON lines).")],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Summarise a privacy ledger: ε spent and left per participant, and any anomalies."""
    summaries = summarize_ledger(path)
    console = Console()
    # an empty (or emptied) ledger is worth a word: it may have been truncated (on stderr
    # with --json, so that stdout stays the JSON a machine reads)
    empty = Text.assemble(("warning", "yellow"), f" {path} records no event; if participants "
                          "have spent, their lines are missing")
    if json_output:
        console.print_json(json.dumps([s.model_dump(mode="json") for s in summaries]))
        if not summaries:
            Console(stderr=True).print(empty, highlight=False)
        return
    if not summaries:
        console.print(empty, highlight=False)
        return
    console.print(ledger_table(summaries))
    for summary in summaries:
        for anomaly in summary.anomalies:
            console.print(Text.assemble(("anomaly", "red"),
                                        f" {summary.participant_id}: {anomaly}"),
                          highlight=False)


@app.command("recover")
@friendly_errors
def recover_command(
    state: Annotated[Path, typer.Argument(help="Engine state file that is behind its ledger.")],
    ledger: Annotated[Path | None, typer.Option(
        "--ledger", help="Ledger file (default: the one the state names).")] = None,
) -> None:
    """Bring a state file up to its ledger after a crash between the two writes."""
    from fedcrm.privacy.state import recover_state

    recovery = recover_state(state, ledger=ledger)
    console = Console()
    if recovery.backup is None:
        console.print(f"{state} agrees with {recovery.ledger_path}: nothing to recover",
                      highlight=False, markup=False)
        return
    console.print(
        f"{recovery.participant_id}: +{recovery.steps_added} steps, rounds "
        f"{recovery.rounds_before} → {recovery.rounds_after}, ε {recovery.epsilon_before:.4g} → "
        f"{recovery.epsilon_after:.4g} (ledger {recovery.ledger_path}); the old state is "
        f"{recovery.backup}", highlight=False, markup=False)
