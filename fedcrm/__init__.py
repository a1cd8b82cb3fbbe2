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

__all__ = [
    "AggregationError",
    "Concept",
    "ConfigError",
    "CryptoError",
    "DataKind",
    "FeatureError",
    "FedcrmError",
    "FieldMeta",
    "FieldProfile",
    "MappingError",
    "NotFittedError",
    "Ontology",
    "OntologyError",
    "OrgSchema",
    "PrivacyBudgetExceeded",
    "SObjectSchema",
    "SchemaError",
    "__version__",
    "load_ontology",
    "load_schema",
    "profile_series",
]
