"""Fixtures of the review tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fedcrm.ontology import load_ontology
from fedcrm.ontology.models import Ontology
from fedcrm.review import ReviewStore

from ._helpers import make_proposal, make_schemas


@pytest.fixture(scope="session")
def ontology() -> Ontology:
    """The shipped ontology."""
    return load_ontology()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A fresh SQLite file for one test."""
    return tmp_path / "review.db"


@pytest.fixture
def store(db_path: Path, ontology: Ontology) -> Iterator[ReviewStore]:
    """A store with the test proposal and schemas imported."""
    with ReviewStore(db_path, ontology=ontology) as opened:
        opened.import_proposal(make_proposal(), schemas=make_schemas(), imported_by="importer")
        yield opened
