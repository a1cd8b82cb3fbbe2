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
    "ConfigError",
    "CryptoError",
    "DataKind",
    "FeatureError",
    "FedcrmError",
    "FieldMeta",
    "FieldProfile",
    "MappingError",
    "NotFittedError",
    "OntologyError",
    "OrgSchema",
    "PrivacyBudgetExceeded",
    "SObjectSchema",
    "SchemaError",
    "__version__",
    "load_schema",
    "profile_series",
]
