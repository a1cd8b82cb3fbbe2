"""A review database another process keeps locked: reads go on, writes wait and then fail
with one clear, retryable error; label exports hold the lock across read, merge and write."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from fedcrm.matching.corpus import read_labels
from fedcrm.ontology.models import Ontology
from fedcrm.review import Action, ReviewBusy, ReviewStore
from fedcrm.review import store as store_module

from ._helpers import (
    annotations_folder,
    decide,
    event_details,
    make_proposal,
    make_schemas,
)


@contextmanager
def locked(db: Path) -> Iterator[None]:
    """Another writer holding the database's write lock."""
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.fixture
def impatient_store(db_path: Path, ontology: Ontology,
                    monkeypatch: pytest.MonkeyPatch) -> Iterator[ReviewStore]:
    monkeypatch.setattr(store_module, "SQLITE_BUSY_TIMEOUT_S", 0.2)
    with ReviewStore(db_path, ontology=ontology) as opened:
        opened.import_proposal(make_proposal(), schemas=make_schemas(), imported_by="importer")
        yield opened


def test_reads_go_on_and_a_write_fails_with_a_busy_error(
        impatient_store: ReviewStore, db_path: Path) -> None:
    before = impatient_store.progress()
    with locked(db_path):
        # reads take no lock (deferred BEGIN in WAL mode): the queue page keeps working
        assert impatient_store.progress() == before
        assert impatient_store.queue()
        with pytest.raises(ReviewBusy, match="is busy: another process held its write lock"):
            decide(impatient_store, "acme", "Account", "Annual_Rev__c", Action.ACCEPT)
        with pytest.raises(ReviewBusy):
            impatient_store.export_labels(annotations_folder(db_path.parent / "annotations"))
    assert impatient_store.progress() == before  # nothing was half-written
    assert not (db_path.parent / "annotations" / "labels").exists()
    # once the other writer is done, the same request goes through
    decide(impatient_store, "acme", "Account", "Annual_Rev__c", Action.ACCEPT)


def test_reads_inside_a_session_do_not_wait_for_it(impatient_store: ReviewStore) -> None:
    with impatient_store.session():
        assert impatient_store.audit_log()  # used to stall on its own write lock


def test_label_files_and_their_audit_entry_stand_or_fall_together(
        store: ReviewStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    decide(store, "acme", "Account", "Annual_Rev__c", Action.ACCEPT)
    annotations = annotations_folder(tmp_path / "annotations")
    report = store.export_labels(annotations)
    assert report.added == 1 and len(event_details(store, "labels")) == 1
    before = (annotations / "labels" / "acme.jsonl").read_bytes()
    decide(store, "acme", "Account", "Sector__c", Action.NO_EQUIVALENT)

    def failing_flush(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(store_module._ReviewSession, "flush", failing_flush)
    with pytest.raises(RuntimeError):
        store.export_labels(annotations)
    monkeypatch.undo()
    assert (annotations / "labels" / "acme.jsonl").read_bytes() == before
    assert len(event_details(store, "labels")) == 1
    assert len(read_labels(annotations / "labels" / "acme.jsonl")) == 1


def test_a_version_number_taken_meanwhile_is_a_busy_error(
        store: ReviewStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a server database two exports can both compute max + 1; the database's unique
    version refuses the second, which must say so in one line, before any file is written."""
    store.export_approved(tmp_path / "v1.json", exported_by="ana")
    real_scalar = store_module._ReviewSession.scalar
    calls = {"n": 0}

    def stale_max(self: object, statement: object, *args: object, **kwargs: object) -> object:
        value = real_scalar(self, statement, *args, **kwargs)  # type: ignore[arg-type]
        if "max" in str(statement).lower() and calls["n"] == 0:
            calls["n"] += 1
            return 0  # as if the other export had not committed yet
        return value

    monkeypatch.setattr(store_module._ReviewSession, "scalar", stale_max)
    with pytest.raises(ReviewBusy, match="another export took version 1"):
        store.export_approved(tmp_path / "v2.json", exported_by="bo")
    assert not (tmp_path / "v2.json").exists()
