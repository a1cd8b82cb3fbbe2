"""Org metadata: the immutable model, loaders for every format users have, and value profiles."""

from fedcrm.schema.describe import load_describe
from fedcrm.schema.live import load_live
from fedcrm.schema.load import detect_format, load_schema
from fedcrm.schema.mdapi import load_mdapi
from fedcrm.schema.models import (
    CategoryCount,
    DataKind,
    FieldMeta,
    FieldProfile,
    LoadWarning,
    OrgSchema,
    PicklistValue,
    SObjectSchema,
    SourceFormat,
)
from fedcrm.schema.profile import profile_frame, profile_schema, profile_series
from fedcrm.schema.sfdx import load_sfdx
from fedcrm.schema.summary import ObjectSummary, SchemaSummary, summarize_schema
from fedcrm.schema.types import kind_from_describe, kind_from_metadata_type

__all__ = [
    "CategoryCount",
    "DataKind",
    "FieldMeta",
    "FieldProfile",
    "LoadWarning",
    "ObjectSummary",
    "OrgSchema",
    "PicklistValue",
    "SObjectSchema",
    "SchemaSummary",
    "SourceFormat",
    "detect_format",
    "kind_from_describe",
    "kind_from_metadata_type",
    "load_describe",
    "load_live",
    "load_mdapi",
    "load_schema",
    "load_sfdx",
    "profile_frame",
    "profile_schema",
    "profile_series",
    "summarize_schema",
]
