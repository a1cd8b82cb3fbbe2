"""Org picklist values onto canonical codes: whole values, spellings inside them, ambiguity."""

from __future__ import annotations

import pandas as pd
import pytest

from fedcrm.features.convert import convert_field
from fedcrm.features.values import ValueMapper
from fedcrm.ontology import Ontology
from fedcrm.schema.models import FieldMeta, PicklistValue


@pytest.fixture(scope="module")
def lead_status(ontology: Ontology) -> ValueMapper:
    return ValueMapper(ontology.value_set("lead_status"))


def test_whole_value_spellings(lead_status: ValueMapper) -> None:
    assert lead_status.code("Closed - Converted") == "closed_converted"
    assert lead_status.code("  disqualified ") == "closed_not_converted"
    assert lead_status.code("") is None


def test_a_spelling_inside_a_value(lead_status: ValueMapper) -> None:
    assert lead_status.code("Cerrado - convertido") == "closed_converted"
    # the longer spelling wins over the one inside it
    assert lead_status.code("Cerrado - no convertido") == "closed_not_converted"
    assert lead_status.code("Abgeschlossen - nicht konvertiert") == "closed_not_converted"
    assert lead_status.code("Clôturé - converti") == "closed_converted"


def test_no_guess_when_unsure(ontology: Ontology, lead_status: ValueMapper) -> None:
    # two codes spelled in one value
    assert lead_status.code("Converted or Disqualified") is None
    # a negation outside the spelling turns it round
    assert lead_status.code("Not yet converted") is None
    ownership = ValueMapper(ontology.value_set("account_ownership"))
    assert ownership.code("Non cotée") is None
    # a leftover word that spells part of another code
    account_type = ValueMapper(ontology.value_set("account_type"))
    assert account_type.code("Cliente - Canal") is None
    assert lead_status.code("Something else entirely") is None


def test_convert_field_maps_inner_spellings_and_labels(ontology: Ontology) -> None:
    concept = ontology.concept("lead.status")
    meta = FieldMeta(api_name="Estado__c", kind="picklist", picklist_values=(
        PicklistValue(value="C1", label="Cerrado - convertido"),
        PicklistValue(value="Cerrado - no convertido"),
    ))
    values = pd.Series(["C1", "Cerrado - no convertido", "Raro", None])
    converted, report = convert_field(values, meta, concept, ontology)
    assert converted.tolist() == ["closed_converted", "closed_not_converted", "other", None]
    assert report.n_other == 1
    # the value read from inside is counted in the note, the record values are not shown
    assert report.note.startswith("2 distinct value(s) mapped by an ontology spelling")
    assert "Cerrado" not in report.note
