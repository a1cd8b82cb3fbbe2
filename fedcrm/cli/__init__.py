"""The ``fedcrm`` command: a thin typer layer over the library."""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from fedcrm import __version__
from fedcrm._args import option_pair
from fedcrm._console import (
    check_output_file,
    console,
    friendly_errors,
    plain,
    print_error,
    status_lines,
)
from fedcrm.cli import match as match_cli
from fedcrm.cli import ontology as ontology_cli
from fedcrm.cli import schema as schema_cli
from fedcrm.errors import ConfigError


@contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """While a command runs, SIGTERM (``kill``, ``timeout``, a scheduler stopping a job) ends
    it as Ctrl-C does, through every ``finally``: temporary folders (the demo's federation),
    half-written files and folder locks are cleaned up. Python's default is to die on the
    spot and leave them behind."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set in the main thread
        return

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _OneLineUsageErrors(TyperGroup):
    """The root command group, whose usage errors (an unknown option, a value out of an
    option's range) are one ``error:`` line naming the option and pointing at ``--help``, as
    every other error of the command; typer draws a framed panel of several lines."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        with _terminate_as_exit():
            return self._main(*args, standalone_mode=standalone_mode, **kwargs)

    def _main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
        except click.UsageError as exc:
            if not standalone_mode:
                raise
            if not exc.format_message():
                # no arguments: typer has printed the help, and the error says nothing more
                sys.exit(exc.exit_code)
            command = exc.ctx.command_path if exc.ctx is not None else "fedcrm"
            print_error(f"{exc.format_message().rstrip('.')}; see `{command} --help`")
            sys.exit(exc.exit_code)
        except click.ClickException as exc:  # e.g. a file option that cannot be opened
            if not standalone_mode:
                raise
            print_error(exc.format_message())
            sys.exit(exc.exit_code)
        except click.Abort:
            if not standalone_mode:
                raise
            print_error("aborted")
            sys.exit(1)
        if not standalone_mode:
            return result
        # without standalone mode click returns the code of a typer.Exit, or the command's
        # return value (None) when it ran to its end
        sys.exit(result if isinstance(result, int) else 0)


app = typer.Typer(
    name="fedcrm",
    cls=_OneLineUsageErrors,
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
    from fedcrm.annotate.cli import app as annotate_app
    from fedcrm.datasets.cli import app as datasets_app
    from fedcrm.privacy.cli import app as privacy_app
    from fedcrm.review.cli import app as review_app
    from fedcrm.synth.cli import synth

    app.command("synth")(synth)
    app.add_typer(privacy_app, name="privacy", help="Privacy budgets, advice and ledgers.")
    app.add_typer(review_app, name="review", help="Review and approve proposed mappings.")
    app.add_typer(annotate_app, name="annotate",
                  help="Active-learning annotation rounds for the matcher's corpus.")
    app.add_typer(datasets_app, name="datasets",
                  help="Real public CRM datasets as federations of Salesforce orgs.")


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
def demo_command(
    data: Annotated[Path | None, typer.Option(
        help="A folder written by `fedcrm synth` (default: generate one).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Keep the generated federation here (default: a temporary folder; "
                            "not with --data).")] = None,
    orgs: Annotated[int | None, typer.Option(
        help="Synthetic orgs to generate \\[default: 5; not with --data].")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    scale: Annotated[float | None, typer.Option(
        help="Size of the generated orgs \\[default: 0.05; not with --data].")] = None,
    rounds: Annotated[int, typer.Option(help="Federated rounds per task.")] = 60,
    model: Annotated[str, typer.Option(help="logistic or mlp.")] = "logistic",
    task: Annotated[list[str] | None, typer.Option(
        help="Only this task (churn, lead_conversion, win_probability; repeat --task for "
             "several) \\[default: every "
             "task, or the task a `fedcrm datasets export` folder was written for; a default "
             "task no org can take part in is skipped].")] = None,
    reference_date: Annotated[str | None, typer.Option(
        help="The records' 'today' \\[default: the reference date in the federation.json of "
             "--data or of the generated federation; needed when --data has none].")] = None,
    json_path: Annotated[Path | None, typer.Option(
        "--json", help="Also write the numbers as JSON here.")] = None,
    backend: Annotated[str, typer.Option(
        help="simulation (in-process) or flower (needs fedcrm\\[flower]).")] = "simulation",
    device: Annotated[str, typer.Option(
        help="Where the orgs train: cpu, cuda, cuda:N or auto (the GPU if torch sees one). "
             "The matcher embeds on the GPU whenever torch sees one.")] = "cpu",
    workers: Annotated[int | None, typer.Option(
        help="Processes that train each task's methods side by side \\[default: one per CPU "
             "core this process may use, at most 8; 1 trains them one after the "
             "other].")] = None,
    currency_rate: Annotated[list[str] | None, typer.Option(
        help="CODE=RATE: USD per unit of a currency, e.g. BRL=0.18; repeat for several. "
             "Overrides the built-in rates and teaches new codes (Rev_BRL__c).")] = None,
    org_currency: Annotated[list[str] | None, typer.Option(
        help="ORG=CODE: the currency of an org's amounts whose name and values name none (it "
             "comes before a records' CurrencyIsoCode column) \\[default: the manifest's, else "
             "the records' column, else USD; each conversion says which]; repeat per "
             "org.")] = None,
) -> None:
    """Run the end-to-end demo: synthetic orgs → matching → features → federated training,
    compared with local-only and centralised models for each task."""
    from fedcrm.cli.demo import print_demo
    from fedcrm.demo import DEMO_ORGS, DEMO_SCALE, demo_config, run_demo
    from fedcrm.synth.federation import MAX_ORGS

    if data is not None:
        unused = [option for option, value in (("--out", out), ("--orgs", orgs),
                                                ("--scale", scale)) if value is not None]
        if unused:
            raise ConfigError(f"{', '.join(unused)} shape(s) a generated federation, but --data "
                              f"{data} gives one; leave {'it' if len(unused) == 1 else 'them'} "
                              "out")
    if orgs is not None and not 1 <= orgs <= MAX_ORGS:
        raise ConfigError(f"--orgs must be between 1 and {MAX_ORGS}, got {orgs}")
    if scale is not None and not (math.isfinite(scale) and scale > 0):
        raise ConfigError(f"--scale must be a positive number, got {scale:g}")
    config = demo_config(rounds=rounds, model=model, seed=seed, device=device)
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    if workers is None:
        # the cores this process may run on (a container or taskset can allow fewer than
        # the machine has)
        cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                 else os.cpu_count() or 1)
        workers = min(cores, 8)
    if json_path is not None:
        # refused before minutes of training, not after them
        check_output_file(json_path, option="--json", example="demo.json",
                          inputs={"--data": data})
    rates = _currency_rates(currency_rate or [])
    currencies = _org_currencies(org_currency or [], rates)
    with status_lines("fedcrm demo") as status:
        result = run_demo(currency_rates=rates or None, org_currencies=currencies or None,
                          data=data, out=out, orgs=DEMO_ORGS if orgs is None else orgs,
                          seed=seed, scale=DEMO_SCALE if scale is None else scale,
                          tasks=task or None,
                          config=config, reference_date=reference_date,
                          backend=backend, workers=workers,
                          status=status)
    print_demo(result)
    if json_path is not None:
        result.to_json(json_path)
        console.print(plain(f"Wrote {json_path}"))


def _currency_rates(texts: list[str]) -> dict[str, float]:
    """``--currency-rate CODE=RATE`` options as a dict; a code given twice is refused."""
    rates: dict[str, float] = {}
    for text in texts:
        code, rate = option_pair(text, "--currency-rate", "BRL=0.18")
        if code.upper() in (known.upper() for known in rates):
            raise ConfigError(f"--currency-rate gives {code.upper()} twice; keep one rate")
        try:
            rates[code] = float(rate)
        except ValueError:
            raise ConfigError(f"--currency-rate {text!r}: {rate!r} is not a number (USD per "
                              f"{code}, e.g. --currency-rate {code}=0.18)") from None
        if not (len(code) == 3 and code.isascii() and code.isalpha()):
            raise ConfigError(f"--currency-rate {text!r}: {code!r} is not a three-letter "
                              "currency code; use an ISO 4217 code such as BRL")
        if not (math.isfinite(rates[code]) and rates[code] > 0):
            raise ConfigError(f"--currency-rate {text!r}: a rate must be a number > 0, the USD "
                              f"value of one {code.upper()} (e.g. --currency-rate "
                              f"{code.upper()}=0.18)")
    return rates


def _org_currencies(texts: list[str], rates: dict[str, float]) -> dict[str, str]:
    """``--org-currency ORG=CODE`` options as a dict; a code the converter has no rate for
    (built in or from ``--currency-rate``) is refused in the options' words."""
    from fedcrm.features.convert import USD_PER_UNIT

    known = sorted({*USD_PER_UNIT, *(code.upper() for code in rates)})
    currencies: dict[str, str] = {}
    for text in texts:
        org, code = option_pair(text, "--org-currency", "acme=EUR")
        if code.upper() not in known:
            raise ConfigError(f"--org-currency {text!r}: {code!r} is not a currency the "
                              f"converter knows ({', '.join(known)}); add its rate with "
                              f"--currency-rate {code.upper()}=<USD per unit>")
        currencies[org] = code
    return currencies


def main() -> None:
    """Entry point of the ``fedcrm`` console script."""
    app()
