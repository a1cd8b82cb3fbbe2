"""``fedcrm review`` as a user runs it (typer's runner; the interactive loop with keys)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from fedcrm import load_schema
from fedcrm.annotate.cli import app as annotate_app
from fedcrm.errors import ConfigError
from fedcrm.examples import example_org_path
from fedcrm.matching.proposal import Candidate, FieldMapping, MappingProposal, OrgMapping
from fedcrm.ontology import load_ontology
from fedcrm.review import Action, DecisionRequest, ReviewStore, Status
from fedcrm.review import cli as review_cli
from fedcrm.review.cli import app, review_loop
from tests.review._helpers import sources_yaml

runner = CliRunner()

#: proposals for some fields of the bundled example org; the rest abstain without candidates
ACME = {
    ("Account", "Annual_Rev_USD__c"): ("account.annual_revenue", 0.96,
                                       [("account.annual_revenue", 0.96), ("account.arr", 0.3)]),
    ("Account", "NPS_Score__c"): ("account.nps_score", 0.62,
                                  [("account.nps_score", 0.62), ("account.csat_score", 0.35)]),
    ("Account", "Health__c"): (None, 0.55, [("account.health_status", 0.45),
                                            ("account.health_score", 0.3)]),
}


@pytest.fixture
def mapping_file(tmp_path: Path) -> Path:
    """A ``fedcrm match`` result for the example org ``acme``."""
    schema = load_schema(example_org_path("acme"))
    fields = []
    for sobject, meta in schema.iter_fields():
        concept, confidence, candidates = ACME.get((sobject.api_name, meta.api_name),
                                                   (None, 0.9, []))
        fields.append(FieldMapping(
            object=sobject.api_name, field=meta.api_name, concept=concept, block=concept,
            confidence=confidence,
            candidates=[Candidate(concept=c, score=s, evidence=[f"label ~ {c}"])
                        for c, s in candidates]))
    proposal = MappingProposal(ontology_version=load_ontology().version, matcher_version="m1",
                               orgs=[OrgMapping(org="acme", fields=fields)])
    path = tmp_path / "mapping.json"
    proposal.to_json(path)
    return path


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let ``next`` run under typer's runner, whose standard input is no terminal; the
    runner feeds the keys ``typer.getchar`` reads."""
    monkeypatch.setattr(review_cli, "terminal_available", lambda: True)


def invoke(*args: str, input: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), input=input)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_import_queue_decide_export_audit(mapping_file: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "review.db")
    code, out = invoke("import", str(mapping_file), "--schema",
                       f"acme={example_org_path('acme')}", "--db", db, "--reviewer", "ana")
    assert code == 0, out
    assert "Imported 20 fields of 1 org(s)" in out and "20 new" in out

    code, out = invoke("queue", "--db", db, "--json", "--limit", "3")
    queue = json.loads(out)
    assert [q["field"] for q in queue] == ["Health__c", "NPS_Score__c", "Annual_Rev_USD__c"]
    assert queue[0]["label"] == "Account Health" and queue[0]["kind"] == "picklist"

    code, out = invoke("queue", "--db", db)
    assert code == 0 and "0/20 decided" in out and "Health__c" in out

    code, out = invoke("show", "acme", "Account.NPS_Score__c", "--db", db)
    assert code == 0 and "account.csat_score" in out and "◀ proposed" in out
    assert "label ~" in out  # the evidence (folded to the 80-column test terminal)

    code, out = invoke("decide", "acme", "Account.NPS_Score__c", "accept", "--db", db,
                       "--reviewer", "ana", "--comment", "standard NPS", "--json")
    assert code == 0, out
    assert json.loads(out)["concept"] == "account.nps_score"

    code, out = invoke("decide", "acme", "Account.Health__c", "choose", "--concept",
                       "account.health_status", "--seen-version", "1", "--db", db,
                       "--reviewer", "ben")
    assert code == 0 and "choose account.health_status (version 2)" in out

    code, out = invoke("status", "--db", db, "--json")
    status = json.loads(out)
    assert status["decided"] == 2 and status["by_status"]["approved"] == 2

    exported = tmp_path / "approved.json"
    code, out = invoke("export", str(exported), "--db", db, "--reviewer", "ana")
    assert code == 0 and "approved mapping v1" in out
    # a file named "approved" holding unreviewed proposals says so
    assert "keep the matcher's proposal, unreviewed (--approved-only leaves them out)" in \
        " ".join(out.split())
    approved = MappingProposal.from_json(exported)
    assert approved.org("acme").field("Account", "Health__c").concept == \
        "account.health_status"
    assert exported.with_name("approved.provenance.json").is_file()

    code, out = invoke("audit", "--db", db)
    events = [json.loads(line)["event"] for line in out.splitlines()]
    assert events == ["import", "decision", "decision", "export"]
    code, out = invoke("audit", "--db", db, "--out", str(tmp_path / "audit.csv"),
                       "--format", "csv")
    assert code == 0 and "Wrote 4 audit entries" in out

    code, out = invoke("labels", str(tmp_path / "annotations"), "--db", db)
    assert code == 2 and "is not an annotations folder (no sources.yaml in it)" in out
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "sources.yaml").write_text("orgs: []\n", encoding="utf-8")
    # labels of orgs sources.yaml does not list are read by no training: said, not refused
    # (a staging folder for `annotate from-review --labels-dir`)
    code, out = invoke("labels", str(tmp_path / "annotations"), "--db", db)
    assert code == 0 and "2 label(s) added" in out
    assert "does not list org(s) acme: no training reads their labels" in out
    # what registering takes (it suggested `annotate from-review --labels-dir ... --schema`,
    # which merges the labels and registers nothing)
    assert "schemas/acme.json" in out and "from-review" not in out
    # annotate from-review says it too, as annotate import does
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "sources.yaml").write_text("orgs: []\n", encoding="utf-8")
    merged = runner.invoke(annotate_app, [
        "from-review", "--labels-dir", str(tmp_path / "annotations"), "--annotations",
        str(target), "--schema", f"acme={example_org_path('acme')}"], env={"COLUMNS": "300"})
    assert merged.exit_code == 0, merged.output
    assert "note: org acme is not in sources.yaml; the matcher does not train on its labels" \
        in merged.output
    (tmp_path / "annotations" / "sources.yaml").write_text(sources_yaml(), encoding="utf-8")
    code, out = invoke("labels", str(tmp_path / "annotations"), "--db", db, "--json")
    assert code == 0 and json.loads(out)["unregistered_orgs"] == []


def test_import_with_records_gives_the_fields_value_profiles(mapping_file: Path,
                                                              tmp_path: Path) -> None:
    """There was no command that made a profile: the page said 'No profile (import with the
    org's schema to see one)' after an import with the schema."""
    records = tmp_path / "records"
    records.mkdir()
    health = ["Green"] * 12 + ["Red"] * 7 + ["Amber"] * 2  # Amber: 2 accounts, under k = 5
    lines = ["Id,Health__c,Annual_Rev_USD__c"] + [
        f"001{i:015d},{value},{1000 * (i + 1)}" for i, value in enumerate(health)]
    (records / "Account.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    db = str(tmp_path / "review.db")
    schema = f"acme={example_org_path('acme')}"
    code, out = invoke("import", str(mapping_file), "--schema", schema, "--records",
                       f"acme={records}", "--db", db)
    assert code == 0, out
    assert f"acme: value profiles of 2 field(s) from {records}" in " ".join(out.split())
    code, out = invoke("show", "acme", "Account.Health__c", "--db", db, "--json")
    profile = json.loads(out)["profile"]
    assert [c["value"] for c in profile["categories"]] == ["Green", "Red"]
    assert profile["n_rows"] == 21 and profile["n_suppressed_categories"] == 1
    code, out = invoke("show", "acme", "Account.Annual_Rev_USD__c", "--db", db, "--json")
    # 21 amounts in blocks of 5 (the last of 6): the median's block is the 11th to 15th
    assert json.loads(out)["profile"]["numeric_quantiles"]["0.5"] == pytest.approx(13000.0)
    for args, message in [
        (["--records", f"acme={records}"], "org acme has no --schema"),
        (["--schema", schema, "--records", str(records)], "expected ORG=FOLDER"),
        (["--schema", schema, "--records", f"acme={records}", "--records", f"acme={records}"],
         "gives org acme twice"),
        (["--schema", schema, "--records", f"acme={tmp_path / 'nope'}"], "no records folder"),
    ]:
        code, out = invoke("import", str(mapping_file), "--db", db, *args)
        assert code == 2 and message in out, out


def test_errors_are_one_line_and_exit_2(mapping_file: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "review.db")
    invoke("import", str(mapping_file), "--db", db)
    code, out = invoke("decide", "acme", "Account.Nope__c", "accept", "--db", db)
    assert code == 2 and "no field Account.Nope__c" in out
    # a folder as --db said "unable to open database file"
    for command in (["status"], ["import", str(mapping_file)]):
        code, out = invoke(*command, "--db", str(tmp_path))
        assert code == 2 and f"--db {tmp_path} is a folder; give the review's SQLite file" in \
            " ".join(out.split())
    code, out = invoke("decide", "acme", "Account.NPS_Score__c", "accept",
                       "--seen-version", "7", "--db", db)
    assert code == 2 and "version 7" in out and "reload the field" in out
    code, out = invoke("decide", "acme", "Account.NPS_Score__c", "choose",
                       "--concept", "account.nps", "--db", db)
    assert code == 2 and "not a concept of the ontology" in out
    code, out = invoke("decide", "acme", "NPS_Score__c", "accept", "--db", db)
    assert code == 2 and "Object.Field" in out
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"version": 1, "orgs": [}')
    code, out = invoke("import", str(corrupt), "--db", db)
    assert code == 2 and "malformed JSON" in out
    code, out = invoke("status", "--db", db, "--url", "sqlite://")
    assert code == 2 and "not both" in out
    code, out = invoke("auto-accept", "--threshold", "0.9", "--db", db)
    assert code == 2 and "--yes" in out
    code, out = invoke("serve", "--host", "0.0.0.0", "--db", db)
    assert code == 2 and "only binds to this machine" in out


def test_auto_accept_with_yes(mapping_file: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "review.db")
    invoke("import", str(mapping_file), "--db", db)
    code, out = invoke("auto-accept", "--threshold", "0.95", "--yes", "--db", db,
                       "--reviewer", "ana")
    assert code == 0 and "Auto-accepted 1 field(s)" in out


@pytest.mark.usefixtures("terminal")
def test_next_is_driven_by_single_keys(mapping_file: Path, tmp_path: Path) -> None:
    db = tmp_path / "review.db"
    invoke("import", str(mapping_file), "--db", str(db))
    # Health__c first: comment, then choose candidate 2; NPS next: defer;
    # Annual revenue: x is not a key, then accept; then quit
    keys = "c" + "scores, not statuses\n" + "2" + "d" + "x" + "a" + "q"
    code, out = invoke("next", "--db", str(db), "--reviewer", "ana", input=keys)
    assert code == 0, out
    assert "Account.Health__c" in out and "account.health_status" in out
    assert "unknown key 'x'" in out and "Stopped; 3 decision(s) recorded." in out
    with ReviewStore(db) as store:
        health = store.field("acme", "Account", "Health__c")
        assert health.status is Status.APPROVED
        assert health.decided_concept == "account.health_score"
        assert health.last_decision is not None
        assert health.last_decision.comment == "scores, not statuses"
        assert store.field("acme", "Account", "NPS_Score__c").status is Status.DEFERRED
        assert store.field("acme", "Account", "Annual_Rev_USD__c").status is Status.APPROVED
        assert {d.reviewer for d in store.decisions()} == {"ana"}


@pytest.mark.usefixtures("terminal")
def test_next_skips_and_ends_when_the_queue_is_empty(mapping_file: Path,
                                                     tmp_path: Path) -> None:
    db = str(tmp_path / "review.db")
    invoke("import", str(mapping_file), "--db", db)
    invoke("auto-accept", "--threshold", "0.5", "--yes", "--db", db)
    # the abstentions are left: skip every one of them
    code, out = invoke("next", "--db", db, input="s" * 18)
    assert code == 0 and "No more fields (18 skipped)." in out
    # the end of the input stops the loop like q
    code, out = invoke("next", "--db", db, input="s")
    assert code == 0 and "Stopped; 0 decision(s) recorded." in out


def invoke_wide(*args: str) -> tuple[int, str]:
    """Like :func:`invoke`, on a terminal wide enough that rich wraps no message."""
    result = runner.invoke(app, list(args), env={"COLUMNS": "2000"})
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def one_error(out: str) -> str:
    """The one line a failed command printed; asserts that it is one line, and an error."""
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out
    return lines[0]


@pytest.mark.usefixtures("terminal")
def test_a_comment_stays_with_its_field_after_a_skip(mapping_file: Path, tmp_path: Path) -> None:
    db = tmp_path / "review.db"
    invoke("import", str(mapping_file), "--db", str(db))
    # Health__c first: comment on it, then skip it; NPS next: defer; quit
    keys = "c" + "only about Health\n" + "s" + "d" + "q"
    code, out = invoke("next", "--db", str(db), "--reviewer", "ana", input=keys)
    assert code == 0, out
    assert "comment was not recorded" in out
    with ReviewStore(db) as store:
        [decision] = store.decisions()
        assert (decision.field, decision.action.value) == ("NPS_Score__c", "defer")
        assert decision.comment is None
        assert [e.comment for e in store.audit_log() if e.event == "decision"] == [None]


def test_a_comment_is_dropped_when_a_conflict_reloads_the_field(
    mapping_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "review.db"
    invoke("import", str(mapping_file), "--db", str(db))

    def someone_else_defers_health() -> str:
        with ReviewStore(db) as other:
            health = other.field("acme", "Account", "Health__c")
            other.decide(DecisionRequest(org="acme", object="Account", field="Health__c",
                                         action=Action.DEFER, seen_version=health.version,
                                         reviewer="ben"))
        return "a"

    # Health__c: comment, then accept after ben deferred it (stale); NPS next: no equivalent
    keys: list[str | Callable[[], str]] = ["c", someone_else_defers_health, "n", "q"]
    monkeypatch.setattr(typer, "getchar",
                        lambda: (key() if callable(key := keys.pop(0)) else key))
    monkeypatch.setattr(typer, "prompt", lambda *_args, **_kwargs: "only about Health")
    with ReviewStore(db) as store:
        assert review_loop(store, "ana") == 1
        by_field = {(d.field, d.reviewer): d for d in store.decisions()}
    assert set(by_field) == {("Health__c", "ben"), ("NPS_Score__c", "ana")}
    assert by_field["NPS_Score__c", "ana"].action is Action.NO_EQUIVALENT
    assert by_field["NPS_Score__c", "ana"].comment is None
    assert by_field["Health__c", "ben"].comment is None


@pytest.mark.usefixtures("terminal")
def test_next_reports_an_over_long_comment_and_goes_on(mapping_file: Path,
                                                       tmp_path: Path) -> None:
    db = tmp_path / "review.db"
    invoke("import", str(mapping_file), "--db", str(db))
    # Health__c: a 4001-character comment, accept (refused), a short comment, accept
    keys = "c" + "x" * 4001 + "\n" + "a" + "c" + "short\n" + "a" + "q"
    code, out = invoke("next", "--db", str(db), "--reviewer", "ana", input=keys)
    assert code == 0, out
    flat = " ".join(out.split())
    assert "comment: String should have at most 4000 characters" in flat
    assert "Stopped; 1 decision(s) recorded." in flat
    with ReviewStore(db) as store:
        [decision] = store.decisions()
        assert (decision.field, decision.comment) == ("Health__c", "short")


@pytest.mark.parametrize(("args", "message"), [
    (["choose"], "'choose' needs the concept id"),
    (["accept", "--concept", "account.nps_score"], "only 'choose' takes a concept"),
    (["defer", "--comment", "x" * 4001], "comment: String should have at most 4000 characters"),
    (["defer", "--reviewer", "r" * 201], "reviewer: String should have at most 200 characters"),
    (["choose", "--concept", "custom:"], "a custom block needs an id after 'custom:'"),
])
def test_bad_decisions_are_one_line_errors(
    mapping_file: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    db = str(tmp_path / "review.db")
    invoke("import", str(mapping_file), "--db", db)
    code, out = invoke_wide("decide", "acme", "Account.NPS_Score__c", *args, "--db", db)
    assert code == 2, out
    assert message in one_error(out)
    assert "acme Account.NPS_Score__c" in one_error(out)
    with ReviewStore(db) as store:
        assert store.decisions() == []


def test_auto_accept_with_an_over_long_reviewer_name(mapping_file: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "review.db")
    invoke("import", str(mapping_file), "--db", db)
    code, out = invoke_wide("auto-accept", "--threshold", "0.95", "--yes", "--db", db,
                            "--reviewer", "r" * 201)
    assert code == 2 and "at most 200 characters" in one_error(out)


@pytest.mark.parametrize("given", ["approved/", "approved", "existing.json"])
def test_export_into_a_folder(mapping_file: Path, tmp_path: Path, given: str) -> None:
    db = str(tmp_path / "review.db")
    invoke("import", str(mapping_file), "--db", db)
    tmp_path.joinpath("existing.json").mkdir()
    folder = tmp_path / given.rstrip("/")
    code, out = invoke("export", str(tmp_path / given), "--db", db, "--json")
    assert code == 0, out
    result = json.loads(out)
    assert result["path"] == str(folder / "approved-mapping-v1.json")
    assert folder.is_dir()
    assert sorted(p.name for p in folder.iterdir()) == [
        "approved-mapping-v1.json", "approved-mapping-v1.provenance.json"]
    assert sum(1 for _ in MappingProposal.from_json(result["path"]).iter_fields()) == 20
    code, out = invoke("export", str(tmp_path / given), "--db", db, "--json")
    assert json.loads(out)["path"] == str(folder / "approved-mapping-v2.json")


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    notes = tmp_path / "notadb.txt"
    notes.write_text("shopping list\n" * 200)
    code, out = invoke_wide("status", "--db", str(notes))
    assert code == 2, out
    flat = one_error(out)
    assert "cannot open the review database" in flat and "notadb.txt" in flat
    assert "file is not a database" in flat and "--db" in flat
    assert notes.read_text() == "shopping list\n" * 200


def test_export_that_cannot_be_written(mapping_file: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "review.db")
    invoke("import", str(mapping_file), "--db", db)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    code, out = invoke_wide("export", str(blocker / "m.json"), "--db", db)
    assert code == 2, out
    assert f"cannot write {blocker / 'm.json'}" in one_error(out)
    code, out = invoke_wide("audit", "--out", str(blocker / "audit.csv"), "--db", db)
    assert code == 2, out
    assert f"--out {blocker / 'audit.csv'}: {blocker} is a file, not a folder" in one_error(out)
    code, out = invoke_wide("import", str(mapping_file), "--db", str(blocker / "review.db"))
    assert code == 2, out
    assert f"cannot create the folder {blocker}" in one_error(out)


# -- commands that need an existing review ---------------------------------------------------

#: every command but import, with the arguments it needs to get as far as opening the store
NEEDS_A_REVIEW = [
    ["status"], ["queue"], ["show", "acme", "Account.Health__c"],
    ["decide", "acme", "Account.Health__c", "accept"], ["next"],
    ["auto-accept", "--threshold", "0.9", "--yes"], ["export", "out.json"],
    ["labels", "annotations"], ["audit"], ["serve", "--port", "0"],
]


@pytest.mark.usefixtures("terminal")
@pytest.mark.parametrize("command", NEEDS_A_REVIEW, ids=lambda command: command[0])
def test_commands_refuse_a_missing_database_and_create_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out = invoke_wide(*command)
    assert code == 2, out
    assert ("no review database at .fedcrm/review.db; run `fedcrm review import` first"
            in one_error(out))
    code, out = invoke_wide(*command, "--db", "reveiw.db")  # a typo
    assert code == 2, out
    assert "no review database at reveiw.db" in one_error(out)
    assert list(tmp_path.iterdir()) == []


def test_import_still_creates_the_database(mapping_file: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out = invoke("import", str(mapping_file))
    assert code == 0, out
    assert (tmp_path / ".fedcrm" / "review.db").is_file()
    code, out = invoke("status")
    assert code == 0 and "0/20 decided" in out


def test_a_mapping_saved_with_a_bom_imports(mapping_file: Path, tmp_path: Path) -> None:
    bom = tmp_path / "bom.json"
    bom.write_text("\ufeff" + mapping_file.read_text(encoding="utf-8"), encoding="utf-8")
    code, out = invoke("import", str(bom), "--db", str(tmp_path / "review.db"))
    assert code == 0, out


def test_a_failed_first_import_leaves_no_database_behind(mapping_file: Path,
                                                          tmp_path: Path) -> None:
    bad = tmp_path / "empty.json"
    bad.write_text("{}")
    db = tmp_path / "new" / "sub" / "review.db"
    code, out = invoke_wide("import", str(bad), "--db", str(db))
    assert code == 2, out
    # a later command on that path says there is no review, not "an empty review"
    assert not (tmp_path / "new").exists()
    assert "no review database at" in one_error(invoke_wide("status", "--db", str(db))[1])
    # a failed import into an existing review leaves it as it was
    assert invoke("import", str(mapping_file), "--db", str(db))[0] == 0
    before = db.read_bytes()
    assert invoke_wide("import", str(bad), "--db", str(db))[0] == 2
    assert db.read_bytes() == before


# -- next without a terminal ---------------------------------------------------------------

def test_next_without_a_terminal_says_to_use_decide(mapping_file: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "review.db")
    invoke("import", str(mapping_file), "--db", db)
    code, out = invoke_wide("next", "--db", db)  # the runner's input is no terminal
    assert code == 2, out
    assert one_error(out) == ("error: `review next` needs an interactive terminal; use "
                              "`fedcrm review decide`")


@pytest.mark.parametrize("piped", [b"a", None], ids=["pipe", "dev-null"])
def test_next_with_piped_input_in_a_real_process(mapping_file: Path, tmp_path: Path,
                                                 piped: bytes | None) -> None:
    db = str(tmp_path / "review.db")
    invoke("import", str(mapping_file), "--db", db)
    # a session of its own has no controlling terminal: /dev/tty cannot be opened either
    finished = subprocess.run(
        [sys.executable, "-m", "fedcrm", "review", "next", "--db", db],
        input=piped, stdin=None if piped is not None else subprocess.DEVNULL,
        capture_output=True, start_new_session=True, timeout=120, check=False,
    )
    errors = finished.stderr.decode()
    assert finished.returncode == 2, errors
    assert "needs an interactive terminal" in errors and "Traceback" not in errors
    with ReviewStore(db) as store:
        assert store.decisions() == []


def test_the_loop_turns_an_unreadable_terminal_into_an_error(
    mapping_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "review.db"
    invoke("import", str(mapping_file), "--db", str(db))

    def no_tty() -> str:
        raise OSError(6, "No such device or address", "/dev/tty")

    monkeypatch.setattr(typer, "getchar", no_tty)
    with ReviewStore(db) as store, pytest.raises(ConfigError, match=r"interactive terminal; "
                                                 r"use `fedcrm review decide` \(No such"):
        review_loop(store, "ana")


# -- unknown orgs, actions, formats ------------------------------------------------------------

@pytest.mark.usefixtures("terminal")
@pytest.mark.parametrize("command", ["queue", "next"])
def test_an_unknown_org_is_refused_with_the_known_ones(mapping_file: Path, tmp_path: Path,
                                                        command: str) -> None:
    db = str(tmp_path / "review.db")
    invoke("import", str(mapping_file), "--db", db)
    code, out = invoke_wide(command, "--org", "nope", "--db", db)
    assert code == 2, out
    assert "org 'nope' is not in the review store" in one_error(out)
    assert "(known orgs: acme)" in one_error(out)


def test_decide_offers_only_per_field_actions(mapping_file: Path, tmp_path: Path) -> None:
    code, out = invoke_wide("decide", "--help")
    assert code == 0 and "ACTION:{accept|choose|no_equivalent|defer}" in out
    assert "auto_accept" not in out
    db = str(tmp_path / "review.db")
    invoke("import", str(mapping_file), "--db", db)
    code, out = invoke_wide("decide", "acme", "Account.NPS_Score__c", "auto_accept", "--db", db)
    assert code == 2 and "is not one of" in out


@pytest.mark.parametrize(("name", "format", "expected"), [
    ("log.csv", None, "csv"), ("log.CSV", None, "csv"), ("log.jsonl", None, "jsonl"),
    ("log.json", None, "jsonl"), ("log.txt", None, "jsonl"), ("log.txt", "csv", "csv"),
    ("log.csv", "csv", "csv"),
])
def test_audit_format_follows_the_file_extension(
    mapping_file: Path, tmp_path: Path, name: str, format: str | None, expected: str
) -> None:
    db = str(tmp_path / "review.db")
    invoke("import", str(mapping_file), "--db", db)
    out_file = tmp_path / name
    code, out = invoke("audit", "--db", db, "-o", str(out_file),
                       *(["--format", format] if format else []))
    assert code == 0, out
    first = out_file.read_text().splitlines()[0]
    if expected == "csv":
        assert first.startswith("id,at,actor,event,")
    else:
        assert json.loads(first)["event"] == "import"


def test_audit_never_writes_over_the_review_database(mapping_file: Path, tmp_path: Path) -> None:
    db = tmp_path / "review.db"
    invoke("import", str(mapping_file), "--db", str(db))
    before = db.read_bytes()
    code, out = invoke_wide("audit", "--db", str(db), "--out", str(db))
    assert code == 2, out
    assert "is the input given as --db; writing it would overwrite that input" in one_error(out)
    assert db.read_bytes() == before
    assert invoke("status", "--db", str(db))[0] == 0


@pytest.mark.parametrize(("name", "format"), [("log.csv", "jsonl"), ("log.jsonl", "csv"),
                                              ("log.json", "csv")])
def test_audit_refuses_a_format_the_extension_contradicts(
    mapping_file: Path, tmp_path: Path, name: str, format: str
) -> None:
    db = str(tmp_path / "review.db")
    invoke("import", str(mapping_file), "--db", db)
    code, out = invoke_wide("audit", "--db", db, "-o", str(tmp_path / name), "--format", format)
    assert code == 2, out
    assert f"--format {format} contradicts the file name" in one_error(out)
    assert not (tmp_path / name).exists()


def test_auto_accept_without_yes_names_the_flag_only(mapping_file: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "review.db")
    invoke("import", str(mapping_file), "--db", db)
    code, out = invoke_wide("auto-accept", "--threshold", "0.9", "--db", db)
    assert code == 2, out
    assert "pass --yes" in one_error(out) and "confirm=True" not in out
    with ReviewStore(db) as store:
        assert store.decisions() == []


# -- user text is printed as written ------------------------------------------------------------

def test_paths_and_values_are_not_read_as_markup(mapping_file: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "review.db")
    invoke("import", str(mapping_file), "--db", db)
    code, out = invoke_wide("export", str(tmp_path / "exports[v2]") + "/", "--db", db)
    assert code == 0, out
    assert f"to {tmp_path / 'exports[v2]' / 'approved-mapping-v1.json'}" in out
    audit_file = tmp_path / "bk[/]a.jsonl"
    code, out = invoke_wide("audit", "--db", db, "-o", str(audit_file))
    assert code == 0, out
    assert f"to {audit_file}" in out and audit_file.is_file()
    # a block id the annotation corpus could not store is refused, and shown as typed
    code, out = invoke_wide("decide", "acme", "Account.Health__c", "choose", "--concept",
                            "custom:[b]tier", "--db", db)
    assert code == 2 and "custom block id '[b]tier' must be letters" in out, out
    code, out = invoke_wide("decide", "acme", "Account.Health__c", "choose", "--concept",
                            "custom:account.arr", "--db", db)
    assert code == 2 and "'account.arr' is a concept id" in out, out
    code, out = invoke_wide("decide", "acme", "Account.Health__c", "choose", "--concept",
                            "custom:tier", "--comment", "[b]not bold", "--db", db)
    assert code == 0 and "choose custom:tier (version 2)" in out, out
    code, out = invoke_wide("show", "acme", "Account.Health__c", "--db", db)
    assert code == 0 and "[b]not bold" in out, out


# -- serve -----------------------------------------------------------------------------------

def test_serve_refuses_a_port_in_use_before_printing_the_address(
    mapping_file: Path, tmp_path: Path
) -> None:
    db = str(tmp_path / "review.db")
    invoke("import", str(mapping_file), "--db", db)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out = invoke_wide("serve", "--port", str(port), "--db", db)
    assert code == 2, out
    assert f"port {port} is in use on 127.0.0.1; pass --port" in one_error(out)
    assert "login?token" not in out


def test_serve_prints_the_address_it_listens_on(mapping_file: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "review.db")
    invoke("import", str(mapping_file), "--db", db)
    token = "t[b]" + "x" * 20  # rich markup in the token is printed as written
    server = subprocess.Popen(
        [sys.executable, "-m", "fedcrm", "review", "serve", "--port", "0", "--db", db,
         "--token", token],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=os.environ | {"COLUMNS": "2000", "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline(), server.stdout.readline()]
        found = re.fullmatch(r"Open (http://127\.0\.0\.1:(\d+))/login\?token=(\S+)\n", lines[1])
        assert found is not None, lines
        assert int(found[2]) > 0 and found[3] == token
        with urllib.request.urlopen(found[1] + "/login", timeout=30) as page:
            assert page.status == 200
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)
