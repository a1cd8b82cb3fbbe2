"""Bad input gets a clear error that names the field (or file) and the fix, and changes
nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from fedcrm.errors import ConfigError, MappingError
from fedcrm.ontology.models import Ontology
from fedcrm.review import (
    Action,
    DecisionRequest,
    ReviewStore,
    StaleVersionError,
    UnknownFieldError,
)

from ._helpers import make_proposal, make_schemas


def request(**changes: object) -> DecisionRequest:
    values: dict[str, object] = {"org": "acme", "object": "Account", "field": "Annual_Rev__c",
                                 "action": Action.ACCEPT, "seen_version": 1, "reviewer": "ana"}
    return DecisionRequest(**(values | changes))  # type: ignore[arg-type]


def test_decision_on_an_unknown_field(store: ReviewStore) -> None:
    with pytest.raises(UnknownFieldError, match=r"no field Account\.Nope__c.*fedcrm review "
                                                r"import") as caught:
        store.decide(request(field="Nope__c"))
    assert isinstance(caught.value, MappingError)
    assert (caught.value.org, caught.value.field) == ("acme", "Nope__c")
    with pytest.raises(UnknownFieldError, match="known orgs: acme, globex"):
        store.decide(request(org="initech"))
    with pytest.raises(UnknownFieldError, match="no field with id 999"):
        store.field_by_id(999)
    assert [e.event for e in store.audit_log()] == ["import"]


def test_decision_on_a_stale_version(store: ReviewStore) -> None:
    with pytest.raises(StaleVersionError, match=r"acme Account\.Annual_Rev__c: you decided on "
                                                r"version 3, but the field is now at version 1"):
        store.decide(request(seen_version=3))
    assert store.progress().decided == 0


def test_decision_on_a_removed_field(store: ReviewStore) -> None:
    store.import_proposal(make_proposal(drop={("acme", "Account", "Annual_Rev__c")}),
                          imported_by="importer")
    with pytest.raises(UnknownFieldError, match="removed from the org's latest mapping"):
        store.decide(request(seen_version=2))


def test_choosing_a_concept_the_ontology_does_not_have(store: ReviewStore) -> None:
    with pytest.raises(MappingError, match=r"'account.anual_revenue' is not a concept of the "
                                           r"ontology.*did you mean account.annual_revenue"):
        store.decide(request(action=Action.CHOOSE, concept="account.anual_revenue"))
    assert store.field("acme", "Account", "Annual_Rev__c").version == 1


@pytest.mark.parametrize(("changes", "message"), [
    ({"action": Action.CHOOSE}, "'choose' needs the concept id"),
    ({"concept": "account.arr"}, "only 'choose' takes a concept"),
    ({"reviewer": "  "}, "reviewer"),
    ({"seen_version": 0}, "seen_version"),
    ({"action": "approve"}, "action"),
    ({"action": Action.CHOOSE, "concept": "custom:"}, "needs an id"),
])
def test_malformed_decision_requests(changes: dict[str, object], message: str) -> None:
    # the constructor raises fedcrm's error, one line, pydantic's as its cause
    with pytest.raises(MappingError, match=message) as caught:
        request(**changes)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value.__cause__, ValidationError)


@pytest.mark.parametrize(("changes", "message"), [
    ({"action": Action.CHOOSE}, r"^acme Account\.Annual_Rev__c: 'choose' needs the concept id"),
    ({"comment": "x" * 4001}, r"^acme Account\.Annual_Rev__c: comment: String should have at "
                              r"most 4000 characters \(got 4001 characters\)$"),
    ({"reviewer": "  "}, r"reviewer: String should have at least 1 character"),
    ({"seen_version": 0}, r"seen_version: Input should be greater than or equal to 1 \(got 0\)"),
])
def test_decision_requests_from_user_input_raise_mapping_errors(
    changes: dict[str, object], message: str
) -> None:
    values: dict[str, object] = {"org": "acme", "object": "Account", "field": "Annual_Rev__c",
                                 "action": Action.ACCEPT, "seen_version": 1, "reviewer": "ana"}
    with pytest.raises(MappingError, match=message) as caught:
        DecisionRequest.from_input(**(values | changes))
    assert "\n" not in str(caught.value) and "pydantic" not in str(caught.value)
    assert isinstance(caught.value.__cause__, ValidationError)


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize(("content", "message"), [
    ("", "malformed JSON at line 1"),
    ('{"version": 1, "orgs": [', "malformed JSON"),
    ('{"version": 1, "matcher_version": "m"}', "invalid mapping.*ontology_version"),
    ('{"version": 1, "ontology_version": "o", "matcher_version": "m", "orgs": [{"org": "a", '
     '"fields": [{"object": "Account", "field": "X", "confidence": 2}]}]}',
     "less than or equal to 1"),
    ('{"version": 1, "ontology_version": "o", "matcher_version": "m", "orgs": [{"org": "a", '
     '"fields": [{"object": "A", "field": "X", "confidence": 1}, {"object": "a", '
     '"field": "x", "confidence": 1}]}]}', "twice"),
    ("[1, 2, 3]", "invalid mapping"),
    (b"\xff\xfe\x00garbage", "cannot import"),
    ('{"version": 1,\n "ontology_version": "Société"}'.encode("latin-1"),
     r"not UTF-8 text \(byte 0xe9 on line 2\).*re-save it as UTF-8"),
])
def test_corrupt_imports_are_refused_and_change_nothing(
    store: ReviewStore, tmp_path: Path, content: str | bytes, message: str
) -> None:
    path = write(tmp_path / "mapping.json", content)
    with pytest.raises(MappingError, match=message) as caught:
        store.import_proposal(path, imported_by="importer")
    assert "mapping.json" in str(caught.value)
    assert [e.event for e in store.audit_log()] == ["import"]  # only the fixture's import


def test_missing_import_file(store: ReviewStore, tmp_path: Path) -> None:
    with pytest.raises(MappingError, match=r"missing\.json: cannot read the mapping"):
        store.import_proposal(tmp_path / "missing.json", imported_by="importer")


def test_import_with_concepts_the_ontology_lacks(store: ReviewStore, tmp_path: Path) -> None:
    data = json.loads(make_proposal().to_json())
    data["orgs"][0]["fields"][0]["candidates"][1]["concept"] = "account.warp_speed"
    path = write(tmp_path / "mapping.json", json.dumps(data))
    with pytest.raises(MappingError, match="not in the ontology.*account.warp_speed"):
        store.import_proposal(path, imported_by="importer")
    # a field mapped to it breaks the block rule too: the unknown concept is what is said
    # (it said "must have block 'account.warp_speed', not ...")
    data = json.loads(make_proposal().to_json())
    mapped = next(f for f in data["orgs"][0]["fields"] if f["concept"])
    mapped["concept"] = "account.warp_speed"
    path = write(tmp_path / "mapped.json", json.dumps(data))
    with pytest.raises(MappingError, match=r"mapped.json: concept id\(s\) not in the ontology "
                                           r".*: account.warp_speed; re-run fedcrm match"):
        store.import_proposal(path, imported_by="importer")


@pytest.mark.parametrize(("block", "message"), [
    ("custom:bad id", r"custom block id 'bad id' must be letters, digits"),
    ("custom:account.arr", r"'account.arr' is a concept id"),
])
def test_import_with_a_custom_block_the_label_corpus_cannot_store(
        store: ReviewStore, tmp_path: Path, block: str, message: str) -> None:
    """Such a block was imported and approved, and only `annotate from-review` refused it."""
    data = json.loads(make_proposal().to_json())
    field = next(f for org in data["orgs"] for f in org["fields"]
                 if (f["block"] or "").startswith("custom:"))
    field["block"] = block
    path = write(tmp_path / "mapping.json", json.dumps(data))
    with pytest.raises(MappingError, match=rf"mapping.json: globex Account.Loyalty_Tier__c: "
                                           rf"{message}"):
        store.import_proposal(path, imported_by="importer")
    assert [e.event for e in store.audit_log()] == ["import"]  # the first import only


def test_a_single_auto_accept_decision_is_refused(store: ReviewStore) -> None:
    """The audit log would show a person's choice as a bulk acceptance above a threshold (the
    CLI and the web page refuse it too)."""
    abstained = store.field("acme", "Account", "Sector__c")
    with pytest.raises(MappingError, match=r"acme Account.Sector__c: 'auto_accept' is recorded "
                                           r"only by auto_accept\(threshold"):
        store.decide(request(field="Sector__c", action=Action.AUTO_ACCEPT,
                             seen_version=abstained.version))
    assert store.progress().decided == 0
    # the bulk path still records it
    records = store.auto_accept(0.9, "ana", confirm=True)
    assert [(r.field, r.action) for r in records] == [("Annual_Rev__c", Action.AUTO_ACCEPT),
                                                      ("Revenue__c", Action.AUTO_ACCEPT)]


def test_import_with_mismatched_schemas(store: ReviewStore) -> None:
    acme, globex = make_schemas()
    with pytest.raises(MappingError, match=r"schema\(s\) given for org\(s\) \['initech'\]"):
        store.import_proposal(make_proposal(), schemas={"initech": acme},
                              imported_by="importer")
    lean = acme.model_copy(update={"objects": acme.objects[:1]})  # no Opportunity
    with pytest.raises(MappingError, match=r"field Opportunity\.Win_Chance__c of org acme, "
                                           r"but the schema given for acme does not"):
        store.import_proposal(make_proposal(), schemas=[lean, globex], imported_by="importer")


def test_bad_database_locations(tmp_path: Path, ontology: Ontology) -> None:
    with pytest.raises(ConfigError, match="invalid database URL"):
        ReviewStore("postgresql://user@host:port/db", ontology=ontology)
    # a password in a malformed URL is never printed (FEDCRM_REVIEW_URL lands in CI logs)
    with pytest.raises(ConfigError, match=r"'postgresql\+psycopg://ana:\*\*\*@dbhost:54x2/r'") \
            as caught:
        ReviewStore("postgresql+psycopg://ana:S3cretPass@dbhost:54x2/r", ontology=ontology)
    assert "S3cretPass" not in str(caught.value)
    with pytest.raises(ConfigError, match="cannot use database.*driver installed"):
        ReviewStore("nosuchdb://user@host/db", ontology=ontology)
    with pytest.raises(ConfigError, match="cannot open the review database"):
        ReviewStore(tmp_path, ontology=ontology)  # a folder, not a file
    notes = write(tmp_path / "notes.txt", "not a database\n" * 100)
    with pytest.raises(ConfigError, match=r"cannot open the review database "
                                          r"sqlite:///.*notes\.txt: file is not a database; "
                                          r"give the path of a review database"):
        ReviewStore(notes, ontology=ontology)
    assert notes.read_text() == "not a database\n" * 100
    with pytest.raises(ConfigError, match=r"cannot create the folder .*notes\.txt for the "
                                          r"review database"):
        ReviewStore(notes / "review.db", ontology=ontology)


def test_opening_without_create_refuses_a_missing_file(tmp_path: Path,
                                                        ontology: Ontology) -> None:
    missing = tmp_path / "typo" / "reveiw.db"
    with pytest.raises(ConfigError, match=r"no review database at .*reveiw\.db; run "
                                          r"`fedcrm review import` first"):
        ReviewStore(missing, ontology=ontology, create=False)
    assert list(tmp_path.iterdir()) == []  # neither the file nor its folder
    ReviewStore(missing, ontology=ontology).close()  # creating stays the default
    with ReviewStore(missing, ontology=ontology, create=False) as existing:
        assert existing.progress().total == 0
    # nothing to check for an in-memory database
    ReviewStore("sqlite://", ontology=ontology, create=False).close()


def test_an_empty_file_is_not_opened_as_an_empty_review(tmp_path: Path,
                                                         ontology: Ontology) -> None:
    # a mistyped --db naming an empty file was shown as an empty review and filled with tables
    notes = tmp_path / "notes.db"
    notes.write_bytes(b"")
    with pytest.raises(ConfigError, match=r"notes\.db is not a review database \(it is "
                                          r"empty\)"):
        ReviewStore(notes, ontology=ontology, create=False)
    assert notes.read_bytes() == b""


def test_reading_a_review_does_not_wait_for_a_writer(
        store: ReviewStore, db_path: Path, ontology: Ontology,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # opening a store took the write lock (its schema check ran in BEGIN IMMEDIATE), so every
    # read command waited for, and could time out on, an import or export in another process
    import sqlite3

    from fedcrm.review import store as store_module

    monkeypatch.setattr(store_module, "SQLITE_BUSY_TIMEOUT_S", 0.2)
    writer = sqlite3.connect(db_path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        with ReviewStore(db_path, ontology=ontology, create=False) as reader:
            assert reader.progress().total == store.progress().total > 0
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_database_that_cannot_be_written_is_named_not_a_traceback(
        store: ReviewStore, db_path: Path, ontology: Ontology, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    read_only = f"sqlite:///file:{db_path}?mode=ro&uri=true"
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with ReviewStore(read_only, ontology=ontology, create=False) as reader:
        assert reader.progress().total > 0  # reading works
        with pytest.raises(ConfigError, match=r"attempt to write a readonly database; nothing "
                                              r"was changed; make the file .* writable"):
            reader.decide(request())
    assert store.progress().decided == 0
    assert list(elsewhere.iterdir()) == []  # a file: URI made folders 'file:/tmp/...' here
