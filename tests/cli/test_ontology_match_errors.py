"""``fedcrm ontology --object`` and ``fedcrm matcher evaluate`` refuse input that selects
nothing with one line naming what there is, instead of printing empty or perfect results."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from fedcrm.cli import app
from fedcrm.matching.corpus import FieldLabel, write_labels
from tests.cli.test_input_errors import one_line_error
from tests.schema._builders import write_sfdx_field

runner = CliRunner()


def test_unknown_object_lists_the_objects() -> None:
    line = one_line_error(runner.invoke(app, ["ontology", "--object", "Acount", "--json"]))
    assert line == ("error: --object 'Acount' is not an object of the ontology; use one of "
                    "Account, Contact, Lead, Opportunity, Case")


def test_object_is_matched_case_insensitively() -> None:
    listed = runner.invoke(app, ["ontology", "--object", "contact", "--json"])
    searched = runner.invoke(app, ["ontology", "email", "--object", "CONTACT", "--json"])
    for result in (listed, searched):
        assert result.exit_code == 0, result.output
        rows = json.loads(result.output)
        assert rows and {row["object"] for row in rows} == {"Contact"}


def annotations(root: Path, *, real: bool) -> tuple[Path, Path]:
    """An annotations folder with one org (real: read from a metadata root) and that root."""
    folder, metadata = root / "annotations", root / "metadata"
    kind = "real" if real else "synthetic"
    folder.mkdir()
    (folder / "sources.yaml").write_text(
        f"orgs:\n- org: tinyorg\n  kind: {kind}\n  licence: CC0-1.0\n")
    write_sfdx_field(metadata / "tinyorg", "Account", "Score__c", type_="Number",
                     extra="<precision>3</precision><scale>0</scale>")
    if not real:
        from fedcrm.schema import load_schema

        schema = load_schema(metadata / "tinyorg", org_id="tinyorg")
        (folder / "schemas").mkdir()
        (folder / "schemas" / "tinyorg.json").write_text(schema.model_dump_json())
    write_labels(folder / "labels" / "tinyorg.jsonl",
                 [FieldLabel(org="tinyorg", object="Account", field="Score__c")])
    return folder, metadata


def test_evaluate_without_real_orgs_is_an_error(tmp_path: Path) -> None:
    folder, metadata = annotations(tmp_path, real=False)
    line = one_line_error(runner.invoke(app, [
        "matcher", "evaluate", "--annotations", str(folder), "--metadata-root", str(metadata),
        "--json"]))
    assert line.startswith(f"error: {folder / 'sources.yaml'} lists no org of kind 'real'")


def test_evaluate_unknown_org_lists_the_real_orgs(tmp_path: Path) -> None:
    folder, metadata = annotations(tmp_path, real=True)
    line = one_line_error(runner.invoke(app, [
        "matcher", "evaluate", "--annotations", str(folder), "--metadata-root", str(metadata),
        "--org", "tiny"]))
    assert line == (f"error: --org tiny: not a real org of {folder / 'sources.yaml'}; real "
                    "orgs are tinyorg")


def test_the_mapped_custom_fields_table_lists_every_kind_of_custom_field() -> None:
    from rich.console import Console

    from fedcrm.cli.match import mapped_fields_table
    from fedcrm.matching.proposal import FieldMapping, MappingProposal, OrgMapping

    fields = [FieldMapping(object="Account", field=name, concept="account.nps_score",
                           confidence=0.9, block="account.nps_score")
              for name in ("NPS__c", "Loyalty__pc")]
    fields.append(FieldMapping(object="Account", field="Industry", concept="account.industry",
                               confidence=0.99, block="account.industry"))
    proposal = MappingProposal(ontology_version="x", matcher_version="y",
                               orgs=[OrgMapping(org="acme", fields=fields)])
    console = Console(width=200, record=True)
    console.print(mapped_fields_table(proposal, limit=10))
    text = console.export_text()
    assert "Account.NPS__c" in text and "Account.Loyalty__pc" in text
    assert "Account.Industry" not in text and "2 of 2" in text


def test_a_search_says_when_no_concept_resembles_the_query() -> None:
    weak = runner.invoke(app, ["ontology", "zzzzqqq", "--limit", "2"])
    assert weak.exit_code == 0 and "no concept resembles 'zzzzqqq' well" in " ".join(
        weak.output.split())
    strong = runner.invoke(app, ["ontology", "revenue", "--limit", "2"])
    assert strong.exit_code == 0 and "resembles" not in strong.output
