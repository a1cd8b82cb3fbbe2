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


@pytest.mark.parametrize(("concept", "value"), [
    ("opportunity.stage", "Never Won"), ("opportunity.stage", "Won't Proceed"),
    ("opportunity.stage", "Almost Won"), ("opportunity.stage", "Gewonnen? Nein"),
    ("opportunity.stage", "Closed Won-Reversed"), ("lead.status", "Never Converted"),
    ("lead.status", "To be converted"), ("lead.status", "Converted by mistake"),
])
def test_a_label_value_is_only_read_from_inside_with_frame_words(
        ontology: Ontology, concept: str, value: str) -> None:
    """Label values decide outcomes: any word besides the spelling and 'closed', 'stage' and
    the like leaves the value unmapped (these mapped to won / converted before)."""
    meta = FieldMeta(api_name="Stage__c", kind="picklist")
    converted, _ = convert_field(pd.Series([value, "Conclu - gagné"]), meta,
                                 ontology.concept(concept), ontology)
    assert converted.iloc[0] == "other"
    if concept == "opportunity.stage":
        assert converted.iloc[1] == "closed_won"


def test_a_past_or_cancelled_membership_is_not_the_membership(ontology: Ontology) -> None:
    account_type = ValueMapper(ontology.value_set("account_type"))
    for value in ("Past Customer", "Customer - Cancelled", "Ex-Customer (former)"):
        assert account_type.code(value) != "customer_direct", value
