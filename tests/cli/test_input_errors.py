"""Bad input to the commands ends in exit code 2 and one line naming the file or option, and
whatever the user's files say is shown as written (never read as rich markup)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from fedcrm.cli import app
from fedcrm.examples import example_org_path
from tests.schema._builders import write_sfdx_field

runner = CliRunner()


def one_line_error(result: Result) -> str:
    """The single ``error:`` line of a failed command (asserting there is nothing else)."""
    assert result.exit_code == 2, result.output
    # outside a terminal a long command says each step on a line of its own (not an error)
    lines = [line for line in result.output.splitlines()
             if line.strip() and not line.startswith(("fedcrm demo: ", "fedcrm synth: "))]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: "), result.output
    return lines[0]


def write_describe(path: Path, fields: list[dict[str, object]], **extra: object) -> Path:
    path.write_text(json.dumps({"name": "Account", "fields": fields, **extra}))
    return path


# --- 1. markup in errors, warnings and tables -----------------------------------------------


def test_error_quoting_markup_is_printed_verbatim_on_one_line(tmp_path: Path) -> None:
    describe = write_describe(tmp_path / "org.json", [{"name": "A__c", "type": "[/x]"}])
    line = one_line_error(runner.invoke(app, ["schema", "summary", str(describe)]))
    assert "unknown describe type '[/x]'" in line and str(describe) in line


def test_lenient_warnings_quoting_markup_are_printed_verbatim(tmp_path: Path) -> None:
    describe = write_describe(tmp_path / "org.json", [
        {"name": "A__c", "type": "[/x]"}, {"name": "B__c", "type": "string", "label": "B"}])
    result = runner.invoke(app, ["schema", "summary", str(describe), "--lenient"])
    assert result.exit_code == 0, result.output
    assert "Skipped 1 item(s)" in result.output and "'[/x]'" in result.output


def test_table_cells_and_titles_show_labels_as_written(tmp_path: Path) -> None:
    describe = write_describe(tmp_path / "org[b].json", [
        {"name": "Seg__c", "type": "string", "label": "Segment [red]A[/red]"},
        {"name": "X__c", "type": "string", "label": "Weird [/] label",
         "inlineHelpText": "See [link=http://example.com]here[/link]"},
    ], label="Account [bold]")
    fields = runner.invoke(app, ["schema", "fields", str(describe)], terminal_width=200)
    assert fields.exit_code == 0, fields.output
    assert "Segment [red]A[/red]" in fields.output and "Weird [/] label" in fields.output
    assert "[link=http://example.com]here[/link]" in fields.output
    assert "org[b]: Account" in fields.output
    summary = runner.invoke(app, ["schema", "summary", str(describe)], terminal_width=200)
    assert summary.exit_code == 0, summary.output
    assert "Account [bold]" in summary.output and "Org org[b]" in summary.output


# --- 5. fields --object unknown -----------------------------------------------------------------


def test_fields_of_an_unknown_object_lists_the_objects() -> None:
    line = one_line_error(runner.invoke(
        app, ["schema", "fields", str(example_org_path()), "--object", "Nope"]))
    assert "no object 'Nope'" in line
    assert "Account" in line and "Subscription__c" in line


# --- 6. demo options and data -------------------------------------------------------------------


def _org_folder(data: Path, name: str = "o1") -> Path:
    org = data / name
    write_sfdx_field(org / "metadata", "Account", "Rev__c")
    (org / "records").mkdir()
    return org


@pytest.mark.parametrize(("arguments", "expected"), [
    (["--model", "xgboost"], "--model 'xgboost'"),
    (["--rounds", "-1"], "--rounds -1"),
    (["--task", "foo"], "unknown task 'foo'"),
    (["--reference-date", "notadate"], "--reference-date 'notadate' is not a date"),
    (["--device", "gpu"], "--device 'gpu': 'gpu' is not a device for local training; use "
                          "'cpu', 'cuda', 'cuda:N' or 'auto'"),
    (["--device", "cuda:99"], "--device 'cuda:99'"),
    (["--currency-rate", "BRL"], "--currency-rate 'BRL': expected KEY=VALUE"),
    (["--currency-rate", "BRL=abc"], "'abc' is not a number (USD per BRL"),
    (["--currency-rate", "BRL=0.2", "--currency-rate", "brl=0.3"], "gives BRL twice"),
    # in the options' words, not the Python API's (currency_rates['BRL'], default_currency=)
    (["--currency-rate", "BRL=-1"], "a rate must be a number > 0, the USD value of one BRL"),
    (["--currency-rate", "12=1"], "'12' is not a three-letter currency code"),
    (["--org-currency", "acme"], "--org-currency 'acme': expected KEY=VALUE"),
    (["--org-currency", "acme=XYZ"], "'XYZ' is not a currency the converter knows"),
])
def test_demo_rejects_bad_options_before_any_work(arguments: list[str], expected: str) -> None:
    assert expected in one_line_error(runner.invoke(app, ["demo", *arguments]))


def test_demo_data_must_be_a_folder(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    line = one_line_error(runner.invoke(app, ["demo", "--data", str(missing)]))
    assert str(missing) in line and "does not exist" in line
    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    line = one_line_error(runner.invoke(app, ["demo", "--data", str(a_file)]))
    assert str(a_file) in line and "not a folder" in line


def test_demo_names_a_broken_manifest(tmp_path: Path) -> None:
    _org_folder(tmp_path)
    (tmp_path / "federation.json").write_text("{bad")
    line = one_line_error(runner.invoke(app, ["demo", "--data", str(tmp_path)]))
    assert str(tmp_path / "federation.json") in line and "--reference-date" in line
    (tmp_path / "federation.json").write_text('{"reference_date": "someday"}')
    line = one_line_error(runner.invoke(app, ["demo", "--data", str(tmp_path)]))
    assert "'someday' is not a date" in line


def test_demo_names_an_empty_records_file(tmp_path: Path) -> None:
    org = _org_folder(tmp_path)
    (org / "records" / "Account.csv").write_bytes(b"")
    line = one_line_error(runner.invoke(
        app, ["demo", "--data", str(tmp_path), "--reference-date", "2024-01-01"]))
    assert str(org / "records" / "Account.csv") in line and "empty file" in line


def test_demo_json_path_is_checked_before_training(tmp_path: Path) -> None:
    line = one_line_error(runner.invoke(app, ["demo", "--json", str(tmp_path)]))
    assert f"--json {tmp_path} is a folder" in line
    blocker = tmp_path / "f.txt"
    blocker.write_text("x")
    line = one_line_error(runner.invoke(app, ["demo", "--json", str(blocker / "d.json")]))
    assert "is a file, not a folder" in line
    # results written over the federation's manifest would break the next run on it
    _org_folder(tmp_path)
    manifest = tmp_path / "federation.json"
    manifest.write_text('{"reference_date": "2024-01-01"}')
    line = one_line_error(runner.invoke(
        app, ["demo", "--data", str(tmp_path), "--json", str(manifest)]))
    assert "lies inside" in line and "the folder given as --data" in line
    assert manifest.read_text() == '{"reference_date": "2024-01-01"}'


# --- 2. match --out ------------------------------------------------------------------------------


def test_match_out_creates_missing_folders(tmp_path: Path) -> None:
    out = tmp_path / "new" / "sub" / "mapping.json"
    result = runner.invoke(app, ["match", str(example_org_path()), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["orgs"][0]["org"] == "acme"
    assert [p.name for p in out.parent.iterdir()] == ["mapping.json"]  # no temporary left


def test_match_never_writes_its_mapping_over_an_org_it_reads(tmp_path: Path) -> None:
    describe = write_describe(tmp_path / "org.json", [
        {"name": "B__c", "type": "string", "label": "B"}])
    before = describe.read_text()
    line = one_line_error(runner.invoke(app, ["match", str(describe), "--out", str(describe)]))
    assert "is the input given as PATH; writing it would overwrite that input" in line
    assert describe.read_text() == before


def test_match_lenient_lists_what_it_skipped_on_stderr(tmp_path: Path) -> None:
    describe = write_describe(tmp_path / "org.json", [
        {"name": "A__c", "type": "[/x]"}, {"name": "B__c", "type": "string", "label": "B"}])
    result = runner.invoke(app, ["match", str(describe), "--lenient", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["orgs"][0]["org"] == "org"  # stdout is the JSON alone
    assert "--lenient skipped 1 item(s)" in result.stderr and "'[/x]'" in result.stderr


def test_one_org_given_twice_and_a_folder_as_model_output_are_one_line(tmp_path: Path) -> None:
    org = str(example_org_path())
    line = one_line_error(runner.invoke(app, ["match", org, org]))
    assert "acme come from more than one PATH" in line and "load_schema" not in line
    # one id given to two paths by ORG=PATH: it advised "name each org as ORG=PATH"
    line = one_line_error(runner.invoke(app, ["match", f"a={org}", f"a={org}"]))
    assert "ORG=PATH names org(s) a more than once; give each PATH its own org id" in line
    line = one_line_error(runner.invoke(app, ["matcher", "train", "--out", str(tmp_path)]))
    assert f"--out {tmp_path} is a folder" in line


def test_match_out_that_cannot_be_written_is_one_line(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    line = one_line_error(runner.invoke(
        app, ["match", str(example_org_path()), "--out", str(tmp_path)]))
    assert f"--out {tmp_path} is a folder" in line
    out = tmp_path / "mapping.json"
    out.write_text("the previous mapping\n")

    def disk_full(_descriptor: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    line = one_line_error(runner.invoke(
        app, ["match", str(example_org_path()), "--out", str(out)]))
    assert str(out) in line and "No space left on device" in line
    assert out.read_text() == "the previous mapping\n"
    assert [p.name for p in tmp_path.iterdir()] == ["mapping.json"]


def test_match_show_must_not_be_negative() -> None:
    assert "--show must be 0 or more" in one_line_error(runner.invoke(
        app, ["match", str(example_org_path()), "--show", "-1"]))


# --- ontology --limit ----------------------------------------------------------------------------


def test_ontology_filters_by_object_before_the_limit() -> None:
    result = runner.invoke(app, ["ontology", "revenue", "--object", "Lead", "--limit", "3",
                                 "--json"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)
    assert len(hits) == 3 and all(hit["object"] == "Lead" for hit in hits)


def test_ontology_limit_must_be_positive() -> None:
    assert "--limit must be at least 1" in one_line_error(
        runner.invoke(app, ["ontology", "revenue", "--limit", "-3"]))


def test_an_unforeseen_file_error_is_one_line_naming_the_path(
        capsys: pytest.CaptureFixture[str]) -> None:
    import typer

    from fedcrm._console import friendly_errors

    @friendly_errors
    def command() -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/srv/out/tasks.csv")

    with pytest.raises(typer.Exit) as exited:
        command()
    assert exited.value.exit_code == 2
    assert capsys.readouterr().err.strip() == "error: /srv/out/tasks.csv: Permission denied"

    @friendly_errors
    def reader_gone() -> None:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    with pytest.raises(BrokenPipeError):
        reader_gone()


def test_demo_options_of_a_generated_federation_are_refused_with_data(tmp_path: Path) -> None:
    line = one_line_error(runner.invoke(app, ["demo", "--data", str(tmp_path), "--orgs", "3",
                                              "--out", str(tmp_path / "o")]))
    assert "--out, --orgs shape(s) a generated federation" in line
    assert "--orgs must be between 1 and" in one_line_error(
        runner.invoke(app, ["demo", "--orgs", "0"]))
    assert "--scale must be a positive number" in one_line_error(
        runner.invoke(app, ["demo", "--scale", "-1"]))


def test_match_out_naming_the_model_is_refused(tmp_path: Path) -> None:
    # the matcher file was replaced by mapping JSON ("Wrote victim.zip")
    from fedcrm.matching.api import DEFAULT_MODEL_PATH

    model = tmp_path / "victim.zip"
    model.write_bytes(Path(DEFAULT_MODEL_PATH).read_bytes()[:64])
    before = model.read_bytes()
    line = one_line_error(runner.invoke(app, ["match", str(example_org_path()), "--model",
                                              str(model), "--out", str(model)]))
    assert "is the input given as --model" in line and model.read_bytes() == before
    line = one_line_error(runner.invoke(app, ["match", str(example_org_path()), "--out",
                                              str(DEFAULT_MODEL_PATH)]))
    assert "is the input given as --model" in line


def test_matcher_train_never_writes_into_its_corpus_and_checks_the_default_path_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    annotations = tmp_path / "ann"
    annotations.mkdir()
    (annotations / "sources.yaml").write_text("orgs: []\n")
    line = one_line_error(runner.invoke(app, [
        "matcher", "train", "--annotations", str(annotations),
        "--out", str(annotations / "sources.yaml")]))
    assert "lies inside" in line and "the folder given as --annotations" in line
    assert (annotations / "sources.yaml").read_text() == "orgs: []\n"
    # without --out the shipped model's place is tried before training, not after it
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setattr("fedcrm.matching.api.DEFAULT_MODEL_PATH", blocked / "default.zip")
    line = one_line_error(runner.invoke(app, ["matcher", "train", "--annotations",
                                              str(annotations)]))
    assert f"{blocked} is a file, not a folder" in line


def test_a_malformed_sources_yaml_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "sources.yaml").write_text("orgs: [\n  - x: {\n")
    line = one_line_error(runner.invoke(app, ["matcher", "train", "--annotations",
                                              str(tmp_path / "ann"), "--out",
                                              str(tmp_path / "m.zip")]))
    assert "sources.yaml: malformed YAML (" in line


def test_match_names_orgs_as_org_equals_path(tmp_path: Path) -> None:
    # orgs/emea/force-app and orgs/us/force-app were both "force-app": refused, with no way
    # to name them on the command line
    org = str(example_org_path())
    out = tmp_path / "mapping.json"
    result = runner.invoke(app, ["match", f"emea={org}", f"us={org}", "--out", str(out),
                                 "--show", "0"])
    assert result.exit_code == 0, result.output
    assert [o["org"] for o in json.loads(out.read_text())["orgs"]] == ["emea", "us"]
    line = one_line_error(runner.invoke(app, ["match", org, org]))
    assert "name each org as ORG=PATH" in line
    from fedcrm.cli.match import _org_path

    # an "=" inside a path is no org id ("C:\\data\\q=1\\force-app", "orgs/q=1")
    assert _org_path("C:\\data\\q=1\\force-app") == (None, Path("C:\\data\\q=1\\force-app"))
    assert _org_path("orgs/q=1") == (None, Path("orgs/q=1"))
    assert _org_path("emea.prod=orgs/emea") == ("emea.prod", Path("orgs/emea"))


def test_a_strict_failure_lenient_loading_would_skip_says_so(tmp_path: Path) -> None:
    write_sfdx_field(tmp_path / "org", "Account", "Bad__c", type_="Hologram")
    write_sfdx_field(tmp_path / "org", "Account", "Good__c")
    for command in (["schema", "summary"], ["match"]):
        line = one_line_error(runner.invoke(app, [*command, str(tmp_path / "org")]))
        assert "unknown field type 'Hologram'" in line
        assert line.endswith("--lenient skips what is broken and lists it")
    result = runner.invoke(app, ["match", str(tmp_path / "org"), "--lenient", "--show", "0"])
    assert result.exit_code == 0, result.output
    assert "0 of" not in result.stdout  # no empty table of the first 0 fields


@pytest.mark.parametrize(("args", "expected"), [
    (["privacy", "advise", "--n-samples", "0"],
     "error: Invalid value for '--n-samples': 0 is not in the range x>=1; see "
     "`fedcrm privacy advise --help`"),
    (["synth", "--bogus"], "error: No such option '--bogus'"),
    (["nosuch"], "error: No such command 'nosuch'; see `fedcrm --help`"),
    # a negative round ended in a traceback after the fields were scored
    (["annotate", "select", "--round", "-2", "--out", "tasks.csv"],
     "error: Invalid value for '--round': -2 is not in the range x>=0"),
])
def test_usage_errors_are_one_line_too(args: list[str], expected: str) -> None:
    # typer framed them in a panel of several lines, after a usage line
    line = one_line_error(runner.invoke(app, args))
    assert line.startswith(expected), line


@pytest.mark.parametrize("args", [[], ["review"], ["matcher"]])
def test_no_arguments_print_the_help_and_no_error_line(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "Usage:" in result.output
    assert "error:" not in result.output


def test_a_record_no_check_caught_is_still_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    import typer
    from pydantic import BaseModel, Field

    from fedcrm._console import friendly_errors

    class Task(BaseModel):
        round: int = Field(ge=0)

    @friendly_errors
    def command() -> None:
        Task(round=-2)

    with pytest.raises(typer.Exit) as caught:
        command()
    assert caught.value.exit_code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: invalid Task: round: Input should be greater than or equal "
                          "to 0") and "\n" not in err

