"""The ``fedcrm`` command: a thin typer layer over the library."""

from __future__ import annotations

from typing import Annotated

import typer

from fedcrm import __version__
from fedcrm._console import console, friendly_errors
from fedcrm.cli import match as match_cli
from fedcrm.cli import ontology as ontology_cli
from fedcrm.cli import schema as schema_cli

app = typer.Typer(
    name="fedcrm",
    help="Federated CRM models across Salesforce orgs, without moving customer records.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(schema_cli.app, name="schema")
app.command("ontology")(ontology_cli.ontology_command)
app.command("match")(match_cli.match_command)
app.add_typer(match_cli.matcher_app, name="matcher")


def _mount_optional_apps() -> None:
    """Sub-commands whose modules import heavier libraries; mounted here, loaded lazily."""
    from fedcrm.privacy.cli import app as privacy_app
    from fedcrm.review.cli import app as review_app
    from fedcrm.synth.cli import synth

    app.command("synth")(synth)
    app.add_typer(privacy_app, name="privacy", help="Privacy budgets, advice and ledgers.")
    app.add_typer(review_app, name="review", help="Review and approve proposed mappings.")


_mount_optional_apps()


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"fedcrm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True,
                     help="Print the version and exit."),
    ] = False,
) -> None:
    """fedcrm: schema normalisation and federated learning for Salesforce orgs."""


@app.command("demo")
@friendly_errors
def demo_command() -> None:
    """Run the end-to-end demo on the bundled example data."""
    from fedcrm.cli.schema import summary_command
    from fedcrm.examples import example_org_path

    summary_command(example_org_path("acme"), org_id=None, lenient=False, as_json=False)


def main() -> None:
    """Entry point of the ``fedcrm`` console script."""
    app()
