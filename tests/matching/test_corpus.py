"""Broken or inconsistent annotation folders end in one MappingError/ConfigError naming the
file and the fix, never a traceback or a silently empty or wrong corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fedcrm.errors import ConfigError, MappingError
from fedcrm.matching.corpus import (
    FieldLabel,
    load_corpus,
    read_labels,
    read_sources,
    write_labels,
)
from fedcrm.schema.models import DataKind, FieldMeta, OrgSchema, SObjectSchema, SourceFormat

ORG = "tiny"


def write_folder(root: Path, orgs: tuple[str, ...] = (ORG,), *, concept: str =
                 "account.annual_revenue") -> Path:
    """An annotations folder with one synthetic org per id, one labelled field each."""
    lines = ["orgs:"]
    for org in orgs:
        lines += [f"- org: {org}", "  kind: synthetic", "  licence: CC0-1.0"]
        schema = OrgSchema(org_id=org, source_format=SourceFormat.PYTHON, objects=(
            SObjectSchema(api_name="Account", fields=(
                FieldMeta(api_name="Revenue__c", label="Revenue", kind=DataKind.CURRENCY),)),))
        (root / "schemas").mkdir(parents=True, exist_ok=True)
        (root / "schemas" / f"{org}.json").write_text(schema.model_dump_json())
        write_labels(root / "labels" / f"{org}.jsonl", [
            FieldLabel(org=org, object="Account", field="Revenue__c", concept=concept)])
    (root / "sources.yaml").write_text("\n".join(lines) + "\n")
    return root


def test_the_fixture_loads(tmp_path: Path) -> None:
    corpus = load_corpus(write_folder(tmp_path))
    assert [o.org_id for o in corpus] == [ORG]


@pytest.mark.parametrize("text", ["", "- org: tiny\n", "orgs:\n", "orgs: 5\n"])
def test_malformed_sources_yaml(tmp_path: Path, text: str) -> None:
    write_folder(tmp_path)
    (tmp_path / "sources.yaml").write_text(text)
    with pytest.raises(MappingError) as error:
        read_sources(tmp_path)
    assert str(error.value) == (
        f"{tmp_path / 'sources.yaml'}: expected a mapping with an 'orgs:' list (one entry per "
        "annotated org: org, kind, licence)")


@pytest.mark.parametrize("name", ["sources.yaml", f"labels/{ORG}.jsonl",
                                  f"schemas/{ORG}.json"])
def test_files_not_in_utf8_are_named(tmp_path: Path, name: str) -> None:
    write_folder(tmp_path)
    path = tmp_path / name
    size = len(path.read_bytes())
    path.write_bytes(path.read_bytes() + b"\xe9")
    with pytest.raises(MappingError) as error:
        load_corpus(tmp_path)
    assert str(error.value) == f"{path}: not UTF-8 (byte {size}); re-save as UTF-8"


def test_unknown_org_filter_names_the_orgs_there_are(tmp_path: Path) -> None:
    write_folder(tmp_path)
    with pytest.raises(MappingError, match=r"no org\(s\) \['tinny'\]; its orgs of kind "
                                           r"real/synthetic are \['tiny'\]"):
        load_corpus(tmp_path, orgs=["tinny"])


def test_org_filter_of_another_kind_is_an_error(tmp_path: Path) -> None:
    write_folder(tmp_path)
    with pytest.raises(MappingError, match=r"org\(s\) \['tiny \(synthetic\)'\] are not of "
                                           r"kind real"):
        load_corpus(tmp_path, kinds=("real",), orgs=[ORG])


@pytest.mark.parametrize("kinds", [("synthetics",), "real"])
def test_unknown_kinds_are_an_error(tmp_path: Path, kinds: tuple[str, ...]) -> None:
    write_folder(tmp_path)
    with pytest.raises(ConfigError, match="kind"):
        load_corpus(tmp_path, kinds=kinds)


def test_an_org_listed_twice_is_an_error(tmp_path: Path) -> None:
    write_folder(tmp_path)
    sources = tmp_path / "sources.yaml"
    sources.write_text(sources.read_text() + "- org: tiny\n  kind: synthetic\n"
                       "  licence: CC0-1.0\n")
    with pytest.raises(MappingError, match=r"\['tiny'\] listed more than once"):
        load_corpus(tmp_path)


def test_schema_org_id_must_be_the_sources_entry(tmp_path: Path) -> None:
    write_folder(tmp_path)
    path = tmp_path / "schemas" / f"{ORG}.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "org_id": "renamed"}))
    with pytest.raises(MappingError, match=r"org_id is 'renamed', but sources.yaml lists this "
                                           r"file as org 'tiny'"):
        load_corpus(tmp_path)


def test_a_label_row_of_another_org_is_an_error(tmp_path: Path) -> None:
    write_folder(tmp_path)
    path = tmp_path / "labels" / f"{ORG}.jsonl"
    path.write_text(path.read_text().replace('"org":"tiny"', '"org":"other"'))
    with pytest.raises(MappingError, match=rf"{ORG}.jsonl:1: label of Account.Revenue__c names "
                                           r"org 'other', but this file holds the labels of org "
                                           r"'tiny'"):
        load_corpus(tmp_path)


def test_labels_are_checked_against_the_default_ontology(tmp_path: Path) -> None:
    write_folder(tmp_path, concept="account.no_such_concept")
    with pytest.raises(MappingError, match="unknown concept ids"):
        load_corpus(tmp_path)


def test_an_invalid_label_line_is_one_line_naming_its_fields(tmp_path: Path) -> None:
    path = tmp_path / "acme.jsonl"
    path.write_text('{"org": "acme", "object": "Account", "field": "A__c"}\n{}\n')
    with pytest.raises(MappingError) as caught:
        read_labels(path)
    assert str(caught.value) == (f"{path}:2: invalid label (org: Field required; object: Field "
                                 "required; field: Field required)")
