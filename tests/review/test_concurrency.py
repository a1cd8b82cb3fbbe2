"""Concurrent reviewers on one database: nobody's decision is lost or silently overwritten."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import func, select

from fedcrm.ontology.models import Ontology
from fedcrm.review import (
    Action,
    DecisionRecord,
    DecisionRequest,
    ReviewStore,
    StaleVersionError,
    Status,
)
from fedcrm.review.tables import Decision

from ._helpers import make_proposal, make_schemas, run_together

FIELDS = [("acme", "Account", "Annual_Rev__c"), ("acme", "Account", "Emp_Count__c"),
          ("acme", "Account", "Fax_Line__c"), ("acme", "Opportunity", "Win_Chance__c"),
          ("globex", "Account", "Revenue__c"), ("globex", "Account", "Loyalty_Tier__c")]


@pytest.fixture
def two_reviewers(store: ReviewStore, db_path: Path,
                  ontology: Ontology) -> Iterator[tuple[ReviewStore, ReviewStore]]:
    """Two independent stores (own engines and connections) on the same database file."""
    other = ReviewStore(db_path, ontology=ontology)
    yield store, other
    other.close()


def test_stale_version_is_refused_and_the_first_decision_stands(
    two_reviewers: tuple[ReviewStore, ReviewStore],
) -> None:
    ana, ben = two_reviewers
    seen_by_ana = ana.field("acme", "Account", "Emp_Count__c")
    seen_by_ben = ben.field("acme", "Account", "Emp_Count__c")
    assert seen_by_ana.version == seen_by_ben.version == 1
    ana.decide(DecisionRequest(org="acme", object="Account", field="Emp_Count__c",
                               action=Action.ACCEPT, seen_version=seen_by_ana.version,
                               reviewer="ana"))
    with pytest.raises(StaleVersionError) as caught:
        ben.decide(DecisionRequest(org="acme", object="Account", field="Emp_Count__c",
                                   action=Action.NO_EQUIVALENT,
                                   seen_version=seen_by_ben.version, reviewer="ben"))
    error = caught.value
    assert (error.seen_version, error.current_version) == (1, 2)
    assert "Account.Emp_Count__c" in str(error) and "version 1" in str(error) \
        and "version 2" in str(error)
    now = ben.field("acme", "Account", "Emp_Count__c")
    assert now.status is Status.APPROVED and now.last_decision is not None
    assert now.last_decision.reviewer == "ana"
    assert now.rejected == []  # ben's rejections were not applied either
    # ben reloads, sees ana's decision, and may overrule it knowingly
    ben.decide(DecisionRequest(org="acme", object="Account", field="Emp_Count__c",
                               action=Action.NO_EQUIVALENT, seen_version=now.version,
                               reviewer="ben", comment="overruling ana: it counts seats"))
    assert [d.reviewer for d in ben.history("acme", "Account", "Emp_Count__c")] == [
        "ana", "ben"]


def test_simultaneous_decisions_on_one_field_exactly_one_wins(
    store: ReviewStore, db_path: Path, ontology: Ontology
) -> None:
    reviewers = [ReviewStore(db_path, ontology=ontology) for _ in range(6)]
    try:
        actions = [Action.ACCEPT, Action.DEFER, Action.NO_EQUIVALENT] * 2
        results = run_together([
            partial(reviewer.decide, DecisionRequest(
                org="acme", object="Account", field="Sector__c", action=action,
                seen_version=1, reviewer=f"reviewer{number}"))
            for number, (reviewer, action) in enumerate(zip(reviewers, actions, strict=True))
        ])
    finally:
        for reviewer in reviewers:
            reviewer.close()
    winners = [r for r in results if isinstance(r, DecisionRecord)]
    losers = [r for r in results if isinstance(r, StaleVersionError)]
    assert len(winners) == 1 and len(losers) == 5, results
    assert all(e.current_version == 2 for e in losers)
    field = store.field("acme", "Account", "Sector__c")
    assert field.version == 2 and field.last_decision is not None
    assert field.last_decision.reviewer == winners[0].reviewer
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Decision)) == 1
    assert [e.actor for e in store.audit_log() if e.event == "decision"] == [
        winners[0].reviewer]


def test_concurrent_decisions_on_different_fields_are_all_kept(
    store: ReviewStore, db_path: Path, ontology: Ontology
) -> None:
    ana = ReviewStore(db_path, ontology=ontology)
    ben = ReviewStore(db_path, ontology=ontology)
    try:
        def work(reviewer: ReviewStore, name: str, fields: list[tuple[str, str, str]]) -> int:
            for org, sobject, field in fields:
                version = reviewer.field(org, sobject, field).version
                reviewer.decide(DecisionRequest(org=org, object=sobject, field=field,
                                                action=Action.ACCEPT, seen_version=version,
                                                reviewer=name))
            return len(fields)

        results = run_together([lambda: work(ana, "ana", FIELDS[0::2]),
                                lambda: work(ben, "ben", FIELDS[1::2])])
    finally:
        ana.close()
        ben.close()
    assert results == [3, 3]
    decided = {(v.org, v.field): v.last_decision and v.last_decision.reviewer
               for v in store.fields() if v.status is Status.APPROVED}
    assert decided == {(o, f): ("ana" if i % 2 == 0 else "ben")
                       for i, (o, _, f) in enumerate(FIELDS)}
    assert len([e for e in store.audit_log() if e.event == "decision"]) == 6


def test_reimport_between_viewing_and_deciding_makes_the_decision_stale(
    store: ReviewStore,
) -> None:
    seen = store.field("acme", "Account", "Emp_Count__c")
    store.import_proposal(
        make_proposal({("acme", "Account", "Emp_Count__c"): (
            "account.seats_purchased", 0.6, None, [("account.seats_purchased", 0.6)])}),
        schemas=make_schemas(), imported_by="importer")
    with pytest.raises(StaleVersionError, match="reload the field"):
        store.decide(DecisionRequest(org="acme", object="Account", field="Emp_Count__c",
                                     action=Action.ACCEPT, seen_version=seen.version,
                                     reviewer="ana"))
    # accepting what the reviewer saw would have accepted a different proposal
    assert store.field("acme", "Account", "Emp_Count__c").status is Status.PENDING
