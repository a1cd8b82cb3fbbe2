"""Fixtures of the annotation tests: the hand-written four-org corpus of the matcher tests,
written into temporary annotations folders, and one small fitted matcher."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
import yaml

from fedcrm.annotate.loop import shared_embedder
from fedcrm.matching.corpus import AnnotatedOrg, write_labels
from fedcrm.matching.embeddings import Embedder
from fedcrm.matching.model import FieldMatcher
from fedcrm.ontology import Ontology, load_ontology
from tests.matching.tiny_corpus import tiny_corpus

#: matcher parameters small enough for tests
SMALL = {"n_rounds": 40, "n_folds": 2}

#: how much of an org's labels a folder gets: every label, only the standard field's, none
Coverage = str
WriteAnnotations = Callable[[Mapping[str, Coverage]], Path]


@pytest.fixture(scope="session")
def ontology() -> Ontology:
    return load_ontology()


@pytest.fixture(scope="session")
def truth() -> list[AnnotatedOrg]:
    """alpha, beta, gamma, delta with every field labelled."""
    return tiny_corpus()


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """One embedding cache for every fit of the session (concept vectors pre-seeded)."""
    return shared_embedder()


@pytest.fixture(scope="session")
def fitted(truth: list[AnnotatedOrg], ontology: Ontology, embedder: Embedder) -> FieldMatcher:
    """Fitted on alpha and beta; gamma and delta stay unseen."""
    matcher = FieldMatcher(**SMALL)
    matcher._embedder = embedder
    return matcher.fit(truth[:2], ontology)


@pytest.fixture
def write_annotations(tmp_path: Path, truth: list[AnnotatedOrg]) -> WriteAnnotations:
    """Write an annotations folder: org → "all" (every label), "standard" (only the
    standard field's label) or "none" (no label file)."""

    def write(coverage: Mapping[str, Coverage]) -> Path:
        folder = tmp_path / "annotations"
        (folder / "schemas").mkdir(parents=True, exist_ok=True)
        by_id = {org.org_id: org for org in truth}
        sources = [{"org": org, "kind": "synthetic", "licence": "CC0-1.0"} for org in coverage]
        (folder / "sources.yaml").write_text(yaml.safe_dump({"orgs": sources}),
                                             encoding="utf-8")
        for org_id, how in coverage.items():
            org = by_id[org_id]
            (folder / "schemas" / f"{org_id}.json").write_text(org.schema.model_dump_json(),
                                                                encoding="utf-8")
            labels = list(org.labels.values())
            if how == "standard":
                labels = [lab for lab in labels if not lab.field.endswith("__c")]
            if how != "none":
                write_labels(folder / "labels" / f"{org_id}.jsonl", labels)
        return folder

    return write
