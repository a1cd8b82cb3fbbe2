"""``fedcrm annotate …``: the annotation active-learning loop on the command line.

A typer sub-app mounted as ``fedcrm annotate``; every command is a thin layer over
:mod:`fedcrm.annotate`. A round with a person in it takes two calls of ``round``::

    fedcrm annotate round --held-out syn104_org01_isarwerk --n 50 --format csv
        # fits the matcher, selects 50 fields, writes round-001-tasks.csv, remembers the round
    (fill in the concept column of round-001-tasks.csv)
    fedcrm annotate round --answers round-001-tasks.csv
        # imports the labels, retrains, evaluates on the held-out orgs, extends the curve

``select`` and ``import`` are the two halves on their own (no retraining, no report);
``report`` prints the learning curve; ``from-review`` turns review decisions into labels;
``impact`` computes downstream concept weights for the impact strategy.
"""

from __future__ import annotations

import getpass
import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from fedcrm._console import (
    check_output_file,
    console,
    error_console,
    friendly_errors,
    plain,
    print_json,
)
from fedcrm.annotate.exchange import FORMATS, format_of, output_format
from fedcrm.annotate.loop import (
    FAST_MATCHER_PARAMS,
    START,
    AnnotationLoop,
    CurvePoint,
    LearningCurve,
    PendingRound,
    plot_path,
)
from fedcrm.annotate.merge import MergeReport
from fedcrm.annotate.strategies import DEFAULT_STRATEGY, Query, make_strategy
from fedcrm.errors import ConfigError
from fedcrm.matching.corpus import ENV_ANNOTATIONS, default_annotations_dir

if TYPE_CHECKING:
    from fedcrm.matching.model import FieldMatcher
    from fedcrm.ontology.models import Ontology
    from fedcrm.schema.models import OrgSchema

__all__ = ["app"]

ENV_ANNOTATOR = "FEDCRM_ANNOTATOR"
DEFAULT_REPORT = Path("annotate-report.json")
#: fields a round selects unless --n says otherwise
DEFAULT_N = 50
_EXTENSIONS = {"jsonl": "jsonl", "csv": "csv", "label-studio": "json"}

app = typer.Typer(
    name="annotate",
    help="Active learning for the matcher: ask for the labels that improve it most.",
    no_args_is_help=True,
    add_completion=False,
)

AnnotationsOption = Annotated[Path | None, typer.Option(
    "--annotations", envvar=ENV_ANNOTATIONS,
    help="Annotations folder (sources.yaml, labels/, schemas/) \\[default: the repository's].")]
SchemaOption = Annotated[list[str] | None, typer.Option(
    "--schema", help="ORG=PATH metadata of an org not in sources.yaml (repeatable).")]
AnnotatorOption = Annotated[str | None, typer.Option(
    "--annotator", envvar=ENV_ANNOTATOR,
    help="Who labelled, for rows without an annotator \\[default: your user name].")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
StrategyOption = Annotated[str, typer.Option(
    "--strategy", "-s",
    help="Factors random, margin (uncertainty), entropy, impact joined by '*', optionally "
         "'+diverse' then '+explore[=share]'; 'default' = margin*impact+diverse.")]
ImpactOption = Annotated[str, typer.Option(
    "--impact", help="Concept weights: 'default' (from the ontology) or a JSON file written "
                     "by `fedcrm annotate impact`.")]
LgbmRoundsOption = Annotated[int | None, typer.Option(
    "--lgbm-rounds", min=1,
    help=f"Matcher boosting rounds \\[default: {FAST_MATCHER_PARAMS['n_rounds']}].")]
FoldsOption = Annotated[int | None, typer.Option(
    "--folds", min=2,
    help="Matcher calibration folds, of the concept and the pair model "
         f"\\[default: {FAST_MATCHER_PARAMS['n_folds']}].")]
RepeatsOption = Annotated[int | None, typer.Option(
    "--repeats", min=1,
    help="Repetitions of the matcher's cross-validation, which steady its abstention "
         f"threshold \\[default: {FAST_MATCHER_PARAMS['n_repeats']}].")]


def default_annotator() -> str:
    """``$FEDCRM_ANNOTATOR`` or the login name."""
    try:
        return os.environ.get(ENV_ANNOTATOR) or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"


def _schemas(specs: list[str] | None) -> dict[str, OrgSchema]:
    from fedcrm.schema import load_schema

    result: dict[str, OrgSchema] = {}
    for spec in specs or []:
        org, equals, path = spec.partition("=")
        if not equals or not org or not path:
            raise ConfigError(f"--schema takes ORG=PATH, not {spec!r}")
        result[org] = load_schema(Path(path), org_id=org)
    return result


def _weights(spec: str, ontology: Ontology) -> dict[str, float]:
    from fedcrm.annotate.impact import default_concept_weights, load_weights

    return (default_concept_weights(ontology) if spec == "default"
            else load_weights(spec, ontology))


def _given_params(lgbm_rounds: int | None, folds: int | None,
                  repeats: int | None) -> dict[str, Any]:
    given = {"n_rounds": lgbm_rounds, "n_folds": folds, "n_repeats": repeats}
    return {key: value for key, value in given.items() if value is not None}


def _matcher_params(lgbm_rounds: int | None, folds: int | None,
                    repeats: int | None) -> dict[str, Any]:
    return {**FAST_MATCHER_PARAMS, **_given_params(lgbm_rounds, folds, repeats)}


def _check_selection(strategy: str, impact: str, similarity: str, ontology: Ontology) -> None:
    """Refuse a bad --strategy, --impact or --similarity before any training (the strategy
    is built again with the matcher's embedder once there is one)."""
    make_strategy(strategy, weights=_weights(impact, ontology), similarity=similarity)


#: image formats ``--plot`` writes (matplotlib picks the format from the extension)
PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def _check_plot(path: Path, option: str) -> None:
    """An output image: a file (not a folder, not under a file) named .png, .svg or .pdf."""
    check_output_file(path, option=option, example="curve.png")
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise ConfigError(f"{option} {path}: give a name ending in "
                          f"{', '.join(PLOT_SUFFIXES)} (the format follows the extension)")


def _fit_or_load(loop: AnnotationLoop, model: Path | None) -> FieldMatcher:
    if model is not None:
        from fedcrm.matching.model import FieldMatcher

        return FieldMatcher.load(model, ontology=loop.ontology)
    with console.status("training the matcher on the current labels"):
        return loop.fit()


def selection_table(queries: list[Query], limit: int = 20) -> Table:
    """The selected fields with their top candidates."""
    table = Table(title=f"Selected fields ({min(limit, len(queries))} of {len(queries)} shown)")
    for column in ("#", "Org", "Field", "Label", "Top candidates", "Priority"):
        table.add_column(column, overflow="fold",
                         justify="right" if column in ("#", "Priority") else "left")
    for query in queries[:limit]:
        field = query.field
        top = ", ".join(f"{c} {p:.2f}" for c, p in field.candidates[:3]) or "-"
        table.add_row(str(query.rank + 1), plain(field.org), plain(f"{field.object}.{field.field}"),
                      plain(field.label), plain(top), f"{query.priority:.3f}")
    return table


def merge_table(report: MergeReport) -> Table:
    """Counts of an import."""
    table = Table(title="Imported labels")
    for column in ("Added", "Replaced", "Unchanged", "Unanswered", "Files"):
        table.add_column(column, justify="right" if column != "Files" else "left")
    table.add_row(str(report.added), str(report.replaced), str(report.unchanged),
                  str(report.unanswered), plain("\n".join(report.files) or "-"))
    return table


def curve_table(curve: LearningCurve) -> Table:
    """The learning curve, one row per point."""
    table = Table(title="Learning curve on held-out orgs " + escape(", ".join(curve.held_out)))
    for column in ("Strategy", "Round", "Labels", "Precision", "Coverage", "Recall",
                   "Pair F1", "Threshold", "Fit s"):
        table.add_column(column, justify="left" if column == "Strategy" else "right")
    for strategy in curve.strategies:
        for point in curve.curve(strategy):
            table.add_row(plain(strategy), str(point.round), str(point.labels_spent),
                          f"{point.precision:.3f}", f"{point.coverage:.3f}",
                          f"{point.recall:.3f}", f"{point.pair_f1:.3f}",
                          "none" if point.threshold is None else f"{point.threshold:.3f}",
                          f"{point.fit_seconds:.1f}")
    return table


def _print_point(point: CurvePoint) -> None:
    console.print(
        f"Round {point.round} ({escape(point.strategy)}): {point.labels_spent} labels spent → "
        f"precision {point.precision:.3f}, coverage {point.coverage:.3f}, pairwise F1 "
        f"{point.pair_f1:.3f} on the held-out orgs"
    )


# ----------------------------------------------------------------------------- commands
@app.command("select")
@friendly_errors
def select_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Task file to write "
                                      "(.jsonl, .csv or .json for Label Studio).")],
    annotations: AnnotationsOption = None,
    strategy: StrategyOption = DEFAULT_STRATEGY,
    n: Annotated[int, typer.Option("--n", "-n", min=1, help="Fields to select.")] = 50,
    org: Annotated[list[str] | None, typer.Option(
        "--org", help="Only fields of these orgs (repeatable) \\[default: every org not held "
                      "out].")] = None,
    held_out: Annotated[list[str] | None, typer.Option(
        "--held-out", help="Orgs never asked about or trained on (repeatable).")] = None,
    format: Annotated[str | None, typer.Option(
        help=f"One of {', '.join(FORMATS)} \\[default: from the extension; a format that "
             "contradicts the extension is refused].")] = None,
    round: Annotated[int | None, typer.Option(help="Round number written into the tasks.",
                                              min=0)] = None,
    model: Annotated[Path | None, typer.Option(
        help="Score with this matcher file instead of training one on the current labels.")
                     ] = None,
    impact: ImpactOption = "default",
    similarity: Annotated[str, typer.Option(
        help="Diversity similarity: embedding or name.")] = "embedding",
    seed: Annotated[int, typer.Option(help="Seed of the random strategy.")] = 0,
    include_labelled: Annotated[bool, typer.Option(
        "--include-labelled", help="Also consider fields that already have a label.")] = False,
    schema: SchemaOption = None,
    lgbm_rounds: LgbmRoundsOption = None,
    folds: FoldsOption = None,
    repeats: RepeatsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Select the fields to label next and write them as a task file."""
    chosen_format = output_format(out, format)
    check_output_file(out, option="--out", example=f"tasks.{_EXTENSIONS[chosen_format]}",
                      inputs={"--annotations": annotations or default_annotations_dir()})
    loop = AnnotationLoop(
        annotations or default_annotations_dir(), held_out=held_out or [], pool_orgs=org,
        matcher_params=_matcher_params(lgbm_rounds, folds, repeats),
        schemas=_schemas(schema),
    )
    _check_selection(strategy, impact, similarity, loop.ontology)
    matcher = _fit_or_load(loop, model)
    query_strategy = make_strategy(strategy, weights=_weights(impact, loop.ontology), seed=seed,
                                   similarity=similarity,
                                   embedder=matcher.embedder)
    queries = loop.select(query_strategy, n, matcher, include_labelled=include_labelled)
    paths = loop.export(queries, out, round=round, strategy=query_strategy.name,
                        format=chosen_format, matcher_version=matcher.version_)
    if as_json:
        print_json({"files": [str(p) for p in paths], "strategy": query_strategy.name,
                    "tasks": [q.field.task_id for q in queries]})
        return
    console.print(selection_table(queries))
    console.print(plain(f"Wrote {', '.join(str(p) for p in paths)}. Fill in the concept column "
                        "(a concept id, or 'none'), then: fedcrm annotate import "
                        f"{shlex.quote(str(paths[0]))}"
                        + ("" if round is not None else " --round <k>")
                        # the labels go back into the folder the fields came from
                        + (f" --annotations {shlex.quote(str(annotations))}"
                           if annotations is not None else "")))


@app.command("import")
@friendly_errors
def import_command(
    answers: Annotated[Path, typer.Argument(help="The answered task file.")],
    annotations: AnnotationsOption = None,
    annotator: AnnotatorOption = None,
    round: Annotated[int | None, typer.Option(
        help="Round number \\[default: the round column of the file].")] = None,
    replace: Annotated[bool, typer.Option(
        "--replace", help="Overwrite existing labels the answers disagree with.")] = False,
    reason: Annotated[str | None, typer.Option(
        help="Why existing labels are replaced (required with --replace; kept in the note).")
                      ] = None,
    format: Annotated[str | None, typer.Option(
        help=f"One of {', '.join(FORMATS)} \\[default: from the extension].")] = None,
    schema: SchemaOption = None,
    as_json: JsonOption = False,
) -> None:
    """Validate answered tasks and merge them into the annotations with provenance."""
    from fedcrm.annotate.merge import import_answers

    report = import_answers(
        answers, annotations or default_annotations_dir(), format=format,
        schemas=_schemas(schema), round=round, annotator=annotator or default_annotator(),
        replace=replace, reason=reason,
    )
    if as_json:
        print_json(report)
        return
    console.print(merge_table(report))
    note_unregistered(report.unregistered_orgs)


@app.command("round")
@friendly_errors
def round_command(
    report: Annotated[Path, typer.Option(
        "--report", help="Learning-curve report (JSON; a PNG is drawn beside it).")
                      ] = DEFAULT_REPORT,
    answers: Annotated[Path | None, typer.Option(
        "--answers", help="Finish the pending round: import these answers, retrain and "
                          "evaluate. Without it, start a round: select and export.")] = None,
    annotations: AnnotationsOption = None,
    held_out: Annotated[list[str] | None, typer.Option(
        "--held-out", help="Fully labelled orgs to evaluate on (first round; remembered).")
                        ] = None,
    org: Annotated[list[str] | None, typer.Option(
        "--org", help="Pool orgs (remembered for later rounds) \\[default: all but held-out]. "
                      "Selection only.")] = None,
    strategy: Annotated[str | None, typer.Option(
        "--strategy", "-s",
        help="Factors random, margin (uncertainty), entropy, impact joined by '*', optionally "
             "'+diverse' then '+explore[=share]' \\[default: default = margin*impact+diverse]. "
             "Selection only: refused with --answers.")] = None,
    n: Annotated[int | None, typer.Option(
        "--n", "-n", min=1, help="Fields to select \\[default: 50]. Selection only.")] = None,
    format: Annotated[str | None, typer.Option(
        help=f"One of {', '.join(FORMATS)}. Starting a round: \\[default: from --out's "
             "extension, else csv; one that contradicts --out's extension is refused]. With "
             "--answers: how to read them \\[default: the pending round's format for its task "
             "file, else from the extension].")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Task file \\[default: round-<k>-tasks.<ext> beside the report]. "
                            "Selection only.")] = None,
    model: Annotated[Path | None, typer.Option(
        help="Select with this matcher file instead of training one. Selection only.")
                     ] = None,
    save_model: Annotated[Path | None, typer.Option(
        help="After retraining, save the matcher here.")] = None,
    impact: Annotated[str | None, typer.Option(
        "--impact", help="Concept weights: 'default' (from the ontology) or a JSON file "
                         "written by `fedcrm annotate impact` \\[default: default]. Selection "
                         "only.")] = None,
    similarity: Annotated[str | None, typer.Option(
        help="Diversity similarity: embedding or name \\[default: embedding]. Selection only.")
                          ] = None,
    seed: Annotated[int | None, typer.Option(
        help="Seed of the random strategy \\[default: 0]. Selection only.")] = None,
    annotator: AnnotatorOption = None,
    replace: Annotated[bool, typer.Option(
        "--replace", help="Overwrite existing labels the answers disagree with.")] = False,
    reason: Annotated[str | None, typer.Option(help="Why labels are replaced.")] = None,
    discard_pending: Annotated[bool, typer.Option(
        "--discard-pending", help="Forget a round whose answers never came.")] = False,
    target_precision: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, help="Target precision drawn on the plot.")] = None,
    target_coverage: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, help="Target coverage drawn on the plot.")] = None,
    lgbm_rounds: LgbmRoundsOption = None,
    folds: FoldsOption = None,
    repeats: RepeatsOption = None,
    schema: SchemaOption = None,
) -> None:
    """One round of the loop, in two steps around the human labelling.

    Without --answers: train the matcher on the current labels (the first time, also measure
    it on the held-out orgs), select --n fields with --strategy and write the task file.
    With --answers: import the labels, retrain, evaluate on the held-out orgs and add the
    point to the learning curve (report JSON + PNG). The answers must be about the fields the
    round asked about; the selection options (--strategy, --n, --out, ...) are refused then.
    """
    check_output_file(report, option="--report", example=DEFAULT_REPORT.name)
    if save_model is not None:
        check_output_file(save_model, option="--save-model", example="matcher.zip")
    existing = LearningCurve.load(report) if report.exists() else None
    if existing is None and not held_out:
        raise ConfigError("name the held-out orgs to evaluate on with --held-out (fully "
                          "labelled orgs that are never asked about or trained on)")
    given = _given_params(lgbm_rounds, folds, repeats)
    # the loop refuses a held-out set or parameters that contradict an existing report
    # a report continues on the folder it was started on (AnnotationLoop refuses another)
    folder = annotations or (Path(existing.annotations) if existing is not None
                             and existing.annotations is not None
                             else default_annotations_dir())
    loop = AnnotationLoop(
        folder, held_out=held_out or None, pool_orgs=org,
        matcher_params={**existing.matcher_params, **given} if existing is not None
        else _matcher_params(lgbm_rounds, folds, repeats),
        schemas=_schemas(schema), report=report,
        target_precision=target_precision, target_coverage=target_coverage,
    )
    if discard_pending:
        loop.curve.pending = None
        loop.save()
    if answers is not None:
        pending = loop.curve.pending
        if pending is None:
            raise ConfigError(f"{report}: no round is waiting for answers; start one with "
                              "`fedcrm annotate round` (without --answers)")
        selection = {"--strategy": strategy, "--n": n, "--out": out, "--model": model,
                     "--impact": impact, "--similarity": similarity, "--seed": seed,
                     "--org": org}
        refused = [option for option, value in selection.items() if value is not None]
        if refused:
            raise ConfigError(
                f"{', '.join(refused)} choose(s) the fields of a new round, but --answers "
                f"finishes round {pending.round} ({pending.n} fields selected with "
                f"{pending.strategy}); leave {'it' if len(refused) == 1 else 'them'} out now "
                "and give them to the next `fedcrm annotate round` without --answers"
            )
        merged = loop.import_round_answers(answers, format=format,
                                           annotator=annotator or default_annotator(),
                                           replace=replace, reason=reason)
        console.print(merge_table(merged))
        with console.status("retraining the matcher and evaluating on the held-out orgs"):
            matcher, point = loop.retrain_and_measure(strategy=pending.strategy,
                                                      round=pending.round)
        if save_model is not None:
            matcher.save(save_model)
            console.print(plain(f"Saved the matcher to {save_model}"))
        _print_point(point)
        console.print(curve_table(loop.curve))
        console.print(plain(f"Report {report}, plot {plot_path(report)}"))
        return
    if loop.curve.pending is not None:
        pending = loop.curve.pending
        raise ConfigError(
            f"round {pending.round} is waiting for the answers in {pending.task_file}; import "
            f"them with `fedcrm annotate round --report {shlex.quote(str(report))} --answers "
            f"{shlex.quote(pending.task_file)}`, or start over with --discard-pending"
        )
    # decided before any training: a task file must be readable back by its name
    format_name = (output_format(out, format, default="csv") if out is not None
                   else format_of("tasks", format) if format is not None else "csv")
    if out is not None:
        check_output_file(out, option="--out", example=f"tasks.{_EXTENSIONS[format_name]}",
                          inputs={"--annotations": loop.annotations_dir})
    _check_selection(strategy or DEFAULT_STRATEGY, impact or "default",
                     similarity or "embedding", loop.ontology)
    if not loop.curve.points:
        with console.status("training the matcher and measuring the starting point"):
            matcher, start = loop.retrain_and_measure(strategy=START, round=0)
        _print_point(start)
        if model is not None:
            matcher = _fit_or_load(loop, model)
    else:
        matcher = _fit_or_load(loop, model)
    number = loop.curve.next_round()
    query_strategy = make_strategy(strategy or DEFAULT_STRATEGY,
                                   weights=_weights(impact or "default", loop.ontology),
                                   seed=seed or 0, similarity=similarity or "embedding",
                                   embedder=matcher.embedder)
    queries = loop.select(query_strategy, n if n is not None else DEFAULT_N, matcher)
    target = out or report.with_name(f"round-{number:03d}-tasks.{_EXTENSIONS[format_name]}")
    paths = loop.export(queries, target, round=number, strategy=query_strategy.name,
                        format=format_name, matcher_version=matcher.version_)
    loop.curve.pending = PendingRound(
        round=number, strategy=query_strategy.name, n=len(queries), task_file=str(paths[0]),
        format=format_name, task_ids=[q.field.task_id for q in queries],
        created_at=_now(),
    )
    loop.save()
    console.print(selection_table(queries))
    console.print(plain(
        f"Round {number}: wrote {', '.join(str(p) for p in paths)}. Label the concept column "
        "(a concept id, or 'none'; a group for a custom field other orgs share), then run:\n"
        f"  fedcrm annotate round --report {shlex.quote(str(report))} --answers "
        f"{shlex.quote(str(paths[0]))}"
    ))


def _now() -> str:
    from fedcrm.annotate.exchange import utc_now

    return utc_now()


@app.command("report")
@friendly_errors
def report_command(
    report: Annotated[Path, typer.Option("--report", help="Learning-curve report (JSON).")
                      ] = DEFAULT_REPORT,
    plot: Annotated[Path | None, typer.Option(
        help="Also draw the curve to this image (.png, .svg or .pdf).")] = None,
    target_precision: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, help="Precision target for 'labels to target'.")] = None,
    target_coverage: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, help="Coverage target for 'labels to target'.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Print the learning curve (labels spent vs precision / coverage / pairwise F1)."""
    if plot is not None:
        _check_plot(plot, "--plot")
    curve = LearningCurve.load(report)
    if target_precision is not None:
        curve.target_precision = target_precision
    if target_coverage is not None:
        curve.target_coverage = target_coverage
    targets = None
    if curve.target_precision is not None or curve.target_coverage is not None:
        targets = {s: curve.labels_to_target(s) for s in curve.strategies}
    if plot is not None:
        from fedcrm.annotate.plot import plot_learning_curve

        plot_learning_curve(curve, plot)
    if as_json:
        print_json({"curve": curve.model_dump(mode="json"), "labels_to_target": targets})
        return
    console.print(curve_table(curve))
    if targets is not None:
        for strategy, labels in targets.items():
            console.print(plain(f"{strategy}: target reached with {labels} labels"
                                if labels is not None else f"{strategy}: target not reached"))
    if curve.pending is not None:
        console.print(plain(f"Round {curve.pending.round} is waiting for answers in "
                            f"{curve.pending.task_file}"))
    if plot is not None:
        console.print(plain(f"Wrote {plot}"))


@app.command("from-review")
@friendly_errors
def from_review_command(
    db: Annotated[Path | None, typer.Option(
        "--db", help="SQLite file of the review store.")] = None,
    url: Annotated[str | None, typer.Option(
        "--url", help="Any SQLAlchemy URL of the review store instead of --db.")] = None,
    labels_dir: Annotated[Path | None, typer.Option(
        "--labels-dir", help="Or: a folder `fedcrm review labels` wrote.")] = None,
    annotations: AnnotationsOption = None,
    replace: Annotated[bool, typer.Option(
        "--replace", help="Let decisions overwrite labels they disagree with.")] = False,
    reason: Annotated[str | None, typer.Option(help="Why labels are replaced.")] = None,
    schema: SchemaOption = None,
    as_json: JsonOption = False,
) -> None:
    """Turn approved review decisions into corpus labels (method "review")."""
    from fedcrm.annotate.merge import import_review_labels

    given = [x for x in (db, url, labels_dir) if x is not None]
    if len(given) != 1:
        raise ConfigError("give exactly one of --db, --url or --labels-dir")
    folder = annotations or default_annotations_dir()
    if labels_dir is not None:
        merged = import_review_labels(labels_dir, folder, schemas=_schemas(schema),
                                      replace=replace, reason=reason)
    else:
        from fedcrm.review.store import ReviewStore

        with ReviewStore(url if url is not None else str(db), create=False) as store:
            merged = import_review_labels(store, folder, schemas=_schemas(schema),
                                          replace=replace, reason=reason,
                                          exported_by=default_annotator())
    if as_json:
        print_json(merged)
        return
    console.print(merge_table(merged))
    note_unregistered(merged.unregistered_orgs)


def note_unregistered(orgs: Sequence[str]) -> None:
    """Say on stderr which orgs got labels no training reads (not in sources.yaml)."""
    for org in orgs:
        error_console.print(f"[yellow]note:[/] org {escape(org)} is not in sources.yaml; the "
                            "matcher does not train on its labels until it is registered there "
                            f"(an entry in sources.yaml, and its metadata as schemas/{escape(org)}"
                            ".json; annotations/DATASHEET.md)")


@app.command("impact")
@friendly_errors
def impact_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Weights JSON to write (also the "
                                      "cache: an up-to-date file is reused).")],
    data: Annotated[Path | None, typer.Option(
        help="A folder in the `fedcrm synth` layout (<org>/metadata, <org>/records, "
             "<org>/ground_truth.jsonl) \\[default: generate a small synthetic federation].")
                    ] = None,
    orgs: Annotated[int, typer.Option(help="Synthetic orgs to generate.", min=1)] = 3,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    task: Annotated[list[str] | None, typer.Option(help="Only these tasks.")] = None,
    repeats: Annotated[int, typer.Option(min=1, help="Shuffles per concept.")] = 5,
    as_json: JsonOption = False,
) -> None:
    """Concept weights from the permutation importance of downstream task models."""
    from fedcrm.annotate.impact import downstream_impact_weights, synthetic_impact_weights
    from fedcrm.ontology import load_ontology
    from fedcrm.ontology.models import Task

    check_output_file(out, option="--out", example="weights.json", inputs={"--data": data})
    known = [t.value for t in Task]
    unknown = [t for t in task or [] if t not in known]
    if unknown:
        raise ConfigError(f"--task {', '.join(unknown)}: unknown task; use one of "
                          f"{', '.join(known)}")
    if data is not None and not data.is_dir():
        raise ConfigError(f"--data {data}: {'not a folder' if data.exists() else 'no such folder'}"
                          "; give a folder in the `fedcrm synth` layout")
    ontology = load_ontology()
    tasks = list(dict.fromkeys(task)) if task else known  # a repeated --task once
    with console.status("training downstream models and permuting concepts"):
        if data is None:
            result = synthetic_impact_weights(ontology, n_orgs=orgs, seed=seed, cache=out,
                                              tasks=tasks, n_repeats=repeats)
        else:
            inputs, mapping, reference = _synth_folder(data, ontology)
            result = downstream_impact_weights(inputs, mapping, ontology, reference,
                                               tasks=tasks, n_repeats=repeats, seed=seed,
                                               cache=out)
    if as_json:
        print_json(result)
        return
    table = Table(title=f"Downstream concept weights ({'cached' if result.from_cache else 'new'}"
                        f", {escape(str(out))})")
    for column in ("Concept", "Weight", *result.importance):
        table.add_column(column, justify="left" if column == "Concept" else "right")
    ranked = sorted(result.weights.items(), key=lambda item: -item[1])
    for concept, weight in ranked[:25]:
        table.add_row(concept, f"{weight:.2f}", *(
            f"{result.importance[t].get(concept, 0.0):.4f}" for t in result.importance))
    console.print(table)


def _synth_folder(data: Path, ontology: Ontology) -> tuple[list[Any], Any, Any]:
    """Org inputs, ground-truth mapping and reference date of a `fedcrm synth` folder."""
    import json

    import pandas as pd

    from fedcrm.features.canonical import read_records
    from fedcrm.federation.experiment import OrgInput
    from fedcrm.matching.corpus import read_labels
    from fedcrm.matching.proposal import FieldMapping, MappingProposal, OrgMapping
    from fedcrm.schema import load_schema

    manifest = data / "federation.json"
    if not manifest.is_file():
        raise ConfigError(f"{manifest}: missing; it holds the records' reference date")
    try:
        reference = pd.Timestamp(json.loads(manifest.read_text(encoding="utf-8"))
                                 ["reference_date"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{manifest}: cannot read its reference_date ({exc}); it should be "
                          "the JSON object `fedcrm synth` writes, with \"reference_date\": "
                          "\"YYYY-MM-DD\"") from None
    folders = sorted(p for p in data.iterdir() if (p / "metadata").is_dir())
    if not folders:
        raise ConfigError(f"{data}: no <org>/metadata folders; expected the `fedcrm synth` "
                          "layout")
    inputs, mappings = [], []
    for folder in folders:
        truth = folder / "ground_truth.jsonl"
        if not truth.is_file():
            raise ConfigError(f"{truth}: missing; the weights need each org's true mapping")
        inputs.append(OrgInput(folder.name, load_schema(folder / "metadata",
                                                        org_id=folder.name),
                               read_records(folder / "records")))
        mappings.append(OrgMapping(org=folder.name, fields=[
            FieldMapping(object=lab.object, field=lab.field, concept=lab.concept,
                         confidence=1.0,
                         block=lab.concept or (f"custom:{lab.group}" if lab.group else None))
            for lab in read_labels(truth)
        ]))
    mapping = MappingProposal(ontology_version=ontology.version,
                              matcher_version="ground-truth", orgs=mappings)
    return inputs, mapping, reference
