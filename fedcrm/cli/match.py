"""``fedcrm match`` and ``fedcrm matcher``: map orgs, train and evaluate the matcher."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fedcrm._console import (
    check_output_file,
    console,
    error_console,
    friendly_errors,
    plain,
    print_json,
)
from fedcrm.errors import ConfigError
from fedcrm.matching.proposal import MappingProposal
from fedcrm.schema.models import CUSTOM_SUFFIXES

matcher_app = typer.Typer(help="Train, evaluate and inspect the field matcher.",
                          no_args_is_help=True)


def org_paths_summary(proposal: MappingProposal) -> Table:
    """Per-org counts: fields, mapped, abstained, in shared custom blocks."""
    table = Table(title=f"Mapping (matcher {proposal.matcher_version}, ontology "
                        f"{proposal.ontology_version})")
    for column in ("Org", "Fields", "Mapped", "Abstained", "Custom blocks", "Low confidence"):
        table.add_column(column, justify="left" if column == "Org" else "right")
    for org in proposal.orgs:
        mapped = sum(f.concept is not None for f in org.fields)
        custom = sum(f.concept is None and f.block is not None for f in org.fields)
        low = sum(f.concept is not None and f.confidence < 0.8 for f in org.fields)
        table.add_row(plain(org.org), str(len(org.fields)), str(mapped),
                      str(len(org.fields) - mapped - custom), str(custom), str(low))
    return table


def mapped_fields_table(proposal: MappingProposal, limit: int) -> Table:
    """The mapped custom fields, least confident first (what a steward should look at)."""
    rows = [
        (org_id, f) for org_id, f in proposal.iter_fields()
        if f.concept is not None and f.field.endswith(CUSTOM_SUFFIXES)
    ]
    rows.sort(key=lambda item: item[1].confidence)
    table = Table(title=f"Mapped custom fields (least confident first, {min(limit, len(rows))} "
                        f"of {len(rows)})")
    for column in ("Org", "Field", "Concept", "Confidence", "Top evidence"):
        table.add_column(column, overflow="fold")
    for org_id, mapping in rows[:limit]:
        evidence = mapping.candidates[0].evidence[0] if mapping.candidates and \
            mapping.candidates[0].evidence else ""
        table.add_row(plain(org_id), plain(f"{mapping.object}.{mapping.field}"),
                      plain(mapping.concept or ""), f"{mapping.confidence:.2f}", plain(evidence))
    return table


@friendly_errors
def match_command(
    paths: Annotated[list[str], typer.Argument(
        help="Org metadata: sfdx folders, Metadata API folders or describe JSON files, as "
             "PATH (the org id is its folder or file name) or ORG=PATH.")],
    out: Annotated[Path | None, typer.Option("--out", "-o",
                                             help="Write the mapping JSON here.")] = None,
    model: Annotated[Path | None, typer.Option(help="Matcher file (default: shipped).")] = None,
    lenient: Annotated[bool, typer.Option(
        "--lenient", help="Skip bad metadata files and fields instead of failing.")] = False,
    show: Annotated[int, typer.Option(help="Mapped fields to list.")] = 15,
    as_json: Annotated[bool, typer.Option("--json", help="Print the mapping JSON.")] = False,
) -> None:
    """Map every field of one or more orgs onto the ontology; align custom fields across orgs.

    The org id of each PATH is its folder or file name without extension.
    """
    from fedcrm.cli.schema import load_for_command
    from fedcrm.matching.api import DEFAULT_MODEL_PATH, match

    if show < 0:
        raise ConfigError(f"--show must be 0 or more, got {show}")
    named = [_org_path(spec) for spec in paths]
    given = [org for org, _ in named if org is not None]
    twice = sorted({org for org in given if given.count(org) > 1})
    if twice:
        raise ConfigError(f"ORG=PATH names org(s) {', '.join(twice)} more than once; give each "
                          "PATH its own org id (emea=orgs/emea us=orgs/us)")
    if out is not None:
        # --out naming the model replaced the matcher file with mapping JSON
        check_output_file(out, option="--out", example="mapping.json",
                          inputs={"PATH": [path for _, path in named],
                                  "--model": model or DEFAULT_MODEL_PATH})
    schemas = [load_for_command(path, org_id=org, lenient=lenient) for org, path in named]
    ids = [schema.org_id for schema in schemas]
    repeated = sorted({org for org in ids if ids.count(org) > 1})
    if repeated:
        raise ConfigError(f"org id(s) {', '.join(repeated)} come from more than one PATH (an "
                          "org's id is its folder or file name without extension); name each "
                          "org as ORG=PATH (emea=orgs/emea/force-app), or give the folder above "
                          "(orgs/emea)")
    for schema in schemas:  # on stderr, so --json output stays clean
        skipped = [warning for warning in schema.warnings if warning.skipped]
        if skipped:
            error_console.print(plain(f"warning: {schema.org_id}: --lenient skipped "
                                      f"{len(skipped)} item(s):", "yellow"), highlight=False)
            for warning in skipped:
                error_console.print(plain(f"  - {warning}"), highlight=False, soft_wrap=True)
    proposal = match(schemas, model=model, strict=not lenient)
    if out is not None:
        proposal.to_json(out)
    if as_json:
        print_json(proposal)
        return
    console.print(org_paths_summary(proposal))
    if show:
        console.print(mapped_fields_table(proposal, show))
    blocks = Counter(
        f.block for _, f in proposal.iter_fields() if f.block and f.block.startswith("custom:")
    )
    if blocks:
        console.print(plain(f"{len(blocks)} shared custom block(s): "
                            + ", ".join(f"{b} ({n} orgs)" for b, n in blocks.most_common(8))))
    if out is not None:
        console.print(plain(f"Wrote {out}"))


def _org_path(spec: str) -> tuple[str | None, Path]:
    """``ORG=PATH`` or ``PATH`` (a path that exists is a path, even with ``=`` in it)."""
    org, equals, path = spec.partition("=")
    # an org id is a plain name: "C:\\data\\q" or "orgs/q" before an "=" is part of a path
    if equals and path and re.fullmatch(r"[\w.-]+", org) and not Path(spec).exists():
        return org, Path(path)
    return None, Path(spec)


def check_annotations_option(folder: Path | None) -> None:
    """Refuse an ``--annotations`` that is not a folder, naming the option."""
    if folder is not None and not folder.is_dir():
        what = "a file" if folder.exists() else "no such folder"
        raise ConfigError(f"--annotations {folder}: {what}; give the annotations folder "
                          "(the one with sources.yaml and labels/)")


@matcher_app.command("train")
@friendly_errors
def train_command(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Where to write the model "
                                             "(default: the shipped model file).")] = None,
    annotations: Annotated[Path | None, typer.Option(help="Annotations folder.")] = None,
    metadata_root: Annotated[Path | None, typer.Option(
        help="Folder holding the real orgs' public metadata.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Train the matcher on annotations/ (real + synthetic orgs) and save it."""
    from fedcrm.matching.api import DEFAULT_MODEL_PATH
    from fedcrm.matching.corpus import default_annotations_dir, default_metadata_root, load_corpus
    from fedcrm.matching.model import FieldMatcher
    from fedcrm.ontology import load_ontology

    check_annotations_option(annotations)
    # checked before training, the shipped model's place too (a read-only install lost the
    # whole run at the save), and never a file of the corpus it reads
    check_output_file(out or DEFAULT_MODEL_PATH, option="--out", example="matcher.zip",
                      inputs={"--annotations": annotations or default_annotations_dir(),
                              "--metadata-root": metadata_root or default_metadata_root()})
    if out is None:
        error_console.print(plain(f"note: no --out: the shipped matcher {DEFAULT_MODEL_PATH} "
                                  "will be replaced (give --out FILE to keep it)", "yellow"),
                            highlight=False)
    ontology = load_ontology()
    with console.status("Loading the annotated corpus"):
        corpus = load_corpus(annotations, metadata_root=metadata_root, ontology=ontology)
    console.print(f"{len(corpus)} annotated orgs, "
                  f"{sum(o.schema.n_fields for o in corpus)} fields")
    matcher = FieldMatcher(random_state=seed).fit(corpus, ontology, progress=True)
    path = matcher.save(out or DEFAULT_MODEL_PATH)
    report = matcher.training_report_
    table = Table(title=f"Trained matcher {matcher.version_}")
    table.add_column("Quantity")
    table.add_column("Value", justify="right")
    for key, value in report.items():
        table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    console.print(table)
    for threshold, what in ((matcher.threshold_, "no field will be mapped to a concept"),
                            (matcher.pair_threshold_, "no new custom block will be proposed")):
        if math.isinf(threshold):
            # an infinite threshold reads as "inf" in the table and means this
            error_console.print(plain(
                f"note: {what}: no threshold reached the precision target on this corpus "
                "(too few annotated orgs or fields); annotate more orgs", "yellow"),
                highlight=False)
    console.print(plain(f"Saved {path}"))


@matcher_app.command("evaluate")
@friendly_errors
def evaluate_command(
    orgs: Annotated[list[str] | None, typer.Option(
        "--org", help="Held-out real orgs (default: every real org).")] = None,
    annotations: Annotated[Path | None, typer.Option(help="Annotations folder.")] = None,
    metadata_root: Annotated[Path | None, typer.Option(help="Real orgs' metadata.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed of the matcher fitted per fold.")] = 0,
) -> None:
    """Leave-one-org-out evaluation on the real orgs, against the baselines."""
    from fedcrm.matching.corpus import default_annotations_dir, load_corpus
    from fedcrm.matching.evaluate import default_methods, evaluate
    from fedcrm.ontology import load_ontology

    check_annotations_option(annotations)
    ontology = load_ontology()
    real = load_corpus(annotations, metadata_root=metadata_root, ontology=ontology,
                       kinds=("real",))
    folder = annotations if annotations is not None else default_annotations_dir()
    if not real:
        raise ConfigError(
            f"{folder / 'sources.yaml'} lists no org of kind 'real'; evaluation holds out "
            "real orgs only: add one (kind: real) or pass --annotations with real orgs"
        )
    if orgs:
        unknown = sorted(set(orgs) - {o.org_id for o in real})
        if unknown:
            raise ConfigError(
                f"--org {', '.join(unknown)}: not a real org of {folder / 'sources.yaml'}; "
                f"real orgs are {', '.join(o.org_id for o in real)}"
            )
    synthetic = load_corpus(annotations, ontology=ontology, kinds=("synthetic",))
    with console.status("Evaluating") as status:
        results = evaluate(real, test_orgs=orgs, extra_train=synthetic, ontology=ontology,
                           methods=default_methods(random_state=seed),
                           progress=lambda message: status.update(message))
    rows = [r.row() for r in results]
    if as_json:
        print_json(rows)
        return
    table = Table(title="Leave-one-org-out on real orgs")
    for column in rows[0]:
        table.add_column(column, justify="left" if column == "method" else "right")
    for row in rows:
        table.add_row(*(plain("" if v is None else v) for v in row.values()))
    console.print(table)


@matcher_app.command("info")
@friendly_errors
def info_command(
    model: Annotated[Path | None, typer.Option(help="Matcher file (default: shipped).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show how the (shipped) matcher was trained."""
    from fedcrm.matching.api import default_matcher

    matcher = default_matcher(model)
    info = {"version": matcher.version_, "ontology_version": matcher.ontology_version_,
            "params": matcher.get_params(), "training_report": matcher.training_report_}
    if as_json:
        print_json(info)
        return
    table = Table(title=f"Matcher {matcher.version_} (ontology {matcher.ontology_version_})")
    table.add_column("Setting")
    table.add_column("Value", justify="right")
    for section in ("params", "training_report"):
        for key, value in info[section].items():
            shown = f"{value:.3f}" if isinstance(value, float) else str(value)
            table.add_row(plain(f"{section}.{key}"), plain(shown))
    console.print(table)


@matcher_app.command("corpus")
@friendly_errors
def corpus_command(
    annotations: Annotated[Path | None, typer.Option(help="Annotations folder.")] = None,
    federation: Annotated[list[str] | None, typer.Option(
        help="ORGS:SEED of a synthetic federation (repeatable; default: the shipped set).")
    ] = None,
) -> None:
    """(Re)write the synthetic orgs of the annotated corpus from the generator."""
    from fedcrm.matching.corpus import default_annotations_dir
    from fedcrm.synth.corpus import DEFAULT_FEDERATIONS, write_synthetic_corpus

    chosen = DEFAULT_FEDERATIONS
    if federation:
        try:
            chosen = tuple((int(a), int(b)) for a, b in (f.split(":") for f in federation))
        except ValueError:
            from fedcrm.errors import ConfigError

            raise ConfigError(
                f"--federation takes ORGS:SEED, e.g. 6:101; got {federation}") from None
    folder = annotations or default_annotations_dir()
    with console.status("Generating synthetic orgs"):
        written = write_synthetic_corpus(folder, chosen)
    console.print(plain(f"Wrote {len(written)} synthetic orgs into {folder}"))
