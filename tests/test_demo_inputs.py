"""``fedcrm.demo`` at its boundary: settings, data folder and the results file."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from fedcrm.demo import DemoResult, MatchingSummary, demo_config, run_demo
from fedcrm.errors import ConfigError
from fedcrm.synth import generate_federation


def result() -> DemoResult:
    return DemoResult(data="d", orgs=["a"], tasks={}, seconds=1.0,
                      matching=MatchingSummary(n_fields=1, n_mapped=1, n_custom_blocks=0,
                                               seconds=0.1))


def test_results_file_is_written_atomically_into_new_folders(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "new" / "demo.json"
    result().to_json(target)
    assert json.loads(target.read_text())["details"]["orgs"] == ["a"]
    before = target.read_bytes()

    def disk_full(_descriptor: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(ConfigError, match="No space left on device") as caught:
        result().to_json(target)
    assert str(target) in str(caught.value)
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir()] == ["demo.json"]


def test_results_file_that_is_a_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder"):
        result().to_json(tmp_path)


def test_invalid_training_settings_name_the_option() -> None:
    with pytest.raises(ConfigError, match="--rounds 0"):
        demo_config(rounds=0)
    with pytest.raises(ConfigError, match="--model 'xgboost'"):
        demo_config(model="xgboost")


def test_run_demo_checks_its_inputs_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown task 'foo'"):
        run_demo(data=tmp_path, tasks=["foo"])
    with pytest.raises(ConfigError, match="tasks is empty"):
        run_demo(data=tmp_path, tasks=[])
    with pytest.raises(ConfigError, match="'31/31/2020' is not a date"):
        run_demo(data=tmp_path, reference_date="31/31/2020")
    with pytest.raises(ConfigError, match="does not exist"):
        run_demo(data=tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"currency_rates key 'R\$' is not a three-letter"):
        run_demo(data=tmp_path, currency_rates={"R$": 0.2})
    with pytest.raises(ConfigError, match="org acme: default_currency 'BRL'"):
        run_demo(data=tmp_path, org_currencies={"acme": "BRL"})  # no rate for BRL


def test_an_org_currency_for_an_org_not_in_the_federation_is_refused(tmp_path: Path) -> None:
    # a typo would have left that org's amounts read as USD
    generate_federation(2, seed=1, scale=0.01).write(tmp_path)
    # in the words of the CLI option and of the Python argument (it named org_currencies only)
    with pytest.raises(ConfigError, match=r"the org currency of 'org01_bluefn' \(--org-currency "
                       r"org01_bluefn=\.\.\., org_currencies\) names an org that is not in the "
                       r"federation .* \(did you mean 'org01_bluefin'\?\)"):
        run_demo(data=tmp_path, org_currencies={"org01_bluefn": "EUR"})


def _org(root: Path, name: str, *parts: str) -> None:
    for part in parts:
        (root / name / part).mkdir(parents=True)


def test_an_org_folder_with_one_half_or_missing_from_the_manifest_is_refused(
        tmp_path: Path) -> None:
    """Such an org dropped out of the federation without a word (a copy that renamed
    records/ to Records/), and the numbers looked valid."""
    _org(tmp_path, "org01", "metadata", "records")
    _org(tmp_path, "org02", "metadata", "Records")
    with pytest.raises(ConfigError, match=r"org02: has metadata/ but no records/ folder"):
        run_demo(data=tmp_path)
    (tmp_path / "org02" / "Records").rename(tmp_path / "org02" / "records")
    (tmp_path / "federation.json").write_text(json.dumps({
        "reference_date": "2025-06-30",
        "orgs": [{"profile": {"org_id": "org01"}}, {"org_id": "org02"}, {"org_id": "org03"}]}))
    with pytest.raises(ConfigError, match=r"lists org\(s\) \['org03'\], but .* has no "
                                          r"<org>/metadata/ and <org>/records/ for them"):
        run_demo(data=tmp_path)


def test_a_reference_date_with_a_time_zone_becomes_naive_utc() -> None:
    """Record dates are naive UTC; a zoned reference date compared with them raised a raw
    TypeError deep in the task definitions."""
    from fedcrm.features.extract import reference_timestamp

    parsed = reference_timestamp("2025-06-30T02:00:00+02:00", "--reference-date")
    assert parsed.tz is None and str(parsed) == "2025-06-30 00:00:00"
    assert reference_timestamp("2025-06-30T00:00:00Z", "--reference-date").tz is None


def test_matching_score_counts_every_custom_suffix(tmp_path: Path) -> None:
    from fedcrm.demo import _score_mapping
    from fedcrm.matching.proposal import FieldMapping, MappingProposal, OrgMapping

    folder = tmp_path / "orgA"
    folder.mkdir()
    truth = [("Tier__c", "account.tier"), ("Churned__pc", "account.churned")]
    folder.joinpath("ground_truth.jsonl").write_text("".join(
        json.dumps({"org": "orgA", "object": "Account", "field": field, "concept": concept,
                    "annotator": "x", "method": "synthetic"}) + "\n"
        for field, concept in truth), encoding="utf-8")
    decided = [("Tier__c", "account.tier"), ("Churned__pc", "account.industry"),  # wrong
               ("Name", "account.name")]  # standard: not scored
    proposal = MappingProposal(ontology_version="x", matcher_version="x", orgs=[OrgMapping(
        org="orgA", fields=[FieldMapping(object="Account", field=field, concept=concept,
                                         confidence=0.9, block=concept)
                            for field, concept in decided])])
    assert _score_mapping([folder], proposal) == (0.5, 0.5)


def test_the_device_the_orgs_trained_on_is_reported(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from fedcrm.cli.demo import print_demo

    target = tmp_path / "demo.json"
    result().to_json(target)
    assert json.loads(target.read_text())["details"]["device"] == "cpu"
    print_demo(result())
    assert "trained on" not in capsys.readouterr().out
    print_demo(result().model_copy(update={"device": "cuda"}))
    assert "(the orgs trained on cuda)" in capsys.readouterr().out
    print_demo(result().model_copy(update={"skipped_tasks": {"churn": "no org can take part"}}))
    assert "skipped task churn: no org can take part" in capsys.readouterr().out


def test_each_orgs_currency_comes_from_the_manifest(tmp_path: Path) -> None:
    # a German org's amounts (EUR in its synth profile) were read as USD: no name, value or
    # currency column says EUR, but the manifest does
    from fedcrm import demo as demo_module
    from fedcrm.demo import read_federation

    federation = generate_federation(2, seed=1, scale=0.01)
    federation.write(tmp_path)
    _, inputs = read_federation(tmp_path)
    assert [org.default_currency for org in inputs] == [
        org.profile.currency for org in federation.orgs]
    manifest = json.loads((tmp_path / "federation.json").read_text())
    manifest["orgs"][0]["profile"]["currency"] = "XYZ"
    (tmp_path / "federation.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match=r"federation.json: org org01_\w+: default_currency "
                                          r"'XYZ' is not a currency code"):
        read_federation(tmp_path)
    # a rate taught for the manifest's code, or the caller's own currency, makes it readable
    manifest["orgs"][0]["profile"]["currency"] = "BRL"
    (tmp_path / "federation.json").write_text(json.dumps(manifest))
    assert demo_module._manifest_currencies(tmp_path, manifest, {"BRL": 0.18})[
        manifest["orgs"][0]["profile"]["org_id"]] == "BRL"
    first = manifest["orgs"][0]["profile"]["org_id"]
    assert first not in demo_module._manifest_currencies(tmp_path, manifest, None,
                                                         {first: "EUR"})
