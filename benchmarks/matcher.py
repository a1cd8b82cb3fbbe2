"""Matcher quality and speed, with baselines, on the real public orgs (leave-one-org-out).

Reproduce:  .venv/bin/python benchmarks/matcher.py            (quality + speed)
            .venv/bin/python benchmarks/matcher.py --scratch-only   (honest from scratch)
            .venv/bin/python benchmarks/matcher.py --speed    (speed only)
            .venv/bin/python benchmarks/matcher.py --no-valentine

Quality: every real org in annotations/ is held out in turn; each method is trained on the
other real orgs plus the synthetic orgs of annotations/ and scored on the held-out org (for
cross-org pairs, the other orgs keep their annotated blocks, as in a federation a new org
joins). The matcher is also scored with every real org matched together from scratch, none
approved (the held-out org's pairs only; the other orgs were in its training data, so this is
optimistic for their side), and honestly from scratch: the real orgs are dealt into groups
(--scratch-groups, default 4), each fold holds out two groups, trains on the rest (real orgs
and synthetic ones) and matches the held-out orgs together, none of which it saw; each pair
of orgs is counted once. That trains on fewer real orgs than the shipped matcher, so it is a
little pessimistic instead. Valentine 1.1 (Coma, SimilarityFlooding; schema-only) needs
Python >= 3.12: it runs in its own virtual environment under ~/.cache/fedcrm/valentine-venv,
created on first use from a Python 3.12+ interpreter if one is found, and is reported as
skipped otherwise.

Speed: matching one 2,000-field org, embeddings included, with the shipped matcher.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from fedcrm.matching.calibration import threshold_for_precision
from fedcrm.matching.corpus import AnnotatedOrg, load_corpus
from fedcrm.matching.evaluate import (
    FieldKey,
    Method,
    Prediction,
    default_methods,
    evaluate,
    evaluate_from_scratch,
    matcher_method,
    pair_scores,
    pair_sets,
    scratch_pair_counts,
)
from fedcrm.matching.features import normalise
from fedcrm.matching.text import split_api_name
from fedcrm.ontology import Ontology, load_ontology
from fedcrm.schema.models import OrgSchema, SObjectSchema, SourceFormat

console = Console(width=None if sys.stdout.isatty() else 200)  # tables whole in logs
HERE = Path(__file__).resolve().parent
VALENTINE_ENV = Path.home() / ".cache" / "fedcrm" / "valentine-venv"


# ------------------------------------------------------------------ valentine
def find_python312() -> str | None:
    """A Python >= 3.12 interpreter on this machine, if any."""
    candidates = [shutil.which(n) for n in ("python3.13", "python3.12")]
    pyenv = Path.home() / ".pyenv" / "versions"
    if pyenv.is_dir():
        candidates += [str(p / "bin" / "python") for p in sorted(pyenv.iterdir(), reverse=True)
                       if p.name.startswith(("3.12", "3.13"))]
    for candidate in candidates:
        if not candidate or not Path(candidate).exists():
            continue
        # a pyenv shim exists even when that version is not enabled: ask the interpreter
        probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info >= (3, 12))"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == "True":
            return candidate
    return None


def valentine_python() -> str | None:
    """The interpreter of the Valentine venv, creating it if needed (None if impossible)."""
    python = VALENTINE_ENV / "bin" / "python"
    if python.exists():
        return str(python)
    base = find_python312()
    if base is None:
        return None
    try:
        subprocess.run([base, "-m", "venv", str(VALENTINE_ENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "valentine==1.1.0"],
                       check=True)
    except subprocess.CalledProcessError:
        shutil.rmtree(VALENTINE_ENV, ignore_errors=True)
        return None
    return str(python)


def run_valentine(python: str, algorithm: str, tasks: list[dict]) -> dict[str, list]:
    """Send tasks to the runner in the Valentine venv; results by task id."""
    process = subprocess.run(
        [python, str(HERE / "valentine_runner.py")],
        input=json.dumps({"algorithm": algorithm, "tasks": tasks}),
        capture_output=True, text=True, check=True,
    )
    return json.loads(process.stdout)["results"]


def _columns(sobject: SObjectSchema, custom_only: bool = True) -> dict[str, str]:
    """Unique column name (label) → field API name."""
    columns: dict[str, str] = {}
    for meta in sobject.fields:
        if custom_only and not meta.is_custom:
            continue
        name = meta.label or meta.api_name
        while name in columns:
            name += " #"
        columns[name] = meta.api_name
    return columns


def valentine_method(python: str, algorithm: str, target_precision: float = 0.95) -> Method:
    """Valentine's schema-only matcher: field→concept per object, then field↔field."""

    def concept_scores(orgs: Sequence[AnnotatedOrg], ontology: Ontology
                       ) -> dict[FieldKey, list[tuple[str, float]]]:
        tasks, lookups = [], {}
        for org in orgs:
            for sobject in org.schema.objects:
                concepts = ontology.for_object(sobject.api_name)
                source = _columns(sobject)
                if not concepts or not source:
                    continue
                target = {c.label: c.id for c in concepts}
                task_id = f"{org.org_id}|{sobject.api_name}"
                tasks.append({"id": task_id, "source": list(source), "target": list(target)})
                lookups[task_id] = (org.org_id, sobject.api_name, source, target)
        scores: dict[FieldKey, list[tuple[str, float]]] = {}
        for task_id, matches in run_valentine(python, algorithm, tasks).items():
            org_id, sobject, source, target = lookups[task_id]
            for column, concept_label, score in matches:
                key = (org_id, sobject, source[column])
                scores.setdefault(key, []).append((target[concept_label], score))
        for key in scores:
            scores[key].sort(key=lambda item: -item[1])
        return scores

    def pair_scores(queries: Sequence[AnnotatedOrg], context: Sequence[AnnotatedOrg]
                    ) -> list[tuple[FieldKey, str, float]]:
        """(query field, partner block, score) for fields on like-named objects."""
        tasks, lookups = [], {}
        for org in queries:
            for sobject in org.schema.objects:
                source = _columns(sobject)
                for other in context:
                    if other.org_id == org.org_id:
                        continue
                    for partner in other.schema.objects:
                        same = normalise(" ".join(split_api_name(partner.api_name))) == \
                            normalise(" ".join(split_api_name(sobject.api_name)))
                        if not same:
                            continue
                        target = {
                            name: api for name, api in _columns(partner).items()
                            if (other.block_of(partner.api_name, api) or "").startswith(
                                "custom:")
                        }
                        if not source or not target:
                            continue
                        task_id = f"{org.org_id}|{sobject.api_name}|{other.org_id}"
                        tasks.append({"id": task_id, "source": list(source),
                                      "target": list(target)})
                        lookups[task_id] = (org.org_id, sobject.api_name, source, other,
                                            partner.api_name, target)
        found = []
        for task_id, matches in run_valentine(python, algorithm, tasks).items():
            org_id, sobject, source, other, partner, target = lookups[task_id]
            for column, target_column, score in matches:
                block = other.block_of(partner, target[target_column])
                found.append(((org_id, sobject, source[column]), block, score))
        return found

    def run(train: Sequence[AnnotatedOrg], test: Sequence[AnnotatedOrg],
            context: Sequence[AnnotatedOrg], ontology: Ontology) -> Prediction:
        real_train = [o for o in train if o.source.kind == "real"]
        train_scores = concept_scores(real_train, ontology)
        tops, correct = [], []
        for org in real_train:
            for sobject, meta in org.schema.iter_fields():
                ranked = train_scores.get((org.org_id, sobject.api_name, meta.api_name))
                if meta.is_custom and ranked:
                    tops.append(ranked[0][1])
                    correct.append(ranked[0][0] == org.label(sobject.api_name,
                                                             meta.api_name).concept)
        threshold = threshold_for_precision(np.array(tops), np.array(correct), target_precision,
                                            min_support=5)
        pair_tops, pair_correct = [], []
        for key, block, score in pair_scores(real_train, real_train):
            org = next(o for o in real_train if o.org_id == key[0])
            pair_tops.append(score)
            pair_correct.append(org.block_of(key[1], key[2]) == block)
        pair_threshold = threshold_for_precision(np.array(pair_tops), np.array(pair_correct),
                                                 target_precision, min_support=5)
        prediction = Prediction()
        test_scores = concept_scores(test, ontology)
        for org in test:
            for sobject, meta in org.schema.iter_fields():
                key = (org.org_id, sobject.api_name, meta.api_name)
                if meta.is_custom:
                    ranked = test_scores.get(key, [])
                    accept = ranked[0][0] if ranked and ranked[0][1] >= threshold else None
                    prediction.ranked[key] = ranked[:5]
                    prediction.accepted[key] = accept
                    prediction.blocks[key] = accept
                else:
                    standard = ontology.standard_concept(sobject.api_name, meta.api_name)
                    prediction.blocks[key] = standard.id if standard else None
        best: dict[FieldKey, tuple[float, str | None]] = {}
        for key, block, score in pair_scores(test, context):
            if prediction.blocks.get(key) is None and score > best.get(key, (-1.0, None))[0]:
                best[key] = (score, block)
        for key, (score, block) in best.items():
            if score >= pair_threshold:
                prediction.blocks[key] = block
        return prediction

    return run


# ------------------------------------------------------------- pair errors
def capturing(method: Method, store: dict[FieldKey, str | None],
              scratch: list[tuple[int, int, int]]) -> Method:
    """``method``, also keeping the blocks it gives each held-out org's fields and the pair
    counts when all orgs are matched from scratch."""

    def run(train, test, context, ontology) -> Prediction:  # type: ignore[no-untyped-def]
        prediction = method(train, test, context, ontology)
        held = {o.org_id for o in test}
        store.update({k: v for k, v in prediction.blocks.items() if k[0] in held})
        if prediction.scratch_blocks:
            scratch.append(scratch_pair_counts(prediction.scratch_blocks, test, context))
        return prediction

    return run


def pair_errors(
    blocks: dict[FieldKey, str | None], corpus: Sequence[AnnotatedOrg], chosen: Sequence[str]
) -> list[dict]:
    """Where the matcher's cross-org pairs are won and lost: true, found and predicted pairs
    by the kind of the held-out field, and what the matcher gave the field of a missed pair."""
    is_custom = {(org.org_id, o.api_name, m.api_name): m.is_custom
                 for org in corpus for o, m in org.schema.iter_fields()}
    rows: dict[str, dict] = {}
    for org_id in chosen:
        held_org = [o for o in corpus if o.org_id == org_id]
        others = [o for o in corpus if o.org_id != org_id]
        sets = pair_sets(blocks, held_org, others)
        for pair, is_true in [*((p, True) for p in sets.true_pairs),
                              *((p, False) for p in sets.predicted_pairs - sets.true_pairs)]:
            held = next(k for k in pair if k[0] == org_id)
            truth, given = sets.truth_blocks[held], sets.predicted_blocks.get(held)
            block = (truth if is_true else given) or ""
            kind = ("standard field" if not is_custom[held]
                    else "custom field → shared custom block" if block.startswith("custom:")
                    else "custom field → concept")
            row = rows.setdefault(kind, {"held-out field": kind, "true": 0, "found": 0,
                                         "false": 0, "missed: abstained": 0,
                                         "missed: other concept": 0,
                                         "missed: other block": 0})
            if not is_true:
                row["false"] += 1
                continue
            row["true"] += 1
            if pair in sets.predicted_pairs:
                row["found"] += 1
            elif given is None:
                row["missed: abstained"] += 1
            elif not given.startswith("custom:") and given != truth:
                row["missed: other concept"] += 1
            else:
                row["missed: other block"] += 1
    return list(rows.values())


# ---------------------------------------------------------------------- speed
def big_org(corpus: Sequence[AnnotatedOrg], n_fields: int) -> OrgSchema:
    """One org of about ``n_fields`` fields, made by pooling the corpus orgs' objects."""
    objects: dict[str, list] = {}
    total = 0
    for org in corpus:
        for sobject in org.schema.objects:
            for meta in sobject.fields:
                if total >= n_fields:
                    break
                fields = objects.setdefault(sobject.api_name, [])
                if any(f.api_name.lower() == meta.api_name.lower() for f in fields):
                    meta = meta.model_copy(update={"api_name": f"{org.org_id[:3]}_"
                                                               f"{meta.api_name}"})
                    if any(f.api_name.lower() == meta.api_name.lower() for f in fields):
                        continue
                fields.append(meta)
                total += 1
    return OrgSchema(
        org_id="big", source_format=SourceFormat.PYTHON,
        objects=tuple(SObjectSchema(api_name=name, fields=tuple(fields))
                      for name, fields in objects.items()),
    )


def speed(corpus: Sequence[AnnotatedOrg], n_fields: int = 2000) -> list[dict]:
    """Seconds to match one org of ``n_fields`` fields with the shipped matcher."""
    from fedcrm.matching.api import DEFAULT_MODEL_PATH
    from fedcrm.matching.model import FieldMatcher

    schema = big_org(corpus, n_fields)
    start = time.perf_counter()
    matcher = FieldMatcher.load(DEFAULT_MODEL_PATH)
    matcher.embedder.encode(["warm up"])
    loaded = time.perf_counter() - start
    rows = []
    for run in ("first (cold embedding cache)", "second (same org again)"):
        start = time.perf_counter()
        proposal = matcher.predict([schema])
        rows.append({"run": run, "fields": schema.n_fields,
                     "seconds": round(time.perf_counter() - start, 2),
                     "mapped": sum(f.concept is not None for _, f in proposal.iter_fields())})
    rows.insert(0, {"run": "load matcher + embedding model", "fields": 0,
                    "seconds": round(loaded, 2), "mapped": 0})
    for row in rows:
        row["embeddings"] = matcher.embedder.resolved_precision
    return rows


def print_table(title: str, rows: list[dict]) -> None:
    table = Table(title=title)
    for column in rows[0]:
        left = column in ("method", "run", "fold")
        table.add_column(str(column), justify="left" if left else "right")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", action="store_true", help="Only the speed benchmark.")
    parser.add_argument("--no-valentine", action="store_true", help="Skip Valentine.")
    parser.add_argument("--org", action="append",
                        help="Held-out real org of the leave-one-org-out tables (repeatable).")
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    parser.add_argument("--scratch-only", action="store_true",
                        help="Only the honest from-scratch regime (no org seen in training).")
    parser.add_argument("--scratch-groups", type=int, default=4,
                        help="Groups the real orgs are dealt into for it (default 4).")
    args = parser.parse_args()
    if args.speed and args.scratch_only:
        parser.error("--speed and --scratch-only each run one part only; choose one")
    if args.org and args.scratch_only:
        parser.error("--org holds out orgs for the leave-one-org-out tables; the from-scratch "
                     "regime uses every real org")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    ontology = load_ontology()
    real = load_corpus(kinds=("real",), ontology=ontology)
    synthetic = load_corpus(kinds=("synthetic",), ontology=ontology)
    output: dict = {}
    if not args.speed:
        with console.status("matching from scratch") as status:
            scratch_rows = evaluate_from_scratch(real, n_groups=args.scratch_groups,
                                                 extra_train=synthetic, ontology=ontology,
                                                 progress=lambda m: status.update(m))
        print_table(f"fedcrm matcher: real orgs none of which it saw matched together from "
                    f"scratch ({args.scratch_groups} groups, two held out per fold)",
                    scratch_rows)
        output["from_scratch_unseen"] = scratch_rows
    if not args.speed and not args.scratch_only:
        methods = default_methods()
        matcher_blocks: dict[FieldKey, str | None] = {}
        scratch: list[tuple[int, int, int]] = []
        methods["fedcrm matcher"] = capturing(matcher_method(from_scratch=True),
                                              matcher_blocks, scratch)
        skipped = []
        python = None if args.no_valentine else valentine_python()
        if python is None:
            skipped.append("Valentine (no Python >= 3.12 with valentine available)"
                           if not args.no_valentine else "Valentine (--no-valentine)")
        else:
            methods["Valentine Coma"] = valentine_method(python, "Coma")
            methods["Valentine SimilarityFlooding"] = valentine_method(python,
                                                                       "SimilarityFlooding")
        with console.status("evaluating") as status:
            results = evaluate(real, test_orgs=args.org, extra_train=synthetic,
                               ontology=ontology, methods=methods,
                               progress=lambda m: status.update(m))
        rows = [r.row() for r in results]
        print_table(f"Leave-one-org-out on {len(real)} real orgs "
                    f"(+{len(synthetic)} synthetic training orgs)", rows)
        for note in skipped:
            console.print(f"skipped: {note}")
        curve = next(r for r in results if r.name == "fedcrm matcher").risk_coverage
        print_table("fedcrm matcher: risk-coverage (top-1 decisions on held-out custom fields)",
                    [{k: round(v, 3) for k, v in point.items()} for point in curve[::2]])
        output["quality"] = rows
        errors = pair_errors(matcher_blocks, real, args.org or [o.org_id for o in real])
        print_table("fedcrm matcher: cross-org pairs by the held-out field's kind", errors)
        output["pair_errors"] = errors
        hits, true, predicted = (sum(c[i] for c in scratch) for i in range(3))
        precision, recall, f1 = pair_scores(hits, true, predicted)
        from_scratch = {"true": true, "found": hits, "predicted": predicted,
                        "pair_P": round(precision, 3), "pair_R": round(recall, 3),
                        "pair_F1": round(f1, 3)}
        print_table("fedcrm matcher: all real orgs matched together from scratch (none "
                    "approved; pairs with the held-out org's fields)", [from_scratch])
        output["from_scratch"] = from_scratch
        output["risk_coverage"] = curve
        output["skipped"] = skipped
    if not args.scratch_only:
        rows = speed([*real, *synthetic])
        print_table(f"Matching one 2,000-field org (shipped matcher, {os.cpu_count()} CPU "
                    f"cores)", rows)
        output["speed"] = rows
    console.print("reproduce: .venv/bin/python benchmarks/matcher.py"
                  + (" --speed" if args.speed else "")
                  + (" --scratch-only" if args.scratch_only else "")
                  + (f" --scratch-groups {args.scratch_groups}"
                     if args.scratch_groups != 4 else ""))
    if args.json:
        args.json.write_text(json.dumps(output, indent=1))


if __name__ == "__main__":
    sys.exit(main())
