"""The learned field-equivalence matcher: org fields → canonical concepts and shared blocks.

The matcher itself (LightGBM, sentence-transformers) loads on first use, so importing the
light parts (the proposal format, the corpus) stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from fedcrm.matching.corpus import AnnotatedOrg, FieldLabel, OrgSource, load_corpus
from fedcrm.matching.proposal import Candidate, FieldMapping, MappingProposal, OrgMapping

_LAZY = {
    "DEFAULT_MODEL_PATH": "fedcrm.matching.api",
    "default_matcher": "fedcrm.matching.api",
    "match": "fedcrm.matching.api",
    "Embedder": "fedcrm.matching.embeddings",
    "FieldMatcher": "fedcrm.matching.model",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fedcrm.matching' has no attribute {name!r}")


__all__ = [
    "DEFAULT_MODEL_PATH",
    "AnnotatedOrg",
    "Candidate",
    "Embedder",
    "FieldLabel",
    "FieldMapping",
    "FieldMatcher",
    "MappingProposal",
    "OrgMapping",
    "OrgSource",
    "default_matcher",
    "load_corpus",
    "match",
]
