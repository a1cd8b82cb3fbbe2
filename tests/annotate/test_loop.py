"""The loop: partial corpora, one full simulated round, the learning curve and the CLI."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fedcrm.annotate.cli import app
from fedcrm.annotate.impact import default_concept_weights
from fedcrm.annotate.loop import (
    AnnotationLoop,
    CurvePoint,
    LearningCurve,
    PendingRound,
    coverage_at_precision,
    truth_oracle,
)
from fedcrm.annotate.pool import load_annotations, training_view, unlabelled_pool
from fedcrm.annotate.strategies import make_strategy
from fedcrm.errors import ConfigError, MappingError
from fedcrm.matching.corpus import AnnotatedOrg, read_labels
from fedcrm.matching.embeddings import Embedder
from fedcrm.matching.evaluate import Prediction
from fedcrm.matching.model import FieldMatcher
from fedcrm.ontology import Ontology

from .conftest import SMALL, WriteAnnotations

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_partial_orgs_train_on_their_labelled_fields(
    write_annotations: WriteAnnotations, ontology: Ontology, fitted: FieldMatcher
) -> None:
    folder = write_annotations({"alpha": "all", "gamma": "standard", "delta": "none"})
    alpha, gamma, delta = load_annotations(folder, ontology=ontology)
    assert training_view(alpha) is alpha
    assert training_view(gamma) is None and training_view(delta) is None  # nothing custom
    half = AnnotatedOrg(schema=gamma.schema, source=gamma.source, labels=dict(gamma.labels))
    label = next(lab for lab in alpha.labels.values() if lab.field == "NPS_Score__c")
    half.labels[("account", "nps__c")] = label.model_copy(update={"org": "gamma",
                                                                  "field": "nps__c"})
    view = training_view(half)
    assert view is not None and view.partial and not alpha.partial
    assert sorted(f.api_name for _, f in view.schema.iter_fields()) == ["Industry", "nps__c"]
    pool = unlabelled_pool(fitted, [half, delta])
    assert {f.org for f in pool} == {"gamma", "delta"}
    assert "nps__c" not in {f.field for f in pool if f.org == "gamma"}
    assert all(f.field.endswith("__c") for f in pool)  # standard fields are decided by rule
    assert all(0.0 <= p <= 1.0 for f in pool for _, p in f.candidates)


def test_one_full_simulated_round(
    write_annotations: WriteAnnotations, ontology: Ontology, truth: list[AnnotatedOrg],
    embedder: Embedder, tmp_path: Path,
) -> None:
    folder = write_annotations({"alpha": "all", "beta": "all", "gamma": "standard",
                                "delta": "all"})
    report = tmp_path / "curve.json"
    loop = AnnotationLoop(folder, held_out=["delta"], ontology=ontology, matcher_params=SMALL,
                          embedder=embedder, report=report, target_precision=0.9)
    matcher, start = loop.retrain_and_measure(strategy="start", round=0)
    assert (start.labels_spent, start.round, start.n_training_fields) == (0, 0, 19)
    strategy = make_strategy("margin*impact+diverse", weights=default_concept_weights(ontology),
                             similarity="name")
    for format in ("csv", "label-studio"):
        matcher, point = loop.run_round(strategy, 3, truth_oracle(truth), workdir=tmp_path,
                                        matcher=matcher, format=format)
    assert (point.round, point.labels_spent, point.n_training_fields) == (2, 6, 25)
    # gamma is partial, but alpha and beta give fewer than 100 decisions: all 25 choose
    assert matcher.training_report_["threshold_fields"] == 25
    assert 0.0 <= point.precision <= 1.0 and 0.0 <= point.coverage <= 1.0
    # the answers went into gamma's label file with their provenance
    gamma = {lab.field: lab for lab in read_labels(folder / "labels" / "gamma.jsonl")}
    learned = [lab for lab in gamma.values() if lab.method == "active_learning"]
    assert len(learned) == 6 and {lab.round for lab in learned} == {1, 2}
    assert all(lab.annotator == "oracle" and lab.labelled_at for lab in learned)
    by_truth = truth[2]
    assert all((lab.concept, lab.group) == (by_truth.label(lab.object, lab.field).concept,
                                            by_truth.label(lab.object, lab.field).group)
               for lab in learned)
    # task and answer files of both rounds, the report and its plot
    names = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("round-"))
    assert names == [
        "round-001-margin-impact-diverse-answers.csv",
        "round-001-margin-impact-diverse-tasks.csv",
        "round-002-margin-impact-diverse-answers.json",
        "round-002-margin-impact-diverse-tasks.json",
        "round-002-margin-impact-diverse-tasks.label-config.xml",
    ]
    curve = LearningCurve.load(report)
    assert [(p.strategy, p.labels_spent) for p in curve.points] == [
        ("start", 0), ("margin*impact+diverse", 3), ("margin*impact+diverse", 6)]
    assert curve.held_out == ["delta"] and curve.matcher_params == {**SMALL, "pair_folds": 2}
    assert report.with_suffix(".png").read_bytes().startswith(PNG_MAGIC)
    # the pool shrinks: gamma has 8 custom fields, 6 are labelled now
    assert len(loop.pool(matcher)) == 2


def test_held_out_orgs_must_be_complete_and_outside_the_pool(
    write_annotations: WriteAnnotations, ontology: Ontology
) -> None:
    folder = write_annotations({"alpha": "all", "beta": "all", "gamma": "standard"})
    with pytest.raises(ConfigError, match="both held out and in the pool"):
        AnnotationLoop(folder, held_out=["gamma"], pool_orgs=["gamma"])
    with pytest.raises(ConfigError, match=r"\['gamma'\] are not fully labelled"):
        AnnotationLoop(folder, held_out=["gamma"], ontology=ontology).orgs()


def _point(strategy: str, labels: int, precision: float, coverage: float) -> CurvePoint:
    return CurvePoint(strategy=strategy, round=labels // 10, labels_spent=labels,
                      n_training_fields=labels, precision=precision, coverage=coverage,
                      recall=coverage, top1=0.9, pair_precision=1.0, pair_recall=0.5,
                      pair_f1=0.66, threshold=0.8, fit_seconds=1.0, at="2026-01-01T00:00:00Z")


def test_a_point_of_a_matcher_that_accepts_nothing_saves_and_loads(tmp_path: Path) -> None:
    # a matcher whose threshold is infinite (no threshold reached its target precision)
    point = _point("margin", 10, 1.0, 0.0).model_copy(update={"threshold": None})
    curve = LearningCurve(held_out=["x"], points=[point, _point("margin", 20, 0.97, 0.6)])
    loaded = LearningCurve.load(curve.save(tmp_path / "curve.json"))
    assert [p.threshold for p in loaded.points] == [None, 0.8]


def test_labels_to_target() -> None:
    curve = LearningCurve(held_out=["x"], target_precision=0.95, target_coverage=0.6, points=[
        _point("random", 0, 1.0, 0.1), _point("random", 50, 0.96, 0.55),
        _point("random", 100, 0.94, 0.62), _point("random", 150, 0.95, 0.61),
        _point("margin", 0, 1.0, 0.1), _point("margin", 20, 0.97, 0.6),
    ])
    assert curve.labels_to_target("random") == 150  # 100 misses the precision target
    assert curve.labels_to_target("margin") == 20
    assert curve.labels_to_target("margin", coverage=0.7) is None
    assert curve.strategies == ["random", "margin"]
    curve.points.append(_point("margin", 40, 0.97, 0.5))  # falls back below the target
    curve.points.append(_point("margin", 60, 0.97, 0.65))
    assert curve.labels_to_target("margin") == 20
    assert curve.labels_to_target("margin", sustained=True) == 60


def test_labels_to_target_of_the_ranking_ignores_the_own_threshold() -> None:
    """The ranking's count (coverage at the target precision with the best threshold) also
    required the own threshold's precision and met the own coverage target: a review's point
    with own precision 0.93 and oracle coverage 0.70 did not count at 40 labels."""
    def point(labels: int, precision: float, coverage: float, oracle: float) -> CurvePoint:
        return _point("margin", labels, precision, coverage).model_copy(
            update={"coverage_at_target": oracle})

    curve = LearningCurve(held_out=["x"], target_precision=0.944, target_coverage=0.614,
                          target_oracle_coverage=0.66, points=[
                              point(0, 0.98, 0.3, 0.5), point(40, 0.93, 0.55, 0.70),
                              point(80, 0.96, 0.62, 0.64)])
    assert curve.labels_to_target("margin", coverage_metric="coverage_at_target") == 40
    assert curve.labels_to_target("margin") == 80  # the own threshold's targets
    # the ranking has a target of its own: the own threshold's coverage target is not it
    assert curve.labels_to_target("margin", coverage_metric="coverage_at_target",
                                  coverage=0.75) is None
    no_target = curve.model_copy(update={"target_oracle_coverage": None})
    with pytest.raises(ConfigError, match="target for the coverage at the target precision"):
        no_target.labels_to_target("margin", coverage_metric="coverage_at_target")


def test_the_starting_point_begins_every_strategys_curve() -> None:
    # the CLI measures the start once (strategy "start", round 0); each strategy's curve, its
    # labels to target and its line in the plot start from it
    curve = LearningCurve(held_out=["x"], target_precision=0.95, target_coverage=0.5)
    curve.points.append(_point("start", 0, 0.96, 0.55).model_copy(update={"round": 0}))
    assert curve.strategies == ["start"]  # nothing else measured yet: the start is shown
    curve.points += [_point("margin", 10, 0.9, 0.6), _point("random", 20, 0.97, 0.4)]
    assert curve.strategies == ["margin", "random"]
    assert [p.labels_spent for p in curve.curve("margin")] == [0, 10]
    assert curve.labels_to_target("margin") == 0  # met before the first label
    assert curve.labels_to_target("random", coverage=0.6) is None
    # a strategy with its own round-0 point (the benchmark copies the start) keeps it alone
    own = _point("margin", 0, 0.5, 0.1).model_copy(update={"round": 0})
    curve.points.append(own)
    assert curve.curve("margin")[0] is own and len(curve.curve("margin")) == 2


def test_coverage_at_precision_picks_the_best_threshold(truth: list[AnnotatedOrg]) -> None:
    delta = truth[3]  # 8 custom fields, 6 with a concept
    prediction = Prediction()
    scores = iter([0.99, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    custom = [(o, f) for o, f in delta.schema.iter_fields() if f.is_custom]
    for position, (sobject, meta) in enumerate(custom):
        truth_concept = delta.label(sobject.api_name, meta.api_name).concept
        # right at the top, wrong on the 4th field, right again below
        concept = "account.fax" if position == 3 or truth_concept is None else truth_concept
        prediction.ranked[("delta", sobject.api_name, meta.api_name)] = [
            (concept, next(scores))]
    wrong = {3} | {i for i, (o, f) in enumerate(custom)
                   if delta.label(o.api_name, f.api_name).concept is None}
    first_wrong = min(wrong)
    assert coverage_at_precision(prediction, [delta], 1.0) == first_wrong / len(custom)
    hits = [i not in wrong for i in range(len(custom))]
    best = max(k for k in range(1, len(custom) + 1) if sum(hits[:k]) / k >= 0.75)
    assert coverage_at_precision(prediction, [delta], 0.75) == best / len(custom)


def _cli_setup(write_annotations: WriteAnnotations, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, list[str]]:
    """The annotations folder the CLI tests label (as FEDCRM_ANNOTATIONS), their report and
    the quick matcher options every `round` call passes."""
    folder = write_annotations({"alpha": "all", "beta": "all", "gamma": "standard",
                                "delta": "all"})
    monkeypatch.setenv("FEDCRM_ANNOTATIONS", str(folder))
    report = tmp_path / "curve.json"
    return folder, report, ["--report", str(report), "--lgbm-rounds", "40", "--folds", "2"]


def test_cli_round_in_two_steps_with_a_person(
    write_annotations: WriteAnnotations, truth: list[AnnotatedOrg], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder, report, common = _cli_setup(write_annotations, tmp_path, monkeypatch)
    runner = CliRunner()
    started = runner.invoke(app, ["round", *common, "--held-out", "delta", "--n", "2",
                                  "--similarity", "name", "--format", "csv"])
    assert started.exit_code == 0, started.output
    tasks = tmp_path / "round-001-tasks.csv"
    assert tasks.is_file() and "--answers" in started.output
    # starting again before answering is refused, with the way out
    again = runner.invoke(app, ["round", *common])
    assert again.exit_code == 2 and "waiting for the answers" in again.output
    assert json.loads(report.read_text())["matcher_params"] == {
        "n_rounds": 40, "n_folds": 2, "pair_folds": 2, "n_repeats": 3}
    # the curve keeps one matcher setup and one held-out set: a clash is refused, not ignored
    mixed = runner.invoke(app, ["round", *common, "--repeats", "1"])
    assert mixed.exit_code == 2
    assert "n_repeats=1 (the report has 3)" in " ".join(mixed.output.split())
    moved = runner.invoke(app, ["round", *common, "--held-out", "gamma"])
    assert moved.exit_code == 2 and "--report NEW.json" in " ".join(moved.output.split())
    # the report names its annotations folder: answers never go into another one
    assert json.loads(report.read_text())["annotations"] == os.path.realpath(folder)
    other = runner.invoke(app, ["round", *common, "--annotations", str(tmp_path)])
    assert other.exit_code == 2
    assert "belongs to the annotations folder" in " ".join(other.output.split())
    # the person fills in the concept column
    with tasks.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        header, rows = list(reader.fieldnames or []), list(reader)
    for row in rows:
        label = truth[2].label(row["object"], row["field"])
        row["concept"], row["group"] = label.concept or "none", label.group or ""
    with tasks.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    # the printed command, run where the folder is neither given nor in the environment
    monkeypatch.delenv("FEDCRM_ANNOTATIONS")
    finished = runner.invoke(app, ["round", *common, "--answers", str(tasks),
                                   "--annotator", "ana"])
    assert finished.exit_code == 0, finished.output
    curve = LearningCurve.load(report)
    assert [p.labels_spent for p in curve.points] == [0, 2] and curve.pending is None
    learned = [lab for lab in read_labels(folder / "labels" / "gamma.jsonl")
               if lab.method == "active_learning"]
    assert {(lab.annotator, lab.round) for lab in learned} == {("ana", 1)}
    shown = runner.invoke(app, ["report", "--report", str(report), "--json",
                                "--target-precision", "0.5"])
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.output)
    assert [p["round"] for p in document["curve"]["points"]] == [0, 1]
    # the starting point begins the strategy's curve: a target met before any label is 0
    assert document["labels_to_target"] == {"margin*impact+diverse": 0}


def test_cli_select_and_import(
    write_annotations: WriteAnnotations, fitted: FieldMatcher, tmp_path: Path
) -> None:
    folder = write_annotations({"alpha": "all", "beta": "all", "gamma": "standard"})
    model = fitted.save(tmp_path / "matcher.zip")
    runner = CliRunner()
    # a task file inside the corpus could overwrite a label file
    inside = runner.invoke(app, ["select", "--annotations", str(folder), "--model", str(model),
                                 "--out", str(folder / "labels" / "gamma.jsonl")])
    assert inside.exit_code == 2
    assert "the folder given as --annotations" in " ".join(inside.output.split())
    tasks = tmp_path / "tasks.jsonl"
    selected = runner.invoke(app, ["select", "--annotations", str(folder), "--model",
                                   str(model), "--strategy", "random", "--seed", "3", "--n",
                                   "4", "--out", str(tasks), "--round", "5", "--json"])
    assert selected.exit_code == 0, selected.output
    chosen = json.loads(selected.output)["tasks"]
    assert len(chosen) == 4 and all(t.startswith("gamma/") for t in chosen)
    rows = [json.loads(line) for line in tasks.read_text().splitlines()]
    rows[0]["concept"] = "account.not_a_concept"
    tasks.write_text("".join(json.dumps(r) + "\n" for r in rows))
    refused = runner.invoke(app, ["import", str(tasks), "--annotations", str(folder)])
    assert refused.exit_code == 2
    squashed = "".join(refused.output.split())  # the console wraps long lines
    assert f"{tasks}:1:unknownconcept'account.not_a_concept'" in squashed
    rows[0]["concept"] = "none"
    tasks.write_text("".join(json.dumps(r) + "\n" for r in rows))
    imported = runner.invoke(app, ["import", str(tasks), "--annotations", str(folder),
                                   "--annotator", "bo", "--json"])
    assert imported.exit_code == 0, imported.output
    assert (json.loads(imported.output)["added"], json.loads(imported.output)["unanswered"]) \
        == (1, 3)
    (label,) = [lab for lab in read_labels(folder / "labels" / "gamma.jsonl")
                if lab.method == "active_learning"]
    assert (label.annotator, label.round, label.concept) == ("bo", 5, None)


# ------------------------------------------------------------------ one setup per report
def test_the_loop_refuses_a_setup_that_contradicts_its_report(
    write_annotations: WriteAnnotations, tmp_path: Path
) -> None:
    folder = write_annotations({"alpha": "all", "beta": "all", "gamma": "standard",
                                "delta": "all"})
    report = LearningCurve(held_out=["delta"], pool_orgs=["gamma"],
                           matcher_params=SMALL).save(tmp_path / "curve.json")
    with pytest.raises(ConfigError, match=r"held-out orgs \['delta'\], not \['gamma'\].*"
                                          r"--report NEW\.json"):
        AnnotationLoop(folder, held_out=["gamma"], report=report)
    with pytest.raises(ConfigError, match=r"n_rounds=10 \(the report has 40\).*Leave "
                                          r"matcher_params"):
        AnnotationLoop(folder, held_out=["delta"], matcher_params={**SMALL, "n_rounds": 10},
                       report=report)
    with pytest.raises(ConfigError, match=r"n_repeats=3 \(the report has the matcher's"):
        AnnotationLoop(folder, matcher_params={**SMALL, "n_repeats": 3}, report=report)
    # left out, the report's setup is used for fitting as well as for the curve
    loop = AnnotationLoop(folder, report=report)
    assert (loop.held_out, loop.pool_orgs, loop.matcher_params) == (["delta"], ["gamma"],
                                                                 {**SMALL, "pair_folds": 2})
    same = AnnotationLoop(folder, held_out=["delta"], matcher_params=dict(SMALL), report=report)
    assert same.curve.held_out == ["delta"]


def test_unknown_pool_orgs_are_refused_and_a_later_pool_is_remembered(
    write_annotations: WriteAnnotations, tmp_path: Path
) -> None:
    folder = write_annotations({"alpha": "all", "beta": "all", "gamma": "standard",
                                "delta": "all"})
    typo = AnnotationLoop(folder, held_out=["delta"], pool_orgs=["gama"])
    with pytest.raises(ConfigError, match=r"pool org\(s\) \['gama'\] are not in .*sources\.yaml; "
                                          r"did you mean 'gamma' for 'gama'\?"):
        typo.orgs()
    report = LearningCurve(held_out=["delta"], pool_orgs=["gama"],
                           matcher_params=SMALL).save(tmp_path / "curve.json")
    corrected = AnnotationLoop(folder, pool_orgs=["gamma"], report=report)
    assert (corrected.pool_orgs, corrected.curve.pool_orgs) == (["gamma"], ["gamma"])
    corrected.save()
    assert AnnotationLoop(folder, report=report).pool_orgs == ["gamma"]  # remembered
    # a pool org given by its metadata (--schema ORG=PATH) is no typo
    from fedcrm.examples import example_org_path
    from fedcrm.schema import load_schema

    acme = load_schema(example_org_path("acme"), org_id="acme")
    given = AnnotationLoop(folder, held_out=["delta"], pool_orgs=["acme"],
                           schemas={"acme": acme})
    assert {o.org_id for o in given.orgs()} >= {"alpha", "delta"}
    with pytest.raises(ConfigError, match=r"held-out org\(s\) \['acme'\] are not in"):
        AnnotationLoop(folder, held_out=["acme"], schemas={"acme": acme}).orgs()


def _pending_report(path: Path, task_file: Path) -> Path:
    return LearningCurve(held_out=["delta"], matcher_params=SMALL, pending=PendingRound(
        round=1, strategy="margin", n=2, task_file=str(task_file), format="csv",
        task_ids=["gamma/Account.nps__c", "gamma/Account.legacy_id__c"],
        created_at="2026-01-01T00:00:00+00:00",
    )).save(path)


def _write_csv(path: Path, rows: list[tuple[str, str, str, str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("org,object,field,concept,round\n"
                    + "".join(",".join(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_round_answers_must_answer_the_pending_round(
    write_annotations: WriteAnnotations, ontology: Ontology, tmp_path: Path
) -> None:
    folder = write_annotations({"alpha": "all", "beta": "all", "gamma": "standard",
                                "delta": "all"})
    # the task file's name gives no format: the pending round's own is used
    tasks = tmp_path / "r1" / "tasks.txt"
    report = _pending_report(tmp_path / "curve.json", tasks)
    asked = [("gamma", "Account", "nps__c", "account.nps_score", ""),
             ("gamma", "ACCOUNT", "LEGACY_ID__C", "none", "1")]
    _write_csv(tasks, [*asked,
                       ("gamma", "Account", "cancelled_on__c", "account.churn_date", ""),
                       ("delta", "Account", "Couleur_Logo__c", "none", ""),
                       ("gamma", "Account", "nps__c", "account.nps_score", "3")])
    loop = AnnotationLoop(folder, ontology=ontology, report=report)
    with pytest.raises(MappingError) as caught:
        loop.import_round_answers(tasks, annotator="ana")
    message = str(caught.value)
    assert "3 answer(s) do not belong to round 1; nothing was imported" in message
    assert ("tasks.txt row 4 (line 4): gamma/Account.cancelled_on__c was not asked in "
            "round 1; delete the row") in message
    assert ("tasks.txt row 5 (line 5): delta Account.Couleur_Logo__c belongs to held-out "
            "org delta") in message
    assert ("tasks.txt row 6 (line 6): the round column says 3, but these are the answers "
            "of round 1") in message
    assert [lab.field for lab in read_labels(folder / "labels" / "gamma.jsonl")] == ["Industry"]
    assert loop.curve.pending is not None
    _write_csv(tasks, asked)
    merged = loop.import_round_answers(tasks, annotator="ana")
    assert (merged.added, loop.curve.pending) == (2, None)
    learned = [(lab.field, lab.round) for lab in read_labels(folder / "labels" / "gamma.jsonl")
               if lab.method == "active_learning"]
    assert sorted(learned) == [("legacy_id__c", 1), ("nps__c", 1)]
    # the plain import refuses held-out orgs too: their labels measure the curve
    other = _write_csv(tmp_path / "more.csv", [("delta", "Account", "Couleur_Logo__c",
                                                "account.industry", "1")])
    with pytest.raises(MappingError, match="more.csv: 1 answer.* about held-out orgs"):
        loop.import_answers(other, annotator="ana", replace=True, reason="test")


def test_cli_round_refuses_selection_options_with_answers(
    write_annotations: WriteAnnotations, tmp_path: Path
) -> None:
    folder = write_annotations({"alpha": "all", "beta": "all", "gamma": "standard",
                                "delta": "all"})
    tasks = _write_csv(tmp_path / "round-001-tasks.csv",
                       [("gamma", "Account", "nps__c", "account.nps_score", "")])
    report = _pending_report(tmp_path / "curve.json", tasks)
    refused = CliRunner().invoke(app, ["round", "--report", str(report), "--annotations",
                                       str(folder), "--answers", str(tasks), "--strategy",
                                       "random", "--n", "5", "--seed", "0"])
    assert refused.exit_code == 2
    assert "--strategy, --n, --seed choose(s) the fields of a new round, but --answers " \
        "finishes round 1" in " ".join(refused.output.split())
    assert LearningCurve.load(report).pending is not None
    assert not any(lab.method == "active_learning"
                   for lab in read_labels(folder / "labels" / "gamma.jsonl"))


def test_cli_round_writes_the_format_its_out_file_names(
    write_annotations: WriteAnnotations, truth: list[AnnotatedOrg], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, report, common = _cli_setup(write_annotations, tmp_path, monkeypatch)
    runner = CliRunner()
    tasks = tmp_path / "r1" / "tasks.jsonl"
    # a format that contradicts the file name is refused before any training
    clash = runner.invoke(app, ["round", *common, "--held-out", "delta", "--out", str(tasks),
                                "--format", "csv"])
    assert clash.exit_code == 2 and "means the jsonl format" in " ".join(clash.output.split())
    assert not report.exists() and not tasks.exists()
    started = runner.invoke(app, ["round", *common, "--held-out", "delta", "--n", "2",
                                  "--similarity", "name", "--out", str(tasks)])
    assert started.exit_code == 0, started.output
    rows = [json.loads(line) for line in tasks.read_text(encoding="utf-8").splitlines()]
    assert LearningCurve.load(report).pending.format == "jsonl"  # type: ignore[union-attr]
    for row in rows:
        label = truth[2].label(row["object"], row["field"])
        row["concept"], row["group"] = label.concept or "none", label.group
    tasks.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    # the printed command, run where the folder is neither given nor in the environment
    monkeypatch.delenv("FEDCRM_ANNOTATIONS")
    finished = runner.invoke(app, ["round", *common, "--answers", str(tasks),
                                   "--annotator", "ana"])
    assert finished.exit_code == 0, finished.output
    assert [p.labels_spent for p in LearningCurve.load(report).points] == [0, 2]


def test_the_report_is_replaced_atomically(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    path = LearningCurve(held_out=["delta"]).save(tmp_path / "curve.json")
    before = path.read_bytes()

    def failing(source: str | Path, target: str | Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", failing)
    with pytest.raises(OSError, match="No space left"):
        LearningCurve(held_out=["delta"], points=[_point("margin", 10, 0.9, 0.5)]).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["curve.json"]


def test_an_unfilled_task_file_does_not_close_the_round(
    write_annotations: WriteAnnotations, tmp_path: Path
) -> None:
    folder = write_annotations({"alpha": "all", "beta": "all", "gamma": "standard",
                                "delta": "all"})
    # the round's task file as exported: nobody filled in the concept column yet
    tasks = _write_csv(tmp_path / "round-001-tasks.csv",
                       [("gamma", "Account", "nps__c", "", "1"),
                        ("gamma", "Account", "legacy_id__c", "", "1")])
    report = _pending_report(tmp_path / "curve.json", tasks)
    result = CliRunner().invoke(app, ["round", "--report", str(report), "--annotations",
                                      str(folder), "--answers", str(tasks)])
    assert result.exit_code == 2
    assert "round-001-tasks.csv: no row has a concept or group (2 unanswered); fill in the " \
        "concept column" in " ".join(result.output.split())
    curve = LearningCurve.load(report)
    assert curve.pending is not None and curve.pending.round == 1  # still waiting
    assert curve.points == []  # no retraining, no point for zero labels


# ------------------------------------------------------------------ bad input at the boundary
def test_cli_refuses_bad_outputs_and_options_before_any_training(
    write_annotations: WriteAnnotations, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder as --out, a bad --strategy or --similarity, or a bad --plot fail with exit code
    2 before any matcher is fitted."""

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("the matcher was fitted before the options were checked")

    monkeypatch.setattr(AnnotationLoop, "fit", no_training)
    monkeypatch.setattr(AnnotationLoop, "retrain_and_measure", no_training)
    folder = write_annotations({"alpha": "all", "beta": "all", "gamma": "standard"})
    runner = CliRunner()
    common = ["--annotations", str(folder), "--n", "2"]
    (tmp_path / "d.csv").mkdir()
    as_folder = runner.invoke(app, ["select", *common, "--out", str(tmp_path / "d.csv")])
    assert as_folder.exit_code == 2 and "is a folder" in as_folder.output, as_folder.output
    bogus = runner.invoke(app, ["select", *common, "--out", str(tmp_path / "t.csv"),
                                "--strategy", "bogus"])
    assert bogus.exit_code == 2 and "unknown part 'bogus'" in bogus.output, bogus.output
    assert not (tmp_path / "t.csv").exists()
    started = runner.invoke(app, ["round", *common, "--report", str(tmp_path / "r.json"),
                                  "--held-out", "alpha", "--similarity", "colour"])
    assert started.exit_code == 2 and "similarity must be one of" in started.output, \
        started.output
    assert not (tmp_path / "r.json").exists()
    as_plot = runner.invoke(app, ["round", *common, "--report", str(tmp_path / "curve.PNG"),
                                  "--held-out", "alpha"])
    assert as_plot.exit_code == 2, as_plot.output
    assert "overwritten by its own plot" in " ".join(as_plot.output.split()), as_plot.output
    assert not (tmp_path / "curve.PNG").exists()
    curve = LearningCurve(held_out=["delta"], matcher_params=dict(SMALL))
    report = curve.save(tmp_path / "curve.json")
    for plot, message in ((tmp_path, "is a folder"), (tmp_path / "p.txt", "ending in .png")):
        refused = runner.invoke(app, ["report", "--report", str(report), "--plot", str(plot)])
        assert refused.exit_code == 2 and message in refused.output, refused.output
    drawn = runner.invoke(app, ["report", "--report", str(report), "--plot",
                                str(tmp_path / "curve.svg")])
    assert drawn.exit_code == 0 and (tmp_path / "curve.svg").read_text().lstrip().startswith(
        ("<?xml", "<svg")), drawn.output
    out_of_range = runner.invoke(app, ["report", "--report", str(report),
                                       "--target-precision", "7"])
    assert out_of_range.exit_code == 2
    broken = tmp_path / "broken.json"
    broken.write_text('{"held_out": 3}')
    unreadable = runner.invoke(app, ["report", "--report", str(broken)])
    assert unreadable.exit_code == 2
    assert "not a learning-curve report (held_out: " in " ".join(unreadable.output.split())
    assert "errors.pydantic.dev" not in unreadable.output
    broken.write_bytes(b"\xff\xfe{\x00}\x00")  # UTF-16, not UTF-8
    not_utf8 = runner.invoke(app, ["report", "--report", str(broken)])
    assert not_utf8.exit_code == 2 and "not a learning-curve report" in not_utf8.output


def test_cli_impact_refuses_bad_data_and_tasks(tmp_path: Path) -> None:
    runner = CliRunner()
    out = ["--out", str(tmp_path / "w.json")]
    missing = runner.invoke(app, ["impact", *out, "--data", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "no such folder" in missing.output
    unknown = runner.invoke(app, ["impact", *out, "--task", "upsell"])
    assert unknown.exit_code == 2 and "unknown task" in unknown.output
    as_folder = runner.invoke(app, ["impact", "--out", str(tmp_path)])
    assert as_folder.exit_code == 2 and "is a folder" in as_folder.output
    data = tmp_path / "fed"
    (data / "org1" / "metadata").mkdir(parents=True)
    (data / "org1" / "records").mkdir()
    (data / "org1" / "ground_truth.jsonl").write_text("")
    (data / "federation.json").write_text("{not json")
    bad_manifest = runner.invoke(app, ["impact", *out, "--data", str(data)])
    assert bad_manifest.exit_code == 2 and "reference_date" in bad_manifest.output, \
        bad_manifest.output


def test_a_task_file_with_markup_and_spaces_is_shown_as_written(
    write_annotations: WriteAnnotations, fitted: FieldMatcher, tmp_path: Path
) -> None:
    folder = write_annotations({"alpha": "all", "beta": "all", "gamma": "standard"})
    model = fitted.save(tmp_path / "matcher.zip")
    tasks = tmp_path / "my [v2] tasks" / "t.csv"
    result = CliRunner().invoke(app, ["select", "--annotations", str(folder), "--model",
                                      str(model), "--n", "2", "--out", str(tasks),
                                      "--strategy", "random"])
    assert result.exit_code == 0, result.output
    assert tasks.read_bytes().startswith(b"\xef\xbb\xbf")  # still UTF-8 with a BOM
    squashed = "".join(result.output.split())
    # the path is printed whole and quoted for the shell
    assert "fedcrmannotateimport'" + "".join(str(tasks).split()) + "'" in squashed


def test_cli_from_review_refuses_a_missing_database_and_creates_none(tmp_path: Path) -> None:
    db = tmp_path / "nowhere" / "review.db"
    result = CliRunner().invoke(app, ["from-review", "--db", str(db), "--annotations",
                                      str(tmp_path / "annotations")])
    assert result.exit_code == 2
    assert "no review database at" in " ".join(result.output.split())
    assert not db.exists() and not db.parent.exists()


def test_an_older_report_keeps_its_pair_model_folds(tmp_path: Path) -> None:
    """Reports written before ``pair_folds`` existed fitted the pair model with ``n_folds``
    folds: continuing one keeps that (not the matcher's default of 10), and restating the
    report's own ``--folds`` does not clash."""
    path = tmp_path / "curve.json"
    path.write_text(json.dumps({"format": 1, "held_out": ["delta"], "matcher_params": {
        "n_rounds": 40, "n_folds": 2, "n_repeats": 3}}), encoding="utf-8")
    assert LearningCurve.load(path).matcher_params == {
        "n_rounds": 40, "n_folds": 2, "pair_folds": 2, "n_repeats": 3}
    # without n_folds the matcher's defaults apply to both
    assert LearningCurve(held_out=["delta"], matcher_params={"n_rounds": 40}).matcher_params \
        == {"n_rounds": 40}


def test_an_org_given_by_its_metadata_leaves_its_answered_fields_out_of_the_pool(
        write_annotations, truth, fitted, embedder, tmp_path: Path) -> None:
    # gamma is not in sources.yaml, only given by its metadata: its answers went into
    # labels/gamma.jsonl, but the pool never read them and asked the same fields every round
    folder = write_annotations({"alpha": "all", "beta": "all", "delta": "all"})
    gamma = next(org for org in truth if org.org_id == "gamma")
    loop = AnnotationLoop(folder, held_out=["delta"], pool_orgs=["gamma"],
                          schemas={"gamma": gamma.schema}, matcher_params=SMALL,
                          embedder=embedder)
    strategy = make_strategy("random")
    asked: list[set[str]] = []
    matcher = fitted
    for number in (1, 2):
        asked.append({q.field.task_id for q in loop.select(strategy, 3, matcher)})
        matcher, _ = loop.run_round(strategy, 3, truth_oracle(truth), workdir=tmp_path / "r",
                                    matcher=matcher, round=number)
    assert len(asked[0]) == len(asked[1]) == 3 and not asked[0] & asked[1]
    answered = {f"gamma/{label.object}.{label.field}"
                for label in read_labels(folder / "labels" / "gamma.jsonl")}
    assert asked[0] | asked[1] == answered
