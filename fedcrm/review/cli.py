"""``fedcrm review …``: the mapping review workflow on the command line.

A typer sub-app (mounted as ``fedcrm review``); every command is a thin layer over
:class:`fedcrm.review.ReviewStore`. ``next`` is the keyboard-driven review loop; ``decide`` is
its non-interactive twin for scripts; ``serve`` starts the local web page.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from fedcrm._args import option_pair
from fedcrm._console import (
    check_output_file,
    console,
    error_console,
    friendly_errors,
    plain,
    print_json,
)
from fedcrm.errors import ConfigError, FedcrmError
from fedcrm.review._loopback import check_loopback
from fedcrm.review.errors import StaleVersionError
from fedcrm.review.exporting import AUDIT_FORMATS
from fedcrm.review.models import (
    Action,
    DecisionRequest,
    FieldView,
    Progress,
    Status,
    Tier,
)
from fedcrm.review.store import DEFAULT_DB, ReviewStore
from fedcrm.schema.models import FieldProfile, OrgSchema

__all__ = ["app"]

ENV_URL = "FEDCRM_REVIEW_URL"
ENV_REVIEWER = "FEDCRM_REVIEWER"
#: why ``next`` cannot run without a terminal, and what to use instead
NO_TERMINAL = "`review next` needs an interactive terminal; use `fedcrm review decide`"
#: how many candidates ``next`` offers on the number keys
MAX_KEYED_CANDIDATES = 5
#: audit formats by file extension, for ``audit --out`` without ``--format``
AUDIT_FORMAT_BY_SUFFIX = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl"}

app = typer.Typer(
    name="review",
    help="Review proposed mappings: import, decide, audit and export the approved mapping.",
    no_args_is_help=True,
    add_completion=False,
)

DbOption = Annotated[Path | None, typer.Option(
    "--db", help=f"SQLite file of the review store \\[default: {DEFAULT_DB}].")]
UrlOption = Annotated[str | None, typer.Option(
    "--url", envvar=ENV_URL,
    help="Any SQLAlchemy database URL instead of --db (e.g. postgresql+psycopg://…).")]
ReviewerOption = Annotated[str | None, typer.Option(
    "--reviewer", envvar=ENV_REVIEWER,
    help="Who is deciding (recorded in the audit log) \\[default: your user name].")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


def default_reviewer() -> str:
    """``$FEDCRM_REVIEWER`` or the login name."""
    try:
        return os.environ.get(ENV_REVIEWER) or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"


class DecideAction(StrEnum):
    """The actions ``review decide`` takes: every :class:`Action` but the bulk
    ``auto_accept``, which is a command of its own (``review auto-accept``)."""

    ACCEPT = Action.ACCEPT.value
    CHOOSE = Action.CHOOSE.value
    NO_EQUIVALENT = Action.NO_EQUIVALENT.value
    DEFER = Action.DEFER.value


def open_store(db: Path | None, url: str | None, *, create: bool = False) -> ReviewStore:
    """The store named by ``--db`` or ``--url`` (not both).

    Only ``review import`` passes ``create=True``: every other command needs an existing
    review, and a missing SQLite file (a typo in --db) is an error, not an empty review.
    """
    if db is not None and url is not None:
        raise ConfigError("give --db (a SQLite file) or --url (a database URL), not both")
    if url is None and (db or DEFAULT_DB).is_dir():
        raise ConfigError(f"--db {db or DEFAULT_DB} is a folder; give the review's SQLite file "
                          f"(e.g. --db {(db or DEFAULT_DB) / 'review.db'})")
    return ReviewStore(url if url is not None else (db or DEFAULT_DB), create=create)


@contextmanager
def _removed_if_the_first_import_fails(db: Path | None) -> Iterator[None]:
    """A SQLite file (and the folders) this import creates is removed again when it fails, so
    a later command on a mistyped ``--db`` says "no review database" instead of showing an
    empty review. An existing database is never touched."""
    if db is None or db.exists():
        yield
        return
    missing = [folder for folder in db.parents if not folder.exists()]
    try:
        yield
    except BaseException:
        for leftover in (db, *(db.with_name(db.name + s) for s in ("-journal", "-wal", "-shm"))):
            with suppress(OSError):  # absent, or under a file ("not a directory")
                leftover.unlink()
        for folder in missing:  # innermost first; only folders left empty
            with suppress(OSError):
                folder.rmdir()
        raise


def check_org(store: ReviewStore, org: str | None) -> None:
    """Refuse an ``--org`` the store has no fields of, naming the orgs it has."""
    if org is None:
        return
    known = sorted(store.progress().by_org)
    if org not in known:
        raise ConfigError(f"org {org!r} is not in the review store {store.describe()} "
                          f"(known orgs: {', '.join(known) or 'none'})")


def terminal_available() -> bool:
    """Whether ``next`` can read single keys: standard input is a terminal, or the process has
    a controlling terminal (the key reader falls back to ``/dev/tty`` when standard input is
    redirected)."""
    if sys.stdin.isatty():
        return True
    try:
        with open("/dev/tty", "rb"):
            return True
    except OSError:
        return False


def audit_format(out: Path | None, format: str | None) -> str:
    """The audit format: ``--format`` if given, else the one ``--out``'s extension names
    (``.csv``; ``.jsonl`` or ``.json``), else jsonl. A ``--format`` that the extension
    contradicts is refused: it would put JSON lines in a .csv file or the reverse."""
    if format is not None and format not in AUDIT_FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(AUDIT_FORMATS)}, not {format!r}")
    implied = AUDIT_FORMAT_BY_SUFFIX.get(out.suffix.lower()) if out is not None else None
    if format is None:
        return implied or "jsonl"
    if out is not None and implied is not None and format != implied:
        raise ConfigError(f"--format {format} contradicts the file name {out} (a {out.suffix} "
                          f"file holds {implied}); drop --format, or name the file "
                          f"{out.with_suffix('.' + format)}")
    return format


def _split_field(qualified: str) -> tuple[str, str]:
    sobject, dot, field = qualified.partition(".")
    if not dot or not sobject or not field:
        raise ConfigError(f"name the field as Object.Field (e.g. Account.Industry__c), "
                          f"not {qualified!r}")
    return sobject, field


def _parse_schema(spec: str) -> tuple[str | None, Path]:
    org, equals, path = spec.partition("=")
    if equals and org and "/" not in org:
        return org, Path(path)
    return None, Path(spec)


def load_schemas(specs: list[str]) -> list[OrgSchema]:
    """Org metadata from ``ORG=PATH`` or ``PATH`` (org id = file or folder name)."""
    from fedcrm.schema import load_schema

    schemas = []
    for spec in specs:
        org, path = _parse_schema(spec)
        schemas.append(load_schema(path, org_id=org))
    return schemas


def with_profiles(schemas: list[OrgSchema], specs: list[str]) -> list[OrgSchema]:
    """``schemas`` with value profiles from the records folders of ``--records ORG=FOLDER``
    (:func:`fedcrm.schema.profile_schema`); says on stderr how many fields each got."""
    from fedcrm.features.canonical import read_records
    from fedcrm.schema import profile_schema

    by_org = {schema.org_id: index for index, schema in enumerate(schemas)}
    done: set[str] = set()
    result = list(schemas)
    for spec in specs:
        org, folder = option_pair(spec, "--records", "acme=orgs/acme/records", "ORG=FOLDER")
        if org in done:
            raise ConfigError(f"--records gives org {org} twice; give one records folder per "
                              "org")
        if org not in by_org:
            raise ConfigError(f"--records {spec}: org {org} has no --schema; the profiles "
                              f"belong to the fields its metadata declares (--schema "
                              f"{org}=PATH)")
        done.add(org)
        profiled, names = profile_schema(result[by_org[org]], read_records(folder))
        result[by_org[org]] = profiled
        error_console.print(plain(f"{org}: value profiles of {len(names)} field(s) from "
                                  f"{folder}"), highlight=False)
    return result


# -- rendering ------------------------------------------------------------------------------

_TIER_STYLE = {Tier.HIGH: "green", Tier.MEDIUM: "yellow", Tier.LOW: "red"}
_STATUS_STYLE = {Status.PENDING: "white", Status.DEFERRED: "blue",
                 Status.NEEDS_REVIEW: "bold magenta", Status.APPROVED: "green",
                 Status.NO_EQUIVALENT: "cyan"}


def progress_text(progress: Progress) -> Text:
    """``████░░░ 3/7 decided (43%)``."""
    width = 24
    filled = round(width * progress.fraction)
    text = Text("█" * filled, style="green")
    text.append("░" * (width - filled), style="dim")
    text.append(f" {progress.decided}/{progress.total} decided ({progress.fraction:.0%})")
    return text


def proposal_text(view: FieldView) -> str:
    """What the matcher proposes, in words."""
    if view.proposed_concept:
        return view.proposed_concept
    if view.proposed_block:
        return f"{view.proposed_block} (shared custom block)"
    return "no concept (the matcher abstained)"


def queue_table(views: list[FieldView], title: str, *, width: int | None = None) -> Table:
    """The queue as a table, most important first (labels only on wide terminals)."""
    with_labels = (width or console.width) >= 120
    table = Table(title=title, box=box.SIMPLE_HEAD)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("Org · field", overflow="fold", min_width=16)
    if with_labels:
        table.add_column("Label", overflow="ellipsis", no_wrap=True, max_width=28)
    table.add_column("Proposal", overflow="fold", min_width=12)
    table.add_column("Conf.", justify="right", no_wrap=True)
    table.add_column("Impact", justify="right", no_wrap=True)
    table.add_column("Status", overflow="fold")
    for rank, view in enumerate(views, start=1):
        proposal = view.proposed_concept or view.proposed_block or "(abstained)"
        cells: list[str | Text] = [str(rank), escape(f"{view.org} {view.qualified_name}")]
        if with_labels:
            cells.append(escape(view.label or ""))
        cells += [
            escape(proposal),
            Text(f"{view.confidence:.2f}", style=_TIER_STYLE[view.tier]),
            f"{view.impact:g}",
            Text(view.status.value.replace("_", " "), style=_STATUS_STYLE[view.status]),
        ]
        table.add_row(*cells)
    return table


def candidates_table(view: FieldView) -> Table:
    """Top candidates with scores and evidence; numbers are the keys of ``next``."""
    table = Table(title="Candidates", title_justify="left", box=box.SIMPLE_HEAD,
                  show_lines=True)
    table.add_column("Key", justify="right")
    table.add_column("Concept", no_wrap=True)
    table.add_column("Label", overflow="fold", max_width=24, min_width=8)
    table.add_column("Score", justify="right")
    table.add_column("Evidence", overflow="fold")
    for number, candidate in enumerate(view.candidates, start=1):
        marker = " ◀ proposed" if candidate.concept == view.proposed_concept else ""
        table.add_row(
            str(number) if number <= MAX_KEYED_CANDIDATES else "",
            escape(candidate.concept) + marker, escape(candidate.label or ""),
            f"{candidate.score:.2f}", escape("\n".join(candidate.evidence) or "—"),
        )
    if not view.candidates:
        table.add_row("", "no candidates", "", "", "")
    return table


def profile_table(profile: FieldProfile) -> Table:
    """The privacy-safe value profile (aggregates of at least k records, no samples)."""
    table = Table(title=f"Value profile (k={profile.k}, no record values)", title_justify="left",
                  show_header=False)
    table.add_column("Quantity")
    table.add_column("Value", overflow="fold")
    table.add_row("rows", f"{profile.n_rows:,}")
    table.add_row("empty", f"{profile.null_rate:.0%}")
    table.add_row("distinct", f"{profile.distinct_ratio:.0%}")
    if profile.numeric_quantiles:
        table.add_row("quantiles", ", ".join(
            f"q{float(q) * 100:g}={v:,.4g}" for q, v in profile.numeric_quantiles.items()))
    if profile.true_rate is not None:
        table.add_row("true", f"{profile.true_rate:.0%}")
    if profile.categories:
        shown = ", ".join(f"{c.value} ({c.count})" for c in profile.categories[:6])
        hidden = len(profile.categories) - 6 + profile.n_suppressed_categories
        table.add_row("categories", escape(shown) + (f" … +{hidden} more" if hidden > 0 else ""))
    if profile.length_mean is not None:
        table.add_row("mean length", f"{profile.length_mean:.1f}")
    if profile.pattern_shares:
        table.add_row("looks like", escape(", ".join(
            f"{name} {share:.0%}" for name, share in profile.pattern_shares.items() if share)))
    return table


def field_panel(view: FieldView, progress: Progress | None = None) -> Panel:
    """Who the field is, what is proposed, and its review state."""
    lines = Text()
    lines.append(f"{view.org}  ", style="bold")
    lines.append(view.qualified_name, style="bold cyan")
    lines.append(f"  ({view.kind or 'type unknown'})\n")
    lines.append(f"Label: {view.label or '—'}\n")
    lines.append(f"Description: {view.description or '—'}\n")
    lines.append("Proposal: ")
    lines.append(proposal_text(view), style="bold")
    lines.append(f"   confidence {view.confidence:.2f} ")
    lines.append(view.tier.value, style=_TIER_STYLE[view.tier])
    lines.append(f"   impact {view.impact:g}   status ")
    lines.append(view.status.value, style=_STATUS_STYLE[view.status])
    lines.append(f"   version {view.version}")
    prior = view.prior_decision
    if prior is not None:
        lines.append(
            f"\nMetadata changed since {prior.reviewer} decided {prior.action.value} "
            f"{prior.concept or prior.block or '(no concept)'} on {prior.decided_at[:10]}: "
            "review again.", style="magenta")
    if view.rejected:
        lines.append(f"\nRejected before (never proposed again): {', '.join(view.rejected)}",
                     style="dim")
    title = progress_text(progress) if progress is not None else None
    return Panel(lines, title=title, title_align="right")


def show_field(view: FieldView, progress: Progress | None = None) -> None:
    """Print everything a reviewer needs for one field."""
    console.print(field_panel(view, progress))
    console.print(candidates_table(view))
    if view.profile is not None:
        console.print(profile_table(view.profile))


# -- commands -------------------------------------------------------------------------------

@app.command("import")
@friendly_errors
def import_command(
    mapping: Annotated[Path, typer.Argument(help="The JSON `fedcrm match --out` wrote.")],
    schema: Annotated[list[str] | None, typer.Option(
        "--schema", help="Org metadata for labels, descriptions, profiles and change "
        "detection: ORG=PATH or PATH (org id = folder name). Repeat per org.")] = None,
    records: Annotated[list[str] | None, typer.Option(
        "--records", help="ORG=FOLDER of the org's <Object>.csv records: the fields of its "
        "--schema get value profiles (k-anonymous: no value seen under 5 times). Repeat per "
        "org.")] = None,
    db: DbOption = None, url: UrlOption = None, reviewer: ReviewerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import a `fedcrm match` result; re-importing keeps decisions of unchanged fields."""
    schemas = with_profiles(load_schemas(schema or []), records or [])
    # only the import itself: once it has committed, nothing (not even a broken pipe while
    # printing) may remove the database
    with _removed_if_the_first_import_fails(None if url is not None else db or DEFAULT_DB), \
            open_store(db, url, create=True) as store:
        report = store.import_proposal(mapping, schemas=schemas,
                                       imported_by=reviewer or default_reviewer())
        where = store.describe()
    if as_json:
        print_json(report)
        return
    console.print(f"Imported {report.n_fields} fields of {len(report.orgs)} org(s) "
                  f"into {escape(where)}: {report.n_new} new, "
                  f"{report.n_kept} decisions kept, {len(report.flagged)} flagged for review, "
                  f"{len(report.removed)} removed.")
    for name in report.flagged:
        console.print(f"  [magenta]needs review[/] {escape(name)} (metadata changed)")
    for name in report.withdrawn:
        console.print(f"  [dim]withdrawn[/] {escape(name)} (proposal was rejected before)")
    missing_now = report.n_unverified - report.n_unverified_earlier
    if missing_now:
        console.print(f"[yellow]{missing_now} field(s) could not be checked for "
                      "changes: pass --schema for every org at every import.[/]")
    if report.n_unverified_earlier:
        console.print(f"[yellow]{report.n_unverified_earlier} field(s) could not be checked for "
                      "changes: an earlier import had no --schema for their org; they are "
                      "checked from the next import on.[/]")


@app.command("queue")
@friendly_errors
def queue_command(
    org: Annotated[str | None, typer.Option(help="Only this org.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Rows to show.")] = 20,
    db: DbOption = None, url: UrlOption = None, as_json: JsonOption = False,
) -> None:
    """List undecided fields, low confidence and high impact first."""
    with open_store(db, url) as store:
        check_org(store, org)
        views = store.queue(org=org, limit=limit)
        if as_json:
            print_json([v.model_dump(mode="json") for v in views])
            return
        progress = store.progress(org=org)
        console.print(progress_text(progress))
        console.print(queue_table(views, f"Review queue ({len(views)} shown)"))


@app.command("show")
@friendly_errors
def show_command(
    org: Annotated[str, typer.Argument(help="Org id.")],
    field: Annotated[str, typer.Argument(help="Object.Field")],
    db: DbOption = None, url: UrlOption = None, as_json: JsonOption = False,
) -> None:
    """Show one field: candidates, evidence, value profile and history."""
    sobject, name = _split_field(field)
    with open_store(db, url) as store:
        view = store.field(org, sobject, name)
        if as_json:
            print_json(view)
            return
        show_field(view, store.progress())
        for record in store.history(org, sobject, name):
            console.print(f"  {record.decided_at[:19]} {escape(record.reviewer)}: "
                          f"{record.action.value} {escape(record.concept or record.block or '')} "
                          f"{escape(record.comment or '')}")


@app.command("decide")
@friendly_errors
def decide_command(
    org: Annotated[str, typer.Argument(help="Org id.")],
    field: Annotated[str, typer.Argument(help="Object.Field")],
    action: Annotated[DecideAction, typer.Argument(
        help="accept, choose, no_equivalent or defer (bulk acceptance: `review auto-accept`).",
        case_sensitive=False)],
    concept: Annotated[str | None, typer.Option(
        help="For choose: the concept id (or custom:<id> block).")] = None,
    comment: Annotated[str | None, typer.Option(help="Why (kept in the audit log).")] = None,
    seen_version: Annotated[int | None, typer.Option(
        "--seen-version", min=1,
        help="The field version you reviewed (from `show`); the decision fails if the field "
        "changed since. Without it, the decision applies to the current version.")] = None,
    db: DbOption = None, url: UrlOption = None, reviewer: ReviewerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Decide one field without the interactive loop (for scripts)."""
    sobject, name = _split_field(field)
    with open_store(db, url) as store:
        version = seen_version or store.field(org, sobject, name).version
        record = store.decide(DecisionRequest.from_input(
            org=org, object=sobject, field=name, action=Action(action.value),
            seen_version=version,
            reviewer=reviewer or default_reviewer(), concept=concept, comment=comment,
        ))
        if as_json:
            print_json(record)
            return
        console.print(f"{escape(org)} {escape(sobject)}.{escape(name)}: {record.action.value} "
                      f"{escape(record.concept or record.block or '')} "
                      f"(version {record.new_version})")


@app.command("next")
@friendly_errors
def next_command(
    org: Annotated[str | None, typer.Option(help="Only this org.")] = None,
    db: DbOption = None, url: UrlOption = None, reviewer: ReviewerOption = None,
) -> None:
    """Review the queue field by field with single keys.

    a accept · 1-5 choose that candidate · n no equivalent · d defer · c comment ·
    s skip · q quit
    """
    if not terminal_available():
        raise ConfigError(NO_TERMINAL)
    who = reviewer or default_reviewer()
    with open_store(db, url) as store:
        check_org(store, org)
        review_loop(store, who, org=org)


def review_loop(store: ReviewStore, reviewer: str, *, org: str | None = None) -> int:
    """The interactive loop of ``next``; returns the number of decisions made.

    A comment (``c``) belongs to the field on screen: it goes with that field's decision and
    is dropped when the loop moves on without one (``s``, or a conflict that reloads the
    field).
    """
    skipped: set[int] = set()
    decided = 0
    comment: str | None = None
    while True:
        if comment is not None:
            console.print("[yellow]The comment was not recorded (no decision on that field).[/]")
            comment = None
        view = next((v for v in store.queue(org=org) if v.id not in skipped), None)
        if view is None:
            console.print("[green]Nothing left to review.[/]" if not skipped
                          else f"No more fields ({len(skipped)} skipped).")
            return decided
        console.rule()
        show_field(view, store.progress(org=org))
        keys = len(view.candidates[:MAX_KEYED_CANDIDATES])
        console.print(f"[bold]a[/] accept  [bold]1-{keys}[/] choose  [bold]n[/] no equivalent  "
                      "[bold]d[/] defer  [bold]c[/] comment  [bold]s[/] skip  [bold]q[/] quit"
                      if keys else "[bold]a[/] accept  [bold]n[/] no equivalent  [bold]d[/] "
                      "defer  [bold]c[/] comment  [bold]s[/] skip  [bold]q[/] quit")
        while True:
            try:
                key = typer.getchar().lower()
            except (KeyboardInterrupt, EOFError):
                key = "q"
            except OSError as exc:  # no terminal to read keys from (/dev/tty)
                raise ConfigError(f"{NO_TERMINAL} ({exc.strerror or exc})") from exc
            action: Action | None = None
            concept: str | None = None
            if key in ("q", ""):  # "" is the end of piped input
                console.print(f"Stopped; {decided} decision(s) recorded.")
                return decided
            if key == "s":
                skipped.add(view.id)
                break
            if key == "c":
                comment = typer.prompt("Comment", default="", show_default=False) or None
                console.print("Comment noted; now choose an action.")
                continue
            if key == "a":
                action = Action.ACCEPT
            elif key == "n":
                action = Action.NO_EQUIVALENT
            elif key == "d":
                action = Action.DEFER
            elif key.isdigit() and 1 <= int(key) <= keys:
                action, concept = Action.CHOOSE, view.candidates[int(key) - 1].concept
            else:
                console.print(f"[dim]unknown key {escape(repr(key))}[/]")
                continue
            try:
                store.decide(DecisionRequest.from_input(
                    org=view.org, object=view.object, field=view.field, action=action,
                    seen_version=view.version, reviewer=reviewer, concept=concept,
                    comment=comment,
                ))
            except StaleVersionError as exc:
                error_console.print(f"[yellow]{escape(str(exc))}[/]", highlight=False)
                break
            except FedcrmError as exc:  # e.g. a comment too long: press c to replace it
                error_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
                continue
            decided += 1
            comment = None
            console.print(f"[green]✓[/] {action.value} {escape(concept or '')}")
            break


@app.command("auto-accept")
@friendly_errors
def auto_accept_command(
    threshold: Annotated[float, typer.Option(
        help="Accept pending concept proposals with at least this confidence (0.5-1).")],
    yes: Annotated[bool, typer.Option(
        "--yes", help="Confirm: accept them without looking at each one.")] = False,
    db: DbOption = None, url: UrlOption = None, reviewer: ReviewerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Accept confident proposals in bulk (only with --yes; never by default)."""
    if not yes:  # the store's own refusal names its Python argument, confirm=True
        raise ConfigError("auto-accept accepts fields nobody looked at; pass --yes once you "
                          "have chosen the threshold deliberately")
    with open_store(db, url) as store:
        records = store.auto_accept(threshold, reviewer or default_reviewer(), confirm=yes)
        if as_json:
            print_json([r.model_dump(mode="json") for r in records])
            return
        console.print(f"Auto-accepted {len(records)} field(s) with confidence ≥ {threshold:g}.")


@app.command("status")
@friendly_errors
def status_command(
    db: DbOption = None, url: UrlOption = None, as_json: JsonOption = False,
) -> None:
    """Progress of the review, by org and status."""
    with open_store(db, url) as store:
        progress = store.progress()
        if as_json:
            print_json(progress.model_dump(mode="json") | {"fraction": progress.fraction})
            return
        console.print(progress_text(progress))
        table = Table(title=f"Review status ({escape(store.describe())})")
        statuses = [s.value for s in Status]
        table.add_column("Org")
        for status in statuses:
            table.add_column(status, justify="right")
        for org_id, counts in sorted(progress.by_org.items()):
            table.add_row(escape(org_id), *(str(counts.get(s, 0)) for s in statuses))
        console.print(table)


@app.command("export")
@friendly_errors
def export_command(
    # a str, not a Path: Path("approved/") would lose the slash that marks a folder
    path: Annotated[str, typer.Argument(
        help="A .json file to write, or a folder (gets approved-mapping-v<N>.json): an "
        "existing folder, a path ending in '/', or any name without .json.")],
    approved_only: Annotated[bool, typer.Option(
        "--approved-only", help="Undecided fields map to nothing instead of the proposal.")]
    = False,
    db: DbOption = None, url: UrlOption = None, reviewer: ReviewerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write the approved mapping (fedcrm match format) and its provenance sidecar."""
    with open_store(db, url) as store:
        result = store.export_approved(path, exported_by=reviewer or default_reviewer(),
                                       approved_only=approved_only)
        if as_json:
            print_json(result)
            return
        undecided = result.n_fields - result.n_decided
        kept = ("" if approved_only or not undecided else
                f"; the other {undecided} keep the matcher's proposal, unreviewed "
                "(--approved-only leaves them out)")
        console.print(f"Wrote approved mapping v{result.version} to {escape(str(result.path))} "
                      f"({result.n_decided} of {result.n_fields} fields decided{kept}); "
                      f"provenance in {escape(str(result.provenance_path))}")


@app.command("labels")
@friendly_errors
def labels_command(
    folder: Annotated[Path, typer.Argument(help="Annotations folder (labels/<org>.jsonl).")],
    replace: Annotated[bool, typer.Option(
        "--replace", help="Overwrite existing labels that disagree with a decision.")] = False,
    db: DbOption = None, url: UrlOption = None, reviewer: ReviewerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Feed decisions into the annotated corpus as new labels."""
    with open_store(db, url) as store:
        report = store.export_labels(folder, replace=replace,
                                     exported_by=reviewer or default_reviewer())
    if as_json:
        print_json(report)
        return
    console.print(f"{report.added} label(s) added, {report.replaced} replaced, "
                  f"{report.unchanged} already there, {len(report.conflicts)} conflict(s).")
    for conflict in report.conflicts:
        console.print(
            f"  [yellow]conflict[/] {escape(conflict.org)} {escape(conflict.object)}."
            f"{escape(conflict.field)}: label says "
            f"{escape(conflict.existing_concept or conflict.existing_group or 'no concept')} "
            f"({escape(conflict.existing_annotator)}), decision says "
            f"{escape(conflict.decided_concept or conflict.decided_group or 'no concept')}; "
            "rerun with --replace to take the decision")
    if report.unregistered_orgs:
        error_console.print(plain(
            f"note: {folder / 'sources.yaml'} does not list org(s) "
            f"{', '.join(report.unregistered_orgs)}: no training reads their labels until "
            "they are registered there (an entry in sources.yaml, and the org's metadata as "
            f"schemas/{report.unregistered_orgs[0]}.json; annotations/DATASHEET.md)", "yellow"),
            highlight=False)


@app.command("audit")
@friendly_errors
def audit_command(
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Write here instead of standard output.")] = None,
    format: Annotated[str | None, typer.Option(
        help="jsonl or csv \\[default: from the --out extension (.csv, .jsonl, .json), else "
        "jsonl].")] = None,
    db: DbOption = None, url: UrlOption = None,
) -> None:
    """Export the append-only audit log (imports, decisions, flags, exports)."""
    format = audit_format(out, format)
    if out is not None:
        check_output_file(out, option="--out", example="audit.jsonl",
                          inputs={"--db": (db or DEFAULT_DB) if url is None else None})
    with open_store(db, url) as store:
        if out is not None:
            count = store.export_audit(out, format=format)
            console.print(f"Wrote {count} audit entries to {escape(str(out))}")
            return
        if format != "jsonl":
            raise ConfigError("only jsonl goes to standard output; use --out for csv")
        for entry in store.audit_log():
            sys.stdout.write(entry.model_dump_json() + "\n")


@app.command("serve")
@friendly_errors
def serve_command(
    host: Annotated[str, typer.Option(help="Address to bind; only loopback is allowed.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free one).")] = 8765,
    token: Annotated[str | None, typer.Option(
        envvar="FEDCRM_REVIEW_TOKEN",
        help="Login token \\[default: a random one, printed at start].")] = None,
    db: DbOption = None, url: UrlOption = None, reviewer: ReviewerOption = None,
) -> None:
    """Serve the review page on this machine only, behind a login token."""
    check_loopback(host)
    try:
        from fedcrm.review.web import serve
    except ImportError as exc:
        raise ConfigError(
            f"the review page needs FastAPI, uvicorn, Jinja2 and python-multipart ({exc}); "
            "pip install fastapi uvicorn jinja2 python-multipart"
        ) from exc
    with open_store(db, url) as store:
        serve(store, host=host, port=port, token=token,
              default_reviewer=reviewer or default_reviewer())
