from __future__ import annotations

import pandas as pd
import pytest

from fedcrm.matching.proposal import FieldMapping, MappingProposal, OrgMapping
from fedcrm.ontology import Ontology, load_ontology
from fedcrm.synth import Federation, generate_federation


@pytest.fixture(scope="session")
def ontology() -> Ontology:
    return load_ontology()


@pytest.fixture(scope="session")
def federation() -> Federation:
    return generate_federation(3, seed=5, scale=0.02)


def truth_mapping(federation: Federation, ontology: Ontology) -> MappingProposal:
    orgs = []
    for org in federation.orgs:
        fields = [
            FieldMapping(object=label.object, field=label.field, concept=label.concept,
                         confidence=1.0,
                         block=label.concept or (f"custom:{label.group}" if label.group
                                                 else None))
            for label in org.labels
        ]
        orgs.append(OrgMapping(org=org.org_id, fields=fields))
    return MappingProposal(ontology_version=ontology.version, matcher_version="truth",
                           orgs=orgs)


@pytest.fixture(scope="session")
def mapping(federation: Federation, ontology: Ontology) -> MappingProposal:
    return truth_mapping(federation, ontology)


@pytest.fixture(scope="session")
def reference(federation: Federation) -> pd.Timestamp:
    return pd.Timestamp(federation.params.reference_date)
