"""The ground-truth mapping of a written federation: ``ground_truth.jsonl`` of every org as a
:class:`~fedcrm.matching.proposal.MappingProposal`, so the pipeline can run on the true
mapping (to measure the tasks without the matcher's errors)."""

from __future__ import annotations

from pathlib import Path

from fedcrm.errors import MappingError
from fedcrm.matching.corpus import FieldLabel, read_labels
from fedcrm.matching.proposal import CUSTOM_BLOCK_PREFIX, FieldMapping, MappingProposal, OrgMapping
from fedcrm.ontology import load_ontology

TRUTH_MATCHER = "ground-truth"


def mapping_from_labels(labels: dict[str, list[FieldLabel]],
                        ontology_version: str | None = None) -> MappingProposal:
    """org id → its field labels, as a mapping with confidence 1: a concept label maps the
    field to the concept, a group label to the custom block ``custom:<group>``."""
    version = ontology_version or load_ontology().version
    orgs = [
        OrgMapping(org=org_id, fields=[
            FieldMapping(object=label.object, field=label.field, concept=label.concept,
                         confidence=1.0,
                         block=label.concept or (f"{CUSTOM_BLOCK_PREFIX}{label.group}"
                                                 if label.group else None))
            for label in org_labels
        ])
        for org_id, org_labels in labels.items()
    ]
    return MappingProposal(ontology_version=version, matcher_version=TRUTH_MATCHER, orgs=orgs)


def truth_mapping(folder: str | Path, orgs: list[str] | None = None) -> MappingProposal:
    """The ground-truth mapping of the federation written in ``folder`` (``fedcrm synth`` or
    ``fedcrm datasets export`` output): one ``<org>/ground_truth.jsonl`` per org."""
    root = Path(folder)
    if not root.is_dir():
        what = "is a file" if root.exists() else "does not exist"
        raise MappingError(f"{root} {what}; give the folder `fedcrm synth --out` or `fedcrm "
                           "datasets export --out` wrote (it holds federation.json)")
    names = orgs if orgs is not None else sorted(
        p.name for p in root.iterdir() if (p / "ground_truth.jsonl").is_file())
    if not names:
        raise MappingError(f"{root}: no <org>/ground_truth.jsonl files; this folder holds no "
                           "federation with ground truth")
    return mapping_from_labels({name: read_labels(root / name / "ground_truth.jsonl")
                                for name in names})
