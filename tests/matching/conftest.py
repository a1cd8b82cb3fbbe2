from __future__ import annotations

import pytest

from fedcrm.matching import FieldMatcher
from fedcrm.matching.corpus import AnnotatedOrg
from fedcrm.ontology import Ontology, load_ontology
from tests.matching.tiny_corpus import tiny_corpus


@pytest.fixture(scope="session")
def ontology() -> Ontology:
    return load_ontology()


@pytest.fixture(scope="session")
def corpus() -> list[AnnotatedOrg]:
    return tiny_corpus()


@pytest.fixture(scope="session")
def fitted(corpus: list[AnnotatedOrg], ontology: Ontology) -> FieldMatcher:
    """Fitted on alpha, beta, gamma; delta stays unseen."""
    return FieldMatcher(n_rounds=60, n_folds=3).fit(corpus[:3], ontology)
