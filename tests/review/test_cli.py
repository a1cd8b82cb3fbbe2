"""``fedcrm review`` as a user runs it (typer's runner; the interactive loop with keys)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from fedcrm import load_schema
from fedcrm.examples import example_org_path
from fedcrm.matching.proposal import Candidate, FieldMapping, MappingProposal, OrgMapping
from fedcrm.ontology import load_ontology
from fedcrm.review import Action, DecisionRequest, ReviewStore, Status
from fedcrm.review.cli import app, review_loop

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
    assert code == 0 and "2 label(s) added" in out


def test_errors_are_one_line_and_exit_2(mapping_file: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "review.db")
    invoke("import", str(mapping_file), "--db", db)
    code, out = invoke("decide", "acme", "Account.Nope__c", "accept", "--db", db)
    assert code == 2 and "no field Account.Nope__c" in out
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
    assert f"cannot write the audit log to {blocker / 'audit.csv'}" in one_error(out)
    code, out = invoke_wide("status", "--db", str(blocker / "review.db"))
    assert code == 2, out
    assert f"cannot create the folder {blocker}" in one_error(out)
