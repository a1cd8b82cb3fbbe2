"""fedcrm: federated CRM models across Salesforce orgs, without moving customer records."""

from fedcrm.errors import (
    AggregationError,
    ConfigError,
    CryptoError,
    FeatureError,
    FedcrmError,
    MappingError,
    NotFittedError,
    OntologyError,
    PrivacyBudgetExceeded,
    SchemaError,
)
from fedcrm.ontology import Concept, Ontology, load_ontology
from fedcrm.schema import (
    DataKind,
    FieldMeta,
    FieldProfile,
    OrgSchema,
    SObjectSchema,
    load_schema,
    profile_series,
)

__version__ = "0.1.0"

# The matcher and the federation pull in LightGBM, torch and sentence-transformers: load them
# on first use so `import fedcrm` stays quick.
_LAZY = {
    "match": "fedcrm.matching.api",
    "FieldMatcher": "fedcrm.matching.model",
    "MappingProposal": "fedcrm.matching.proposal",
    "generate_federation": "fedcrm.synth",
    "run_demo": "fedcrm.demo",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fedcrm' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names with the lazy ones (so tab completion offers ``fedcrm.match``)."""
    return sorted({*globals(), *_LAZY})


__all__ = [
    "AggregationError",
    "Concept",
    "ConfigError",
    "CryptoError",
    "DataKind",
    "FeatureError",
    "FedcrmError",
    "FieldMatcher",
    "FieldMeta",
    "FieldProfile",
    "MappingError",
    "MappingProposal",
    "NotFittedError",
    "Ontology",
    "OntologyError",
    "OrgSchema",
    "PrivacyBudgetExceeded",
    "SObjectSchema",
    "SchemaError",
    "__version__",
    "generate_federation",
    "load_ontology",
    "load_schema",
    "match",
    "profile_series",
    "run_demo",
]
