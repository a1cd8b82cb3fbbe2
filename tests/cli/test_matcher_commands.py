"""``fedcrm matcher info`` (a table, or JSON with --json) and ``matcher evaluate --seed``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fedcrm.cli import app
from fedcrm.errors import ConfigError
from tests.cli.test_ontology_match_errors import annotations

runner = CliRunner()


def test_info_prints_a_table_and_json_on_request() -> None:
    shown = runner.invoke(app, ["matcher", "info"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    listed = runner.invoke(app, ["matcher", "info", "--json"])
    assert listed.exit_code == 0, listed.output
    info = json.loads(listed.output)
    assert info["params"]["target_precision"] == pytest.approx(0.95)
    # every setting of the JSON is a row of the table, with its value
    assert info["version"] in shown.output
    for section in ("params", "training_report"):
        for key in info[section]:
            assert f"{section}.{key}" in shown.output
    assert f"{info['training_report']['n_fields']}" in shown.output
    with pytest.raises(json.JSONDecodeError):
        json.loads(shown.output)


def test_evaluate_fits_its_matchers_with_the_seed_given(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import fedcrm.matching.evaluate as evaluation

    asked: list[dict[str, Any]] = []
    original = evaluation.default_methods

    def spy(**params: Any) -> Any:
        asked.append(params)
        return original(**params)

    def stop(*args: Any, **kwargs: Any) -> Any:
        raise ConfigError("stopped before training")

    monkeypatch.setattr(evaluation, "default_methods", spy)
    monkeypatch.setattr(evaluation, "evaluate", stop)
    folder, metadata = annotations(tmp_path, real=True)
    for extra, seed in (([], 0), (["--seed", "7"], 7)):
        result = runner.invoke(app, ["matcher", "evaluate", "--annotations", str(folder),
                                     "--metadata-root", str(metadata), *extra])
        assert "stopped before training" in result.output
        assert asked.pop() == {"random_state": seed}


def test_an_annotations_option_that_is_no_folder_is_named(tmp_path: Path) -> None:
    from tests.cli.test_input_errors import one_line_error

    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    for command in (["matcher", "train", "--out", str(tmp_path / "m.zip")],
                    ["matcher", "evaluate"]):
        for given, what in ((tmp_path / "nope", "no such folder"), (a_file, "a file")):
            line = one_line_error(runner.invoke(app, [*command, "--annotations", str(given)]))
            assert line.startswith(f"error: --annotations {given}: {what}"), line
