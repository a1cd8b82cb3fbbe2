from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fedcrm import FeatureError
from fedcrm.features import SourceSpec, build_feature_space
from fedcrm.features.extract import _encode_source
from fedcrm.matching.proposal import FieldMapping, MappingProposal, OrgMapping
from fedcrm.schema import DataKind, FieldMeta
from fedcrm.schema.models import OrgSchema, SObjectSchema, SourceFormat


def _block_of(members: list[tuple[str, str, DataKind]], ontology):
    """Schemas and a mapping putting one Account field of each org in custom:start."""
    schemas = {
        org: OrgSchema(org_id=org, source_format=SourceFormat.PYTHON, objects=(
            SObjectSchema(api_name="Account", fields=(FieldMeta(api_name=name, kind=kind),)),))
        for org, name, kind in members
    }
    mapping = MappingProposal(ontology_version=ontology.version, matcher_version="test", orgs=[
        OrgMapping(org=org, fields=[FieldMapping(object="Account", field=name, confidence=1.0,
                                                 block="custom:start")])
        for org, name, _ in members
    ])
    return schemas, mapping


@pytest.mark.parametrize("text_first", [True, False])
def test_block_kind_comes_from_every_member_not_the_first(ontology, text_first) -> None:
    members = [("org_a", "Start__c", DataKind.DATE), ("org_b", "Beginn__c", DataKind.TEXT)]
    schemas, mapping = _block_of(members[::-1] if text_first else members, ontology)
    space = build_feature_space("churn", ontology, mapping, schemas)
    assert {s.name: s.kind for s in space.sources}["custom:start"] == "date"


def test_members_of_incompatible_types_are_refused(ontology) -> None:
    schemas, mapping = _block_of([("org_a", "Start__c", DataKind.DATE),
                                  ("org_b", "Start_Num__c", DataKind.NUMBER)], ontology)
    with pytest.raises(FeatureError, match=r"org_a: Account\.Start__c \(date\).*org_b: "
                                           r"Account\.Start_Num__c \(number\).*different"):
        build_feature_space("churn", ontology, mapping, schemas)


def test_text_in_a_date_block_becomes_missing() -> None:
    source = SourceSpec(name="custom:start", kind="date", sobject="Account")
    as_of = pd.Series(pd.to_datetime(["2025-01-01", "2025-01-01", "2025-01-01"]))
    encoded = _encode_source(source, pd.Series(["2024-01-01", "n/a", None], dtype="string"),
                             as_of, 5, [], np.ones(3, dtype=bool))
    assert encoded[:, 1].tolist() == [0.0, 1.0, 1.0]
    assert encoded[0, 0] == pytest.approx(366 / 365, abs=1e-4)
    with pytest.raises(FeatureError, match="custom:start values are numbers, not dates"):
        _encode_source(source, pd.Series([12.0, np.nan, 3.0]), as_of, 5, [], np.ones(3, bool))
