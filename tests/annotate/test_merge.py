"""Import validates every answer, refuses conflicts loudly, records provenance and leaves the
rest of the corpus byte-identical."""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fedcrm._files import locked_folder, new_file_mode
from fedcrm.annotate.exchange import Answer
from fedcrm.annotate.merge import (
    LabelConflictError,
    import_answers,
    import_review_labels,
    merge_answers,
)
from fedcrm.annotate.pool import load_annotations
from fedcrm.errors import ConfigError, MappingError
from fedcrm.matching.corpus import FieldLabel, read_labels
from fedcrm.ontology import Ontology
from fedcrm.review import Action, ReviewStore
from tests.review._helpers import decide, make_proposal, make_schemas

from .conftest import WriteAnnotations

NOW = "2026-03-04T05:06:07+00:00"


def answer(field: str, concept: str | None = None, *, org: str = "gamma",
           sobject: str = "Account", line: int = 1, **extra: object) -> Answer:
    return Answer(org=org, object=sobject, field=field, concept=concept,
                  where=f"answers.jsonl:{line}", **extra)  # type: ignore[arg-type]


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "labels").glob("*.jsonl"))}


@pytest.fixture
def folder(write_annotations: WriteAnnotations) -> Path:
    """alpha fully labelled, gamma with only its standard field, delta without labels."""
    return write_annotations({"alpha": "all", "gamma": "standard", "delta": "none"})


def test_answers_become_labels_with_provenance(folder: Path, ontology: Ontology) -> None:
    report = merge_answers(
        [answer("cancelled_on__c", "account.churn_date", annotator="ana",
                labelled_at="2026-01-01T01:00:00+01:00", round=3),
         answer("LEGACY_ID__C", None, line=2),  # "none"; spelled in another case
         answer("sustainability_rating__c", group="account.esg", line=3)],
        folder, ontology=ontology, round=3, annotator="importer", now=NOW,
    )
    assert (report.added, report.replaced, report.unchanged) == (3, 0, 0)
    labels = {lab.field: lab for lab in read_labels(folder / "labels" / "gamma.jsonl")}
    churn = labels["cancelled_on__c"]
    assert (churn.concept, churn.annotator, churn.labelled_at, churn.round, churn.method) == (
        "account.churn_date", "ana", "2026-01-01T00:00:00+00:00", 3, "active_learning")
    legacy = labels["legacy_id__c"]  # spelled as the metadata spells it
    assert (legacy.concept, legacy.group, legacy.annotator, legacy.labelled_at) == (
        None, None, "importer", NOW)
    assert labels["sustainability_rating__c"].group == "account.esg"
    assert labels["Industry"].method == "hand"  # the label that was there is kept
    # the partial corpus loads, and load_corpus-style checks pass
    (gamma,) = load_annotations(folder, ontology=ontology, orgs=["gamma"])
    assert len(gamma.labels) == 4


def test_merge_leaves_every_other_line_byte_identical(folder: Path, ontology: Ontology
                                                      ) -> None:
    path = folder / "labels" / "gamma.jsonl"
    # hand-written lines in their own style (key order, spacing), sorted by object and field
    original = [
        '{"field": "AnnRevenue__c", "object": "Account", "org": "gamma",  '
        '"concept": "account.annual_revenue", "annotator": "carla"}\n',
        '{"org":"gamma","object":"Account","field":"Industry","concept":"account.industry"}\n',
        '{"org":"gamma","object":"Opportunity","field":"disc__c","annotator":"carla",'
        '"concept":"opportunity.discount_percent","note":"Rabatt – checked"}\n',
    ]
    path.write_text("".join(original), encoding="utf-8")
    merge_answers([answer("nps__c", "account.nps_score"),
                   answer("mql_score__c", "lead.lead_score", sobject="Lead", line=2)],
                  folder, ontology=ontology, round=1, annotator="ana", now=NOW)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert [line for line in lines if line in original] == original  # untouched, in order
    fields = [json.loads(line)["field"] for line in lines]
    assert fields == ["AnnRevenue__c", "Industry", "nps__c", "mql_score__c", "disc__c"]
    # an unsorted file keeps its order; new labels go to the end
    path.write_text("".join(reversed(original)).rstrip("\n"), encoding="utf-8")  # no final \n
    merge_answers([answer("legacy_id__c", None)], folder, ontology=ontology, round=1,
                  annotator="ana")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert lines[:3] == list(reversed(original))
    assert json.loads(lines[3])["field"] == "legacy_id__c"


@pytest.mark.parametrize(("bad", "message"), [
    (answer("cancelled_on__c", "account.churn_dat", line=4),
     r"answers\.jsonl:4: unknown concept 'account\.churn_dat' .*did you mean "
     r"'account\.churn_date'\?"),
    (answer("no_such_field__c", "account.churn_date", line=5),
     r"answers\.jsonl:5: org gamma has no field Account\.no_such_field__c"),
    (answer("Industry", "account.industry", sobject="Widget__c", line=6),
     r"answers\.jsonl:6: org gamma has no field Widget__c\.Industry"),
    (answer("x__c", "account.industry", org="omega", line=7),
     r"answers\.jsonl:7: unknown org 'omega'.*--schema omega=PATH"),
    (answer("nps__c", "account.nps_score", group="nps", line=8),
     r"answers\.jsonl:8: give a concept or a group, not both"),
    (answer("nps__c", None, group="has space", line=9), r"answers\.jsonl:9: group 'has space'"),
])
def test_invalid_answers_are_named_and_nothing_is_written(
    folder: Path, ontology: Ontology, bad: Answer, message: str
) -> None:
    before = snapshot(folder)
    good = answer("legacy_id__c", None, line=1)
    with pytest.raises(MappingError, match=message):
        merge_answers([good, bad], folder, ontology=ontology, round=1, annotator="ana")
    assert snapshot(folder) == before


def test_a_folder_without_sources_is_named_not_every_answer(tmp_path: Path,
                                                             ontology: Ontology) -> None:
    with pytest.raises(ConfigError, match=r"missing is not an annotations folder \(no "
                                          r"sources\.yaml in it\)"):
        merge_answers([answer("nps__c", "account.nps_score")], tmp_path / "missing",
                      ontology=ontology, round=1, annotator="ana")


def test_a_concept_id_in_the_group_column_is_refused(folder: Path, ontology: Ontology) -> None:
    # stored as a group it would say "no concept fits" about a field that has one
    before = snapshot(folder)
    with pytest.raises(MappingError, match=r"group 'account\.churn_date' is a concept id; put "
                                           r"it in the concept column"):
        merge_answers([answer("cancelled_on__c", group="account.churn_date")], folder,
                      ontology=ontology, round=1, annotator="ana")
    assert snapshot(folder) == before


def test_all_problems_are_reported_together(folder: Path, ontology: Ontology) -> None:
    with pytest.raises(MappingError) as caught:
        merge_answers([answer("nps__c", "account.nope", line=2),
                       answer("nps__c", "account.nps_score", line=3, round=1),
                       answer("NPS__c", "account.churn_date", line=4, round=1),
                       answer("legacy_id__c", None, line=5)],
                      folder, ontology=ontology, annotator="ana")
    text = str(caught.value)
    assert "3 invalid answer(s); nothing was imported" in text
    assert "answers.jsonl:2: unknown concept" in text
    assert "answers.jsonl:4: gamma Account.nps__c is answered account.churn_date here but " \
           "account.nps_score at answers.jsonl:3" in text
    assert "answers.jsonl:5: no round number" in text  # provenance needs the round


def test_conflicts_are_loud_and_replace_needs_a_reason(folder: Path, ontology: Ontology
                                                       ) -> None:
    path = folder / "labels" / "alpha.jsonl"
    before = snapshot(folder)
    answers = [answer("NPS_Score__c", "account.csat_score", org="alpha", line=2),
               answer("Golf_Handicap__c", None, org="alpha", line=3),  # agrees: unchanged
               answer("cancelled_on__c", "account.churn_date", line=4)]  # new, other org
    with pytest.raises(LabelConflictError) as caught:
        merge_answers(answers, folder, ontology=ontology, round=2, annotator="ana")
    (conflict,) = caught.value.conflicts
    assert (conflict.existing_concept, conflict.new_concept, conflict.existing_annotator) == (
        "account.nps_score", "account.csat_score", "tests")
    assert "answers.jsonl:2: alpha Account.NPS_Score__c is labelled account.nps_score by " \
           "tests (hand); the answer says account.csat_score" in str(caught.value)
    assert "--replace --reason" in str(caught.value)
    assert snapshot(folder) == before  # not even the non-conflicting answer went in

    with pytest.raises(ConfigError, match="needs a reason"):
        merge_answers(answers, folder, ontology=ontology, round=2, annotator="ana",
                      replace=True)
    others = [line for line in path.read_text().splitlines(keepends=True)
              if "NPS_Score__c" not in line]
    report = merge_answers(answers, folder, ontology=ontology, round=2, annotator="ana",
                           replace=True, reason="NPS field holds CSAT since 2024")
    assert (report.added, report.replaced, report.unchanged) == (1, 1, 1)
    lines = path.read_text().splitlines(keepends=True)
    assert [line for line in lines if "NPS_Score__c" not in line] == others
    replaced = next(lab for lab in read_labels(path) if lab.field == "NPS_Score__c")
    assert (replaced.concept, replaced.method, replaced.annotator, replaced.round) == (
        "account.csat_score", "active_learning", "ana", 2)
    assert replaced.note == ("NPS field holds CSAT since 2024 (replaces account.nps_score "
                             "by tests, hand)")


def test_identical_answers_change_nothing(folder: Path, ontology: Ontology) -> None:
    before = snapshot(folder)
    report = merge_answers([answer("NPS_Score__c", "account.nps_score", org="alpha")], folder,
                           ontology=ontology, round=1, annotator="ana")
    assert (report.unchanged, report.files) == (1, [])
    assert snapshot(folder) == before


def test_a_crlf_label_file_keeps_its_line_endings(folder: Path, ontology: Ontology) -> None:
    # read_text translated CRLF into LF, so one replaced label rewrote every line of the file
    path = folder / "labels" / "gamma.jsonl"
    original = [
        '{"org":"gamma","object":"Account","field":"AnnRevenue__c",'
        '"concept":"account.annual_revenue"}\r\n',
        '{"org":"gamma","object":"Account","field":"Industry","concept":"account.industry"}\r\n',
    ]
    path.write_bytes("".join(original).encode("utf-8"))
    merge_answers([answer("nps__c", "account.nps_score"),
                   answer("Industry", "account.type", line=2)],
                  folder, ontology=ontology, round=1, annotator="ana", now=NOW, replace=True,
                  reason="relabelled")
    data = path.read_bytes().decode("utf-8")
    lines = data.splitlines(keepends=True)
    assert lines[0] == original[0]  # untouched, byte for byte
    assert all(line.endswith("\r\n") for line in lines) and data.count("\n") == 3
    assert [json.loads(line)["field"] for line in lines] == ["AnnRevenue__c", "Industry",
                                                             "nps__c"]


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_a_note_with_a_unicode_line_separator_reads_back(folder: Path, ontology: Ontology,
                                                         separator: str) -> None:
    # JSON lets these stand unescaped in a string; a reader that split lines there broke the
    # label file for every later import and load (text pasted from a word processor)
    note = f"sales region{separator}see the wiki"
    merge_answers([answer("cancelled_on__c", "account.churn_date", note=note)], folder,
                  ontology=ontology, round=1, annotator="ana")
    assert separator in (folder / "labels" / "gamma.jsonl").read_text(encoding="utf-8")
    report = merge_answers([answer("LEGACY_ID__C", None)], folder, ontology=ontology,
                           round=1, annotator="ana")  # the file is read again to merge
    assert report.added == 1
    labels = {lab.field: lab for lab in read_labels(folder / "labels" / "gamma.jsonl")}
    assert labels["cancelled_on__c"].note == note
    (gamma,) = load_annotations(folder, ontology=ontology, orgs=["gamma"])
    assert len(gamma.labels) == 3


def test_import_file_and_unregistered_org(folder: Path, ontology: Ontology) -> None:
    schema = make_schemas()[0]  # "acme": not in sources.yaml
    path = write_jsonl(folder.parent / "answers.jsonl", [
        {"org": "acme", "object": "Account", "field": "Annual_Rev__c",
         "concept": "account.annual_revenue", "round": 4, "annotator": "ana"},
        {"org": "acme", "object": "Account", "field": "Fax_Line__c", "concept": None},
    ])
    report = import_answers(path, folder, ontology=ontology, schemas={"acme": schema},
                            now=NOW)
    assert (report.added, report.unanswered, report.unregistered_orgs) == (1, 1, ["acme"])
    (label,) = read_labels(folder / "labels" / "acme.jsonl")
    assert (label.round, label.annotator, label.labelled_at) == (4, "ana", NOW)
    # a new label file gets the usual mode of a new file, not a temporary file's 0600
    assert stat.S_IMODE((folder / "labels" / "acme.jsonl").stat().st_mode) == new_file_mode()


def replace_interrupted(monkeypatch: pytest.MonkeyPatch, at: int, error: BaseException,
                        *, after: bool = False) -> list[str]:
    """Make the ``at``-th ``os.replace`` raise ``error`` (``after``: once it has replaced);
    returns the list of targets replaced so far, in order."""
    real_replace = os.replace
    calls: list[str] = []

    def replace(source: str | Path, target: str | Path) -> None:
        calls.append(str(target))
        if len(calls) == at and not after:
            raise error
        real_replace(source, target)
        if len(calls) == at and after:
            raise error

    monkeypatch.setattr(os, "replace", replace)
    return calls


def test_an_import_touching_several_orgs_is_all_or_nothing(
    write_annotations: WriteAnnotations, ontology: Ontology, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_annotations({"alpha": "all", "delta": "standard", "gamma": "standard"})
    before = snapshot(folder)
    # delta's file is already replaced; gamma's fails
    calls = replace_interrupted(monkeypatch, 2, OSError(28, "No space left on device"))
    with pytest.raises(MappingError, match=r"gamma\.jsonl: cannot replace .*restored, nothing "
                                           r"was imported"):
        merge_answers([answer("Couleur_Logo__c", None, org="delta"),
                       answer("nps__c", "account.nps_score", line=2)],
                      folder, ontology=ontology, round=1, annotator="ana")
    assert calls[0].endswith("delta.jsonl") and len(calls) == 3  # the third puts delta back
    assert snapshot(folder) == before
    assert sorted(p.name for p in (folder / "labels").iterdir()) == [
        "alpha.jsonl", "delta.jsonl", "gamma.jsonl"]  # no temporary or backup file left


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, MemoryError, RuntimeError])
def test_an_interrupted_import_restores_every_file(
    write_annotations: WriteAnnotations, ontology: Ontology, monkeypatch: pytest.MonkeyPatch,
    interruption: type[BaseException],
) -> None:
    folder = write_annotations({"alpha": "all", "delta": "standard", "gamma": "standard"})
    before = snapshot(folder)
    # Ctrl-C lands just after gamma's file was replaced
    calls = replace_interrupted(monkeypatch, 2, interruption(), after=True)
    with pytest.raises(interruption):
        merge_answers([answer("Couleur_Logo__c", None, org="delta"),
                       answer("nps__c", "account.nps_score", line=2)],
                      folder, ontology=ontology, round=1, annotator="ana")
    assert len(calls) == 4  # both replaced files were put back from their backups
    assert snapshot(folder) == before
    assert sorted(p.name for p in (folder / "labels").iterdir()) == [
        "alpha.jsonl", "delta.jsonl", "gamma.jsonl"]  # no temporary or backup file left


def test_an_interruption_before_a_replacement_restores_only_what_was_replaced(
    write_annotations: WriteAnnotations, ontology: Ontology, monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = write_annotations({"alpha": "all", "delta": "standard", "gamma": "standard"})
    before = snapshot(folder)
    # Ctrl-C between delta's replacement and gamma's
    calls = replace_interrupted(monkeypatch, 2, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        merge_answers([answer("Couleur_Logo__c", None, org="delta"),
                       answer("nps__c", "account.nps_score", line=2)],
                      folder, ontology=ontology, round=1, annotator="ana")
    assert len(calls) == 3 and calls[2].endswith("delta.jsonl")  # only delta is put back
    assert snapshot(folder) == before
    assert sorted(p.name for p in (folder / "labels").iterdir()) == [
        "alpha.jsonl", "delta.jsonl", "gamma.jsonl"]


def test_a_round_that_contradicts_the_round_column_is_refused(folder: Path,
                                                             ontology: Ontology) -> None:
    path = write_jsonl(folder.parent / "answers.jsonl", [
        {"org": "gamma", "object": "Account", "field": "nps__c",
         "concept": "account.nps_score", "round": 2},
        {"org": "gamma", "object": "Account", "field": "legacy_id__c", "concept": "none"},
    ])
    before = snapshot(folder)
    with pytest.raises(MappingError, match=r"answers\.jsonl:1: the round column says 2, but "
                                           r"round 5 was given \(--round\); correct the round "
                                           r"column, clear it, or leave --round out"):
        import_answers(path, folder, ontology=ontology, annotator="ana", round=5)
    assert snapshot(folder) == before
    report = import_answers(path, folder, ontology=ontology, annotator="ana", round=2)
    assert sorted(lab.round for lab in report.labels) == [2, 2]
    with pytest.raises(ConfigError, match="round must be a whole number >= 0"):
        merge_answers([], folder, ontology=ontology, round=-1)


def test_labelled_at_must_be_iso_8601_and_is_stored_in_utc(folder: Path,
                                                          ontology: Ontology) -> None:
    rows = [answer("nps__c", "account.nps_score", labelled_at="next tuesday"),
            answer("legacy_id__c", None, line=2, labelled_at="31/01/2026")]
    with pytest.raises(MappingError) as caught:
        merge_answers(rows, folder, ontology=ontology, round=1, annotator="ana")
    assert "answers.jsonl:1: labelled_at 'next tuesday' is not an ISO 8601 time" in str(
        caught.value)
    assert "answers.jsonl:2: labelled_at '31/01/2026'" in str(caught.value)
    merge_answers([answer("nps__c", "account.nps_score", labelled_at="2026-01-31T15:05:00+01:00"),
                   answer("legacy_id__c", None, line=2, labelled_at="2026-02-01T08:00:00.5Z"),
                   answer("sustainability_rating__c", group="account.esg", line=3,
                          labelled_at="2026-02-02")],
                  folder, ontology=ontology, round=1, annotator="ana")
    stored = {lab.field: lab.labelled_at
              for lab in read_labels(folder / "labels" / "gamma.jsonl") if lab.round == 1}
    assert stored == {"nps__c": "2026-01-31T14:05:00+00:00",
                      "legacy_id__c": "2026-02-01T08:00:00.500000+00:00",
                      "sustainability_rating__c": "2026-02-02T00:00:00+00:00"}


# ------------------------------------------------------------------------------ review
@pytest.fixture
def store(tmp_path: Path, ontology: Ontology) -> Iterator[ReviewStore]:
    with ReviewStore(tmp_path / "review.db", ontology=ontology) as opened:
        opened.import_proposal(make_proposal(), schemas=make_schemas(), imported_by="importer")
        decide(opened, "acme", "Account", "Annual_Rev__c", Action.ACCEPT, reviewer="ana",
               comment="standard revenue")
        decide(opened, "acme", "Account", "Fax_Line__c", Action.NO_EQUIVALENT, reviewer="ben")
        decide(opened, "acme", "Account", "Sector__c", Action.DEFER, reviewer="ana")
        yield opened


def test_review_decisions_become_labels_through_the_same_merge(
    store: ReviewStore, folder: Path, ontology: Ontology
) -> None:
    schemas = {s.org_id: s for s in make_schemas()}
    before = len(store.audit_log())
    report = import_review_labels(store, folder, ontology=ontology, schemas=schemas,
                                  exported_by="ana")
    assert report.added == 2  # the deferred field is no label
    # one audit entry, after the merge, naming the real folder, the counts and who ran it
    (entry,) = store.audit_log()[before:]
    assert (entry.event, entry.actor) == ("labels", "ana")
    assert entry.details["folder"] == os.path.realpath(folder)
    assert (entry.details["added"], entry.details["unchanged"]) == (2, 0)
    labels = {lab.field: lab for lab in read_labels(folder / "labels" / "acme.jsonl")}
    revenue = labels["Annual_Rev__c"]
    assert (revenue.concept, revenue.method, revenue.annotator, revenue.note) == (
        "account.annual_revenue", "review", "ana", "standard revenue")
    assert revenue.labelled_at == store.history("acme", "Account", "Annual_Rev__c")[0].decided_at
    assert (labels["Fax_Line__c"].concept, labels["Fax_Line__c"].annotator) == (None, "ben")
    # a later decision that contradicts the corpus is a conflict, as for any answer
    decide(store, "acme", "Account", "Fax_Line__c", Action.CHOOSE, reviewer="ben",
           concept="account.phone")
    logged = len(store.audit_log())
    with pytest.raises(LabelConflictError, match=r"review decision on acme Account\.Fax_Line__c"
                                                 r".*labelled 'no concept' by ben \(review\)"):
        import_review_labels(store, folder, ontology=ontology, schemas=schemas)
    assert len(store.audit_log()) == logged  # a refused merge records no import


def test_labels_dir_imports_review_labels_only(store: ReviewStore, folder: Path,
                                               ontology: Ontology, tmp_path: Path) -> None:
    # given an annotations folder (where `fedcrm review labels` merges), its hand labels were
    # re-imported as method "review", their provenance rewritten
    schemas = {s.org_id: s for s in make_schemas()}
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "sources.yaml").write_text("orgs: []\n", encoding="utf-8")
    store.export_labels(staging)
    hand = FieldLabel(org="acme", object="Account", field="Sector__c", concept="account.industry",
                      annotator="carla", method="hand")
    with open(staging / "labels" / "acme.jsonl", "a", encoding="utf-8") as handle:
        handle.write(hand.model_dump_json(exclude_none=True) + "\n")
    report = import_review_labels(staging, folder, ontology=ontology, schemas=schemas)
    assert report.added == 2 and {lab.method for lab in report.labels} == {"review"}
    assert "Sector__c" not in {lab.field for lab in read_labels(folder / "labels" / "acme.jsonl")}
    only_hand = tmp_path / "hand"
    (only_hand / "labels").mkdir(parents=True)
    (only_hand / "labels" / "acme.jsonl").write_text(
        hand.model_dump_json(exclude_none=True) + "\n", encoding="utf-8")
    with pytest.raises(MappingError, match=r"no review labels .*its 1 other label\(s\) are not "
                                           r"review decisions"):
        import_review_labels(only_hand, folder, ontology=ontology, schemas=schemas)


def test_annotators_who_agree_on_a_field_are_both_credited(folder: Path,
                                                          ontology: Ontology) -> None:
    # the second agreeing row (Label Studio's JSON-MIN: one row per annotation) was dropped
    # with its annotator and note
    report = merge_answers(
        [answer("cancelled_on__c", "account.churn_date", annotator="ana", note="from billing"),
         answer("cancelled_on__c", "account.churn_date", annotator="bo", line=2,
                note="checked the picklist"),
         answer("cancelled_on__c", "account.churn_date", annotator="ana", line=3)],
        folder, ontology=ontology, now=NOW, round=1)
    assert report.added == 1
    (label,) = [lab for lab in read_labels(folder / "labels" / "gamma.jsonl")
                if lab.field == "cancelled_on__c"]
    assert (label.annotator, label.note) == ("ana, bo", "from billing | checked the picklist")
    # names and notes that hold the separators are kept whole ("Doe, Jane" and "Doe, John")
    merge_answers(
        [answer("LEGACY_ID__C", None, annotator="Doe, Jane", note="old | id"),
         answer("LEGACY_ID__C", None, annotator="Doe, John", line=2, note="id")],
        folder, ontology=ontology, now=NOW, round=1)
    (legacy,) = [lab for lab in read_labels(folder / "labels" / "gamma.jsonl")
                 if lab.field.lower() == "legacy_id__c"]
    assert (legacy.annotator, legacy.note) == ("Doe, Jane, Doe, John", "old | id | id")


def test_an_import_waits_for_the_folders_lock(folder: Path, ontology: Ontology) -> None:
    # two imports at once each read the label file, then replaced it: the first one's labels
    # were lost without a word; an import now waits for the folder's lock
    done = threading.Event()

    def other_import() -> None:
        merge_answers([answer("LEGACY_ID__C", None, annotator="bo")], folder,
                      ontology=ontology, now=NOW, round=1)
        done.set()

    with locked_folder(folder):  # as another import (or `fedcrm review labels`) holds it
        thread = threading.Thread(target=other_import)
        thread.start()
        assert not done.wait(0.5)  # held back by the lock
        assert "legacy_id__c" not in {
            lab.field for lab in read_labels(folder / "labels" / "gamma.jsonl")}
    thread.join(timeout=30)
    assert done.is_set()
    assert "legacy_id__c" in {lab.field for lab in read_labels(folder / "labels" / "gamma.jsonl")}


def test_a_review_without_decisions_is_named(folder: Path, ontology: Ontology,
                                             tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "undecided.db", ontology=ontology) as empty:
        empty.import_proposal(make_proposal(), schemas=make_schemas(), imported_by="importer")
        with pytest.raises(MappingError, match="has no decided fields"):
            import_review_labels(empty, folder, ontology=ontology)
        assert [e.event for e in empty.audit_log()] == ["import"]


def test_an_answers_file_without_tasks_is_refused(folder: Path, ontology: Ontology) -> None:
    """A CSV with only its header (or an empty JSONL) is a wrong or emptied file, not an
    import of nothing: it is refused by name and the corpus is left alone."""
    from fedcrm.annotate.exchange import CSV_COLUMNS

    before = snapshot(folder)
    header_only = folder.parent / "answers.csv"
    header_only.write_text(",".join(CSV_COLUMNS) + "\n", encoding="utf-8")
    empty = folder.parent / "answers.jsonl"
    empty.write_text("", encoding="utf-8")
    for path in (header_only, empty):
        with pytest.raises(MappingError, match="holds no tasks") as caught:
            import_answers(path, folder, ontology=ontology, round=1, now=NOW)
        assert str(path) in str(caught.value)
    assert snapshot(folder) == before
