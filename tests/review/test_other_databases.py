"""The store on a server database (PostgreSQL): migrations, the append-only triggers,
optimistic locking under concurrency and the lifecycle.

Runs when ``FEDCRM_REVIEW_TEST_URL`` names a database the tests may create schemas in, e.g.
``postgresql+psycopg://fedcrm:fedcrm@127.0.0.1/fedcrm_review_test``; each test works in a
schema of its own and drops it afterwards. Skipped otherwise.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError

from fedcrm.matching.proposal import MappingProposal
from fedcrm.ontology.models import Ontology
from fedcrm.review import (
    SCHEMA_VERSION,
    Action,
    DecisionRecord,
    DecisionRequest,
    ReviewStore,
    StaleVersionError,
    Status,
)

from ._helpers import decide, make_proposal, make_schemas, n_fields, run_together

SERVER_URL = os.environ.get("FEDCRM_REVIEW_TEST_URL", "")
pytestmark = pytest.mark.skipif(
    not SERVER_URL, reason="set FEDCRM_REVIEW_TEST_URL to a PostgreSQL database to run these")


@pytest.fixture
def server_url() -> Iterator[str]:
    """A URL whose connections work in a fresh, private schema."""
    schema = f"fedcrm_test_{secrets.token_hex(4)}"
    admin = create_engine(SERVER_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = make_url(SERVER_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def server_store(server_url: str, ontology: Ontology) -> Iterator[ReviewStore]:
    with ReviewStore(server_url, ontology=ontology) as store:
        store.import_proposal(make_proposal(), schemas=make_schemas(), imported_by="importer")
        yield store


def test_lifecycle_on_the_server(server_store: ReviewStore, tmp_path: Path) -> None:
    assert server_store.schema_version == SCHEMA_VERSION
    decide(server_store, "acme", "Account", "Annual_Rev__c", Action.ACCEPT)
    decide(server_store, "acme", "Account", "Fax_Line__c", Action.NO_EQUIVALENT)
    report = server_store.import_proposal(
        make_proposal(), schemas=make_schemas({("acme", "Annual_Rev__c"): "Revenue (EUR)"}),
        imported_by="importer")
    assert report.flagged == ["acme Account.Annual_Rev__c"] and report.n_kept == 1
    mapping = MappingProposal.from_json(
        server_store.export_approved(tmp_path / "m.json", exported_by="ana").path)
    assert sum(1 for _ in mapping.iter_fields()) == n_fields()
    assert mapping.org("acme").field("Account", "Fax_Line__c").concept is None
    assert server_store.field("acme", "Account", "Fax_Line__c").rejected == [
        "account.fax", "account.phone"]


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET actor = 'mallory'",
    "DELETE FROM decision",
    # the version 1 BEFORE UPDATE trigger also fires for an upsert's update
    "INSERT INTO audit_log (id, at, actor, event) VALUES (1, 'now', 'mallory', 'import') "
    "ON CONFLICT (id) DO UPDATE SET actor = excluded.actor",
])
def test_server_refuses_to_change_the_log(server_store: ReviewStore, statement: str) -> None:
    decide(server_store, "acme", "Account", "Annual_Rev__c", Action.ACCEPT)
    with pytest.raises(DatabaseError, match="append-only"), \
            server_store.engine.begin() as conn:
        conn.execute(text(statement))
    assert {e.actor for e in server_store.audit_log()} == {"importer", "ana"}


def test_server_concurrent_decisions(server_store: ReviewStore, server_url: str,
                                     ontology: Ontology) -> None:
    reviewers = [ReviewStore(server_url, ontology=ontology) for _ in range(4)]
    try:
        results = run_together([
            partial(reviewer.decide, DecisionRequest(
                org="acme", object="Account", field="Sector__c", action=Action.DEFER,
                seen_version=1, reviewer=f"reviewer{number}"))
            for number, reviewer in enumerate(reviewers)
        ])
    finally:
        for reviewer in reviewers:
            reviewer.close()
    assert sum(isinstance(r, DecisionRecord) for r in results) == 1, results
    assert sum(isinstance(r, StaleVersionError) for r in results) == 3, results
    field = server_store.field("acme", "Account", "Sector__c")
    assert field.status is Status.DEFERRED and field.version == 2
