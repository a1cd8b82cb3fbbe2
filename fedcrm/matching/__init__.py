"""The learned field-equivalence matcher: org fields → canonical concepts and shared blocks."""

from fedcrm.matching.api import DEFAULT_MODEL_PATH, default_matcher, match
from fedcrm.matching.corpus import AnnotatedOrg, FieldLabel, OrgSource, load_corpus
from fedcrm.matching.embeddings import Embedder
from fedcrm.matching.model import FieldMatcher
from fedcrm.matching.proposal import Candidate, FieldMapping, MappingProposal, OrgMapping

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
