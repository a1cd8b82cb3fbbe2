"""What ``Federation.write`` puts on disk, and that it agrees with the in-memory federation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fedcrm
from fedcrm import ConfigError, load_schema
from fedcrm.matching.corpus import check_labels, read_labels
from fedcrm.schema.models import DataKind, OrgSchema
from fedcrm.synth import Federation, FederationManifest, generate_federation
from fedcrm.synth.fake import KEY_PREFIXES
from fedcrm.synth.quality import decode
from tests.synth.conftest import read_records


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _without_sources(schema: OrgSchema) -> dict:
    data = schema.model_dump()
    data["source"] = None
    for sobject in data["objects"]:
        sobject["source"] = None
        for field in sobject["fields"]:
            field["source"] = None
    return data


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    first = generate_federation(3, seed=5, scale=0.01).write(tmp_path / "a")
    second = generate_federation(3, seed=5, scale=0.01).write(tmp_path / "b")
    files_a, files_b = _files(first), _files(second)
    assert files_a.keys() == files_b.keys()
    assert len(files_a) > 100
    differing = [name for name in files_a if files_a[name] != files_b[name]]
    assert differing == []


def test_different_seed_gives_different_output(tmp_path: Path) -> None:
    first = _files(generate_federation(3, seed=5, scale=0.01).write(tmp_path / "a"))
    second = _files(generate_federation(3, seed=6, scale=0.01).write(tmp_path / "b"))
    assert first.keys() != second.keys() or any(first[k] != second[k] for k in first)
    assert first["federation.json"] != second["federation.json"]


def test_layout(written: Path, federation: Federation) -> None:
    manifest = FederationManifest.model_validate_json(
        (written / "federation.json").read_text(encoding="utf-8"))
    assert manifest.seed == federation.seed
    assert [o.profile.org_id for o in manifest.orgs] == [o.org_id for o in federation.orgs]
    for org in federation.orgs:
        folder = written / org.org_id
        assert (folder / "ground_truth.jsonl").is_file()
        assert (folder / "units.json").is_file()
        objects = folder / "metadata" / "force-app" / "main" / "default" / "objects"
        for sobject in ("Account", "Contact", "Lead", "Opportunity", "Case"):
            assert (folder / "records" / f"{sobject}.csv").is_file()
            assert any((objects / sobject / "fields").glob("*.field-meta.xml"))
        for sobject in org.schema.objects:
            if sobject.is_custom:
                meta = objects / sobject.api_name / f"{sobject.api_name}.object-meta.xml"
                assert meta.is_file()


def test_metadata_is_real_sfdx_xml(written: Path, federation: Federation) -> None:
    org = federation.orgs[0]
    fields = (written / org.org_id / "metadata" / "force-app" / "main" / "default" / "objects"
              / "Opportunity" / "fields")
    stage = (fields / "StageName.field-meta.xml").read_text(encoding="utf-8")
    assert 'xmlns="http://soap.sforce.com/2006/04/metadata"' in stage
    assert "<valueSet>" in stage and "<valueSetDefinition>" in stage
    assert "<type>Picklist</type>" in stage
    amount = (fields / "Amount.field-meta.xml").read_text(encoding="utf-8")
    assert "<precision>18</precision>" in amount and "<scale>2</scale>" in amount
    account_id = (fields / "AccountId.field-meta.xml").read_text(encoding="utf-8")
    assert "<referenceTo>Account</referenceTo>" in account_id


def test_written_metadata_loads_strictly_and_equals_schema(written: Path,
                                                           federation: Federation) -> None:
    for org in federation.orgs:
        loaded = load_schema(written / org.org_id / "metadata", org_id=org.org_id, strict=True)
        assert loaded.warnings == ()
        assert _without_sources(loaded) == _without_sources(org.schema)


def test_every_field_has_exactly_one_label(written: Path, federation: Federation) -> None:
    for org in federation.orgs:
        labels = read_labels(written / org.org_id / "ground_truth.jsonl")
        keys = [label.key for label in labels]
        assert len(keys) == len(set(keys))
        fields = {(o.api_name.lower(), f.api_name.lower()) for o, f in org.schema.iter_fields()}
        assert set(keys) == fields
        assert labels == sorted(org.labels, key=lambda lab: (lab.object.lower(),
                                                             lab.field.lower()))


def test_label_concepts_exist_in_the_ontology(federation: Federation) -> None:
    ontology = fedcrm.load_ontology()
    for annotated in federation.annotated_orgs():
        check_labels(annotated, ontology)  # raises on unknown concepts or unlabelled fields


def test_standard_fields_carry_their_standard_concept(federation: Federation) -> None:
    ontology = fedcrm.load_ontology()
    checked = 0
    for org in federation.orgs:
        for label in org.labels:
            meta = org.schema[label.object][label.field]
            if meta.is_custom or label.object.endswith("__c"):
                continue
            concept = ontology.standard_concept(label.object, label.field)
            assert concept is not None, f"{label.object}.{label.field}"
            assert label.concept == concept.id
            checked += 1
    assert checked > 300


def test_annotated_orgs(federation: Federation) -> None:
    annotated = federation.annotated_orgs()
    assert [a.org_id for a in annotated] == [o.org_id for o in federation.orgs]
    for org in annotated:
        assert org.source.kind == "synthetic"
        assert org.source.licence == "CC0-1.0"
        assert f"seed {federation.seed}" in org.source.description
        assert len(org.labels) == org.schema.n_fields
        assert {label.method for label in org.labels.values()} == {"synthetic"}
        assert {label.annotator for label in org.labels.values()} == {"fedcrm.synth"}


def test_record_columns_are_schema_fields(written: Path, federation: Federation) -> None:
    for org in federation.orgs:
        for sobject in org.tables:
            header = read_records(written / org.org_id, sobject).columns.tolist()
            names = {f.api_name for f in org.schema[sobject].fields}
            assert header[0] == "Id"
            assert set(header[1:]) <= names
            assert set(header[1:]) == names  # and every field has a column


def test_picklist_values_in_records_are_allowed(written: Path, federation: Federation) -> None:
    checked = 0
    for org in federation.orgs:
        for sobject in org.tables:
            table = read_records(written / org.org_id, sobject)
            for meta in org.schema[sobject].fields:
                if meta.kind is not DataKind.PICKLIST:
                    continue
                allowed = {value.value for value in meta.picklist_values}
                used = set(table[meta.api_name]) - {""}
                assert used <= allowed, f"{org.org_id} {sobject}.{meta.api_name}: {used - allowed}"
                checked += bool(used)
    assert checked > 50


def test_record_ids_look_like_salesforce_ids(written: Path, federation: Federation) -> None:
    org = federation.orgs[0]
    for sobject, prefix in KEY_PREFIXES.items():
        if sobject == "User":
            continue
        ids = read_records(written / org.org_id, sobject)["Id"]
        assert ids.str.len().eq(18).all()
        assert ids.str.startswith(prefix).all()
        assert ids.is_unique
        for record_id in ids.head(20):
            assert _case_safe_suffix(record_id[:15]) == record_id[15:]
    owners = read_records(written / org.org_id, "Account")["OwnerId"]
    assert owners.str.startswith("005").all()


def _case_safe_suffix(short_id: str) -> str:
    """Salesforce's 15 → 18 character rule, written out plainly as an independent check."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
    suffix = ""
    for chunk in range(3):
        bits = 0
        for position, char in enumerate(short_id[chunk * 5: chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += alphabet[bits]
    return suffix


def test_lookups_point_at_existing_records(federation: Federation) -> None:
    for org in federation.orgs:
        accounts = set(org.tables["Account"]["Id"])
        contacts = set(org.tables["Contact"]["Id"])
        assert set(org.tables["Contact"]["AccountId"]) <= accounts
        assert set(org.tables["Opportunity"]["AccountId"]) <= accounts
        assert set(org.tables["Case"]["AccountId"]) <= accounts
        assert set(org.tables["Case"]["ContactId"]) <= contacts
        converted = org.tables["Lead"]["ConvertedAccountId"].dropna()
        assert set(converted) <= accounts


def test_personal_data_is_fake(federation: Federation) -> None:
    for org in federation.orgs:
        emails = org.tables["Contact"]["Email"].dropna()
        assert len(emails) and emails.str.endswith(".example.com").all()
        websites = org.tables["Account"]["Website"].dropna()
        assert websites.str.contains(r"\.example\.com$").all()
        phones = org.tables["Contact"]["Phone"].dropna()
        assert phones.str.contains("55").all()


def test_units_json_matches_org_units(written: Path, federation: Federation) -> None:
    for org in federation.orgs:
        on_disk = json.loads((written / org.org_id / "units.json").read_text(encoding="utf-8"))
        assert set(on_disk) == {f"{obj}.{name}" for obj, name in org.units}
        for (obj, name), encoding in org.units.items():
            assert on_disk[f"{obj}.{name}"]["stored_as"] == encoding.stored_as
            assert encoding["stored_as"] == encoding.stored_as  # dict-style access


def _decode_kind(kind: DataKind) -> str:
    if kind is DataKind.BOOLEAN:
        return "bool"
    if kind in (DataKind.DATE, DataKind.DATETIME):
        return "date"
    if kind in (DataKind.NUMBER, DataKind.CURRENCY, DataKind.PERCENT):
        return "number"
    return "category"


def test_stored_values_decode_to_the_canonical_latent_values(
        written: Path, federation: Federation) -> None:
    """Units, currencies, types and spellings really are what ``units.json`` says: decoding
    the written CSV with it gives back the canonical values wherever a value is present."""
    compared = 0
    for org in federation.orgs:
        for label in org.labels:
            concept = label.concept or (f"group:{label.group}" if label.group else None)
            latent = org.latent.get(label.object)
            if concept is None or latent is None or concept not in latent:
                continue
            meta = org.schema[label.object][label.field]
            encoding = org.units.get((label.object, label.field))
            stored = read_records(written / org.org_id, label.object)[label.field]
            kind = _decode_kind(meta.kind)
            if encoding is not None and encoding.number_as_text:
                kind = "number"
            elif encoding is not None and encoding.true_values:
                kind = "bool"
            elif encoding is not None and encoding.date_format:
                kind = "date"
            if kind == "category" and encoding is None and meta.kind is not DataKind.PICKLIST:
                kind = "text"
            present = stored.ne("")
            decoded = decode(stored.where(present), kind, encoding)[present]
            truth = latent[concept][present.to_numpy()]
            if kind == "number":
                factor = encoding.to_canonical if encoding and encoding.to_canonical else 1.0
                rounding = 0.5 * 10 ** -(meta.scale or 0) * factor  # stored decimals
                assert np.allclose(decoded.to_numpy(float), truth.to_numpy(float), rtol=1e-6,
                                   atol=rounding + 1e-9), f"{org.org_id} {label.field}"
            elif kind == "date":
                expected = pd.to_datetime(truth).dt.normalize().to_numpy()
                assert (decoded.dt.normalize().to_numpy() == expected).all(), label.field
            elif kind == "bool":
                if meta.kind is DataKind.BOOLEAN:
                    continue  # a blanked checkbox reads false; compared through its picklists
                assert (decoded.to_numpy() == truth.to_numpy(bool)).all(), label.field
            else:
                assert (decoded.to_numpy(object) == truth.to_numpy(object)).all(), label.field
            compared += 1
    assert compared > 200


@pytest.mark.parametrize("bad", ["file", "foreign"])
def test_write_refuses_to_clobber_unrelated_files(tmp_path: Path, bad: str) -> None:
    federation = generate_federation(1, seed=1, accounts=(20, 20), min_accounts=20)
    target = tmp_path / "out"
    if bad == "file":
        target.write_text("not a folder")
    else:
        target.mkdir()
        (target / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="out"):
        federation.write(target)


def test_rewriting_replaces_the_previous_federation(tmp_path: Path) -> None:
    generate_federation(3, seed=1, scale=0.01).write(tmp_path)
    generate_federation(2, seed=2, scale=0.01).write(tmp_path)
    folders = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    manifest = json.loads((tmp_path / "federation.json").read_text(encoding="utf-8"))
    assert folders == sorted(o["profile"]["org_id"] for o in manifest["orgs"])
    assert len(folders) == 2


def test_latent_values_are_written_only_on_request(tmp_path: Path) -> None:
    federation = generate_federation(1, seed=3, accounts=(30, 30))
    plain = federation.write(tmp_path / "plain")
    assert not (plain / federation.orgs[0].org_id / "latent").exists()
    full = federation.write(tmp_path / "full", include_latent=True)
    accounts = pd.read_csv(full / federation.orgs[0].org_id / "latent" / "Account.csv")
    assert {"truth:churned", "truth:churn_probability", "account.nps_score"} <= set(accounts)
    # the manifest's command writes the same files, so it asks for the latent ones too
    assert "--include-latent --out DIR" in json.loads(
        (full / "federation.json").read_text())["reproduce"]
    assert "--include-latent" not in json.loads(
        (plain / "federation.json").read_text())["reproduce"]


class _Interrupted(Exception):
    """Stands in for Ctrl-C or a full disk in the middle of a write."""


def _interrupt_after_first_org(stage: str, done: int, total: int) -> None:
    if stage == "write" and done == 1:
        raise _Interrupted


def _fail_inside_an_org(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the next write fail half-way through its first org (metadata written, no labels)."""
    def failing(path: Path, labels: object) -> None:
        raise _Interrupted

    monkeypatch.setattr("fedcrm.synth.folder.write_labels", failing)


@pytest.mark.parametrize("where", ["between_orgs", "inside_an_org"])
def test_interrupted_write_then_rewrite_leaves_exactly_the_new_federation(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    old = generate_federation(2, seed=1, accounts=(20, 40))
    other = generate_federation(2, seed=7, accounts=(20, 40))
    expected = _files(old.write(tmp_path / "fresh"))
    out = old.write(tmp_path / "out")
    (out / "notes.txt").write_text("mine")  # the user's, next to the federation
    (out / "analysis").mkdir()
    (out / "analysis" / "ground_truth.jsonl").write_text("mine")
    with monkeypatch.context() as patch, pytest.raises(_Interrupted):
        if where == "between_orgs":
            other.write(out, progress=_interrupt_after_first_org)
        else:
            _fail_inside_an_org(patch)
            other.write(out)
    # the new orgs were still being staged: the earlier federation is there as it was
    before = _files(out)
    assert before.pop("notes.txt") == b"mine"
    assert before.pop("analysis/ground_truth.jsonl") == b"mine"
    assert before == expected
    old.write(out)
    files = _files(out)
    assert files.pop("notes.txt") == b"mine"
    assert files.pop("analysis/ground_truth.jsonl") == b"mine"
    assert files == expected


@pytest.mark.parametrize("where", ["between_orgs", "inside_an_org"])
def test_retry_after_an_interrupted_first_write_succeeds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    federation = generate_federation(2, seed=3, accounts=(20, 40))
    expected = _files(federation.write(tmp_path / "fresh"))
    out = tmp_path / "out"
    with monkeypatch.context() as patch, pytest.raises(_Interrupted):
        if where == "between_orgs":
            federation.write(out, progress=_interrupt_after_first_org)
        else:
            _fail_inside_an_org(patch)
            federation.write(out)
    assert not out.exists()  # a failed first write leaves nothing behind
    assert _files(federation.write(out)) == expected


def test_rewrite_keeps_a_folder_of_yours_named_like_an_org(tmp_path: Path) -> None:
    federation = generate_federation(1, seed=1, accounts=(20, 20))
    out = federation.write(tmp_path / "out")
    mine = out / "org07_acme"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    federation.write(out)
    assert (mine / "notes.txt").read_text() == "mine"
    # the same name as an org about to be written: refused before anything changes
    other = generate_federation(1, seed=2, accounts=(20, 20))
    clash = out / other.orgs[0].org_id
    clash.mkdir()
    (clash / "notes.txt").write_text("mine")
    before = _files(out)
    with pytest.raises(ConfigError, match=f"already holds {clash.name}.*move or rename it"):
        other.write(out)
    assert _files(out) == before


def test_dates_keep_the_order_a_crm_would_record(federation: Federation) -> None:
    # cases closed before they were opened (12 %), deals older than their account (27 %),
    # SQL before MQL, MQL after the reference date: all possible in the generator before
    reference = pd.Timestamp(federation.params.reference_date)
    for org in federation.orgs:
        cases = org.latent["Case"]
        closed = cases["case.closed_date"].notna()
        hours = (cases.loc[closed, "case.closed_date"]
                 - cases.loc[closed, "case.created_date"]).dt.total_seconds() / 3600
        assert (hours >= 0).all()
        assert hours.to_numpy() == pytest.approx(
            cases.loc[closed, "case.resolution_hours"].to_numpy(), abs=1.0)
        deals, accounts = org.latent["Opportunity"], org.latent["Account"]
        opened = accounts["account.created_date"].to_numpy()[deals["x:account_index"]]
        assert (deals["opportunity.created_date"].to_numpy() > opened).all()
        leads = org.latent["Lead"]
        assert (leads["lead.mql_date"].dropna() <= reference).all()
        both = leads["lead.mql_date"].notna() & leads["lead.sql_date"].notna()
        assert (leads.loc[both, "lead.sql_date"] >= leads.loc[both, "lead.mql_date"]).all()
