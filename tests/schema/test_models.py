from __future__ import annotations

import pydantic
import pytest

from fedcrm import SchemaError
from fedcrm.schema import DataKind, FieldMeta, OrgSchema, SObjectSchema, SourceFormat


def make_field(name: str, kind: DataKind = DataKind.TEXT) -> FieldMeta:
    return FieldMeta(api_name=name, label=name, kind=kind)


def test_custom_and_namespace() -> None:
    assert make_field("npe01__Preferred_Email__c").namespace == "npe01"
    assert make_field("npe01__Preferred_Email__c").is_custom
    assert make_field("Preferred_Email__c").namespace is None
    assert make_field("Email").namespace is None
    assert not make_field("Email").is_custom
    # a component of a custom geolocation field is custom, and its field name no namespace
    assert make_field("Location__Latitude__s").is_custom
    assert make_field("Location__Latitude__s").namespace is None
    assert make_field("ns__Location__Longitude__s").namespace == "ns"


def test_objects_have_namespaces_and_the_summary_lists_them() -> None:
    # the NPSP org's npe01, npe03, ... appeared only on object names: the summary listed none
    from fedcrm.schema import summarize_schema

    package = SObjectSchema(api_name="npe01__OppPayment__c", fields=(make_field("Name"),))
    plain = SObjectSchema(api_name="Payment__c", fields=(make_field("Name"),))
    assert package.namespace == "npe01" and plain.namespace is None
    # a custom object's companions have their object's namespace, or none (a review found
    # Invoice__Share, __History, __Feed and __ChangeEvent listed as a namespace "Invoice")
    for name, namespace in [("Invoice__Share", None), ("Invoice__History", None),
                            ("Invoice__Feed", None), ("Invoice__ChangeEvent", None),
                            ("ns__Invoice__History", "ns"), ("AccountHistory", None)]:
        assert SObjectSchema(api_name=name, fields=(make_field("Id"),)).namespace == namespace
    # suffixes in any case: TIER__C is no namespace TIER
    assert make_field("TIER__C").namespace is None and make_field("ns__TIER__C").namespace == "ns"
    schema = OrgSchema(org_id="npsp", source_format=SourceFormat.PYTHON, objects=(
        package, plain, SObjectSchema(api_name="Account", fields=(
            make_field("npo02__TotalGifts__c"),))))
    assert summarize_schema(schema).namespaces == ["npe01", "npo02"]


def test_models_are_immutable() -> None:
    field = make_field("Amount__c", DataKind.CURRENCY)
    with pytest.raises(pydantic.ValidationError):
        field.label = "changed"  # type: ignore[misc]


def test_duplicate_fields_are_rejected_case_insensitively() -> None:
    with pytest.raises(SchemaError, match="duplicate field") as info:
        SObjectSchema(api_name="Account", fields=(make_field("Tier__c"), make_field("tier__c")))
    assert info.value.sobject == "Account"
    assert info.value.field == "tier__c"


def test_lookup_helpers() -> None:
    account = SObjectSchema(api_name="Account", fields=(make_field("Tier__c"),))
    org = OrgSchema(org_id="x", source_format=SourceFormat.PYTHON, objects=(account,))
    assert org["account"]["TIER__C"].api_name == "Tier__c"
    assert "Account" in org and "Lead" not in org
    assert "Tier__c" in account
    with pytest.raises(KeyError, match="no object 'Lead'"):
        org.object("Lead")
    assert [f.api_name for _, f in org.iter_fields()] == ["Tier__c"]
    assert org.n_fields == 1


def test_kind_families_cover_every_kind() -> None:
    for kind in DataKind:
        assert kind.family in {
            "text", "numeric", "boolean", "temporal", "categorical", "reference", "contact",
            "identifier", "other",
        }
