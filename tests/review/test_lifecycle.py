"""The whole review lifecycle on a real SQLite file: import → queue → decide → export →
re-match keeps decisions, flags changed fields and never re-proposes rejected concepts."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from fedcrm.errors import ConfigError
from fedcrm.matching.proposal import MappingProposal
from fedcrm.ontology.models import Ontology
from fedcrm.review import (
    Action,
    ReviewStore,
    Status,
    Tier,
    provenance_path,
)

from ._helpers import decide, event_details, make_proposal, make_schemas, n_fields


def test_import_shows_metadata_candidates_and_profile(store: ReviewStore) -> None:
    view = store.field("acme", "account", "annual_rev__c")  # names are case-insensitive
    assert (view.object, view.field) == ("Account", "Annual_Rev__c")
    assert view.label == "Annual revenue (USD)"
    assert view.description == "Yearly revenue in US dollars"
    assert view.kind == "currency"
    assert view.profile is not None and view.profile.numeric_quantiles["0.5"] == 250.0
    assert [c.concept for c in view.candidates] == ["account.annual_revenue", "account.arr"]
    assert view.candidates[0].label == "Annual revenue"
    assert view.candidates[0].evidence == ["name similarity to account.annual_revenue: 0.97"]
    assert view.status is Status.PENDING and view.version == 1
    assert view.tier is Tier.HIGH
    assert store.progress().total == n_fields() and store.progress().decided == 0


def test_queue_puts_low_confidence_high_impact_first(store: ReviewStore) -> None:
    queue = store.queue()
    names = [f"{v.org}:{v.field}" for v in queue]
    # employees (0.55, feature of two tasks) beats fax (0.50, personal data, weight 1)
    assert names.index("acme:Emp_Count__c") < names.index("acme:Fax_Line__c")
    assert names[-1] == "acme:Annual_Rev__c"  # most confident of the weighty ones
    priorities = [v.priority for v in queue]
    assert priorities == sorted(priorities, reverse=True)
    by_name = {v.field: v for v in queue}
    assert by_name["Emp_Count__c"].impact == 6.0 and by_name["Fax_Line__c"].impact == 1.0
    # an abstention takes the weight of its best candidate
    assert by_name["Sector__c"].impact == 6.0


def test_custom_impact_weights_reorder_the_queue(db_path: Path, ontology: Ontology) -> None:
    with ReviewStore(db_path, ontology=ontology,
                     impact_weights={"account.fax": 100.0}) as store:
        store.import_proposal(make_proposal(), imported_by="importer")
        assert store.queue()[0].field == "Fax_Line__c"


def test_deferred_fields_go_to_the_end(store: ReviewStore) -> None:
    first = store.next_field()
    assert first is not None
    decide(store, first.org, first.object, first.field, Action.DEFER, comment="ask sales ops")
    queue = store.queue()
    assert queue[-1].id == first.id and queue[-1].status is Status.DEFERRED
    upcoming = store.next_field()
    assert upcoming is not None and upcoming.id != first.id
    assert first.id not in {v.id for v in store.queue(include_deferred=False)}


def test_actions_set_status_concept_and_rejections(store: ReviewStore) -> None:
    accepted = decide(store, "acme", "Account", "Annual_Rev__c", Action.ACCEPT)
    assert accepted.status is Status.APPROVED
    assert accepted.decided_concept == accepted.decided_block == "account.annual_revenue"
    assert accepted.rejected == []

    chosen = decide(store, "acme", "Account", "Emp_Count__c", Action.CHOOSE,
                    concept="account.seats_purchased", comment="they count licences")
    assert chosen.decided_concept == "account.seats_purchased"
    assert chosen.rejected == ["account.number_of_employees"]  # the proposal was wrong
    assert [c.concept for c in chosen.candidates] == ["account.seats_purchased"]

    nothing = decide(store, "acme", "Account", "Fax_Line__c", Action.NO_EQUIVALENT)
    assert nothing.status is Status.NO_EQUIVALENT
    assert (nothing.decided_concept, nothing.decided_block) == (None, None)
    assert nothing.rejected == ["account.fax", "account.phone"]  # every candidate shown

    block = decide(store, "globex", "Account", "Loyalty_Tier__c", Action.ACCEPT)
    assert (block.decided_concept, block.decided_block) == (None, "custom:loyalty_tier")

    custom = decide(store, "acme", "Account", "Sector__c", Action.CHOOSE,
                    concept="custom:sector")
    assert (custom.decided_concept, custom.decided_block) == (None, "custom:sector")

    progress = store.progress()
    assert progress.decided == 5 and progress.by_status["pending"] == 2
    assert progress.by_org["acme"]["approved"] == 3
    assert [d.action for d in store.history("acme", "Account", "Emp_Count__c")] == [
        Action.CHOOSE]


def test_choosing_a_rejected_concept_takes_the_rejection_back(store: ReviewStore) -> None:
    decide(store, "acme", "Account", "Emp_Count__c", Action.CHOOSE,
           concept="account.seats_purchased")
    assert store.rejected_concepts("acme", "Account", "Emp_Count__c") == {
        "account.number_of_employees"}
    decide(store, "acme", "Account", "Emp_Count__c", Action.CHOOSE,
           concept="account.number_of_employees", comment="I was wrong")
    assert store.rejected_concepts("acme", "Account", "Emp_Count__c") == set()
    assert len(store.history("acme", "Account", "Emp_Count__c")) == 2


def test_a_rejected_proposal_is_withdrawn_at_once(store: ReviewStore, tmp_path: Path) -> None:
    # no_equivalent rejects the proposal; a later defer put the field back in the queue still
    # proposing it, exported it, and "accept" approved it and lifted the rejection
    decide(store, "acme", "Account", "Fax_Line__c", Action.NO_EQUIVALENT)
    deferred = decide(store, "acme", "Account", "Fax_Line__c", Action.DEFER)
    assert deferred.proposed_concept is None and deferred.proposed_block is None
    assert deferred.candidates == [] and deferred.confidence == 1.0
    export = store.export_approved(tmp_path / "m.json", exported_by="ana")
    mapped = {f.field: f.concept for _, f in MappingProposal.from_json(export.path).iter_fields()}
    assert mapped["Fax_Line__c"] is None
    accepted = decide(store, "acme", "Account", "Fax_Line__c", Action.ACCEPT)
    assert accepted.status is Status.NO_EQUIVALENT and accepted.decided_concept is None
    assert set(accepted.rejected) == {"account.fax", "account.phone"}  # not lifted
    assert event_details(store, "decision")[0]["proposal_withdrawn"] == "account.fax"
    # choose also withdraws the proposal it rejects; the chosen concept stays a candidate
    chosen = decide(store, "acme", "Account", "Emp_Count__c", Action.CHOOSE,
                    concept="account.seats_purchased")
    assert chosen.proposed_concept is None
    assert [c.concept for c in chosen.candidates] == ["account.seats_purchased"]


def test_export_loads_as_mapping_proposal_with_every_field_once(
    store: ReviewStore, tmp_path: Path
) -> None:
    decide(store, "acme", "Account", "Annual_Rev__c", Action.ACCEPT, reviewer="ana")
    decide(store, "acme", "Account", "Emp_Count__c", Action.CHOOSE, reviewer="ben",
           concept="account.seats_purchased")
    decide(store, "acme", "Account", "Fax_Line__c", Action.NO_EQUIVALENT, reviewer="ben")
    decide(store, "acme", "Account", "Sector__c", Action.DEFER, reviewer="ana")

    result = store.export_approved(tmp_path / "approved.json", exported_by="ana")
    assert result.version == 1 and result.path == str(tmp_path / "approved.json")
    mapping = MappingProposal.from_json(result.path)
    keys = [(org, f.object, f.field) for org, f in mapping.iter_fields()]
    assert len(keys) == len(set(keys)) == n_fields()
    acme = mapping.org("acme")
    assert acme.field("Account", "Annual_Rev__c").concept == "account.annual_revenue"
    assert acme.field("Account", "Annual_Rev__c").confidence == 1.0
    assert acme.field("Account", "Emp_Count__c").concept == "account.seats_purchased"
    assert "account.number_of_employees" not in {
        c.concept for c in acme.field("Account", "Emp_Count__c").candidates}
    assert acme.field("Account", "Fax_Line__c").block is None
    # undecided fields keep the matcher's proposal
    assert acme.field("Opportunity", "Win_Chance__c").concept == "opportunity.probability"
    assert acme.field("Opportunity", "Win_Chance__c").confidence == 0.7
    assert mapping.org("globex").field("Account", "Loyalty_Tier__c").block == \
        "custom:loyalty_tier"

    provenance = json.loads(Path(result.provenance_path).read_text())
    assert Path(result.provenance_path) == provenance_path(result.path)
    assert provenance["export_version"] == 1
    assert provenance["reviewers"] == {"ana": 1, "ben": 2}
    assert provenance["decisions_by_action"] == {"accept": 1, "choose": 1, "defer": 1,
                                                 "no_equivalent": 1}
    assert provenance["fields_by_status"]["deferred"] == 1
    assert provenance["imports"][0]["matcher_version"] == "matcher-test-1"
    assert provenance["n_fields"] == n_fields()
    assert provenance["mapping_sha256"] == hashlib.sha256(
        Path(result.path).read_bytes()).hexdigest()


def test_export_versions_increment_and_approved_only_drops_proposals(
    store: ReviewStore, tmp_path: Path
) -> None:
    decide(store, "acme", "Account", "Annual_Rev__c", Action.ACCEPT)
    first = store.export_approved(tmp_path / "first.json", exported_by="ana")
    tmp_path.joinpath("folder").mkdir()
    second = store.export_approved(tmp_path / "folder", exported_by="ana", approved_only=True)
    assert (first.version, second.version) == (1, 2)
    assert Path(first.provenance_path).name == "first.provenance.json"
    assert Path(second.path).name == "approved-mapping-v2.json"
    strict = MappingProposal.from_json(second.path)
    mapped = {(org, f.field): f.concept for org, f in strict.iter_fields() if f.block}
    assert mapped == {("acme", "Annual_Rev__c"): "account.annual_revenue"}
    assert sum(1 for _ in strict.iter_fields()) == n_fields()
    assert [d["version"] for d in event_details(store, "export")] == [1, 2]


def test_rematch_keeps_unchanged_decisions_and_flags_changed_fields(
    store: ReviewStore, tmp_path: Path
) -> None:
    decide(store, "acme", "Account", "Annual_Rev__c", Action.ACCEPT)
    decide(store, "acme", "Account", "Sector__c", Action.CHOOSE, concept="account.industry",
           reviewer="ben", comment="sector = industry here")
    decide(store, "globex", "Account", "Revenue__c", Action.ACCEPT)

    # the org relabels Sector__c; the matcher, run again, now proposes account.type for it
    report = store.import_proposal(
        make_proposal({("acme", "Account", "Sector__c"): (
            "account.type", 0.81, None, [("account.type", 0.81), ("account.industry", 0.5)])},
            matcher_version="matcher-test-2"),
        schemas=make_schemas({("acme", "Sector__c"): "Customer segment"}),
        imported_by="importer",
    )
    assert report.flagged == ["acme Account.Sector__c"]
    assert report.n_kept == 2 and report.n_new == 0 and report.n_unverified == 0

    kept = store.field("acme", "Account", "Annual_Rev__c")
    assert kept.status is Status.APPROVED and kept.decided_concept == "account.annual_revenue"
    changed = store.field("acme", "Account", "Sector__c")
    assert changed.status is Status.NEEDS_REVIEW
    assert changed.label == "Customer segment"
    assert changed.proposed_concept == "account.type"
    assert changed.decided_concept is None
    assert changed.prior_decision is not None
    assert changed.prior_decision.concept == "account.industry"
    assert changed.prior_decision.reviewer == "ben"
    assert changed.matcher_version == "matcher-test-2"
    assert store.queue()[0].id == changed.id  # changed fields come first

    flags = [(e.field, e.before) for e in store.audit_log() if e.event == "flag"]
    assert flags == [("Sector__c", {"status": "approved", "concept": "account.industry",
                                    "block": "account.industry"})]

    mapping = MappingProposal.from_json(store.export_approved(
        tmp_path / "m.json", exported_by="ana", approved_only=True).path)
    assert mapping.org("acme").field("Account", "Sector__c").concept is None  # undecided now
    assert mapping.org("acme").field("Account", "Annual_Rev__c").concept == \
        "account.annual_revenue"

    again = decide(store, "acme", "Account", "Sector__c", Action.ACCEPT)
    assert again.status is Status.APPROVED and again.prior_decision is None


def test_a_field_first_imported_without_metadata_is_checked_from_the_next_import_on(
        db_path: Path, ontology: Ontology) -> None:
    """The second import gave every schema, yet it was told to 'pass --schema for every org
    at every import': the metadata missing was the first import's."""
    acme_only = [s for s in make_schemas() if s.org_id == "acme"]
    with ReviewStore(db_path, ontology=ontology) as store:
        first = store.import_proposal(make_proposal(), schemas=acme_only,
                                      imported_by="importer")
        assert (first.n_unverified, first.n_unverified_earlier) == (0, 0)  # new fields
        second = store.import_proposal(make_proposal(), schemas=make_schemas(),
                                       imported_by="importer")
        assert (second.n_unverified, second.n_unverified_earlier) == (2, 2)  # globex's two
        third = store.import_proposal(make_proposal(), schemas=make_schemas(),
                                      imported_by="importer")
        assert (third.n_unverified, third.n_unverified_earlier) == (0, 0)
        fourth = store.import_proposal(make_proposal(), schemas=acme_only,
                                       imported_by="importer")
        assert (fourth.n_unverified, fourth.n_unverified_earlier) == (2, 0)  # globex's, now


def test_identical_reimport_changes_no_versions(store: ReviewStore) -> None:
    before = {v.id: v.version for v in store.fields()}
    decide(store, "acme", "Account", "Annual_Rev__c", Action.ACCEPT)
    report = store.import_proposal(make_proposal(), schemas=make_schemas(),
                                   imported_by="importer")
    assert report.flagged == [] and report.n_kept == 1
    after = {v.id: v.version for v in store.fields()}
    changed = {i for i in after if after[i] != before[i]}
    assert changed == {store.field("acme", "Account", "Annual_Rev__c").id}  # its decision only


def test_rejected_candidates_are_never_proposed_again(store: ReviewStore) -> None:
    decide(store, "acme", "Account", "Fax_Line__c", Action.NO_EQUIVALENT)
    decide(store, "acme", "Account", "Emp_Count__c", Action.CHOOSE,
           concept="account.seats_purchased")
    # the org changes both fields and the matcher proposes the rejected concepts again
    report = store.import_proposal(
        make_proposal({
            ("acme", "Account", "Fax_Line__c"): (
                "account.phone", 0.9, None, [("account.phone", 0.9), ("account.fax", 0.6),
                                             ("account.website", 0.1)]),
            ("acme", "Account", "Emp_Count__c"): (
                "account.number_of_employees", 0.95, None,
                [("account.number_of_employees", 0.95), ("account.seats_purchased", 0.5)]),
        }),
        schemas=make_schemas({("acme", "Fax_Line__c"): "Fax number",
                              ("acme", "Emp_Count__c"): "Employees (FTE)"}),
        imported_by="importer",
    )
    assert sorted(report.withdrawn) == ["acme Account.Emp_Count__c", "acme Account.Fax_Line__c"]
    # each withdrawal is named in the audit log, not only counted
    withdrawals = [e for e in store.audit_log() if e.event == "withdraw"]
    assert sorted((e.field, e.before["proposed"]) for e in withdrawals) == [
        ("Emp_Count__c", "account.number_of_employees"), ("Fax_Line__c", "account.phone")]
    fax = store.field("acme", "Account", "Fax_Line__c")
    assert fax.status is Status.NEEDS_REVIEW
    assert fax.proposed_concept is None and fax.proposed_block is None
    assert [c.concept for c in fax.candidates] == ["account.website"]
    assert fax.confidence == pytest.approx(0.9)  # abstention: 1 − best remaining score
    employees = store.field("acme", "Account", "Emp_Count__c")
    assert [c.concept for c in employees.candidates] == ["account.seats_purchased"]
    # auto-accept cannot bring a rejected concept back either
    store.auto_accept(0.5, "bot", confirm=True)
    assert store.field("acme", "Account", "Fax_Line__c").status is Status.NEEDS_REVIEW


def test_fields_missing_from_a_rematch_are_removed_not_exported(
    store: ReviewStore, tmp_path: Path
) -> None:
    report = store.import_proposal(
        make_proposal(drop={("acme", "Account", "Fax_Line__c")}), schemas=[
            s for s in make_schemas() if s.org_id == "globex"], imported_by="importer")
    assert report.removed == ["acme Account.Fax_Line__c"]
    (removal,) = [e for e in store.audit_log() if e.event == "remove"]
    assert (removal.org, removal.field, removal.actor) == ("acme", "Fax_Line__c", "importer")
    assert (removal.before["present"], removal.after["present"]) == (True, False)
    assert report.n_unverified == n_fields() - 3  # acme came without its schema this time
    assert store.progress().total == n_fields() - 1
    mapping = MappingProposal.from_json(store.export_approved(tmp_path / "m.json",
                                                              exported_by="ana").path)
    assert sum(1 for _ in mapping.iter_fields()) == n_fields() - 1
    # without a schema the metadata shown is the last one known
    assert store.field("acme", "Account", "Sector__c").label == "Sector"
    # back in a later mapping: restored, and the log says so by name
    store.import_proposal(make_proposal(), schemas=make_schemas(), imported_by="importer")
    (restored,) = [e for e in store.audit_log() if e.event == "restore"]
    assert (restored.field, restored.after["present"]) == ("Fax_Line__c", True)
    assert store.progress().total == n_fields()


def test_auto_accept_only_when_opted_in(store: ReviewStore) -> None:
    with pytest.raises(ConfigError, match="confirm=True"):
        store.auto_accept(0.9, "ana")
    assert store.progress().decided == 0  # nothing happens by default
    with pytest.raises(ConfigError, match="between 0.5 and 1"):
        store.auto_accept(0.2, "ana", confirm=True)

    decide(store, "globex", "Account", "Revenue__c", Action.DEFER)
    records = store.auto_accept(0.9, "ana", confirm=True)
    # only pending concept proposals at or above the threshold: the deferred one stays
    assert [(r.org, r.field) for r in records] == [("acme", "Annual_Rev__c")]
    assert records[0].action is Action.AUTO_ACCEPT and records[0].reviewer == "ana"
    assert store.field("globex", "Account", "Revenue__c").status is Status.DEFERRED
    # the custom block (0.8) and abstentions are never auto-accepted
    store.auto_accept(0.5, "ana", confirm=True)
    assert store.field("globex", "Account", "Loyalty_Tier__c").status is Status.PENDING
    assert store.field("acme", "Account", "Sector__c").status is Status.PENDING
    assert [d["accepted"] for d in event_details(store, "auto_accept")] == [1, 3]


def test_store_reopens_with_its_state(db_path: Path, ontology: Ontology) -> None:
    with ReviewStore(db_path, ontology=ontology) as first:
        first.import_proposal(make_proposal(), schemas=make_schemas(), imported_by="importer")
        decide(first, "acme", "Account", "Annual_Rev__c", Action.ACCEPT)
    with ReviewStore(db_path, ontology=ontology) as second:
        assert second.applied_migrations == []
        assert second.field("acme", "Account", "Annual_Rev__c").status is Status.APPROVED
        assert second.progress().decided == 1


def test_accepting_an_abstention_means_no_equivalent_without_rejections(
    store: ReviewStore,
) -> None:
    sector = decide(store, "acme", "Account", "Sector__c", Action.ACCEPT)
    assert sector.status is Status.NO_EQUIVALENT
    assert (sector.decided_concept, sector.decided_block) == (None, None)
    assert sector.rejected == [] and len(sector.candidates) == 2
