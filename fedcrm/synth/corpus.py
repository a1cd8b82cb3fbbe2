"""Write synthetic orgs into the matcher's annotated corpus (``annotations/``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

from fedcrm.matching.corpus import OrgSource, read_sources, write_labels
from fedcrm.synth.federation import generate_federation

#: (orgs, seed) of the synthetic federations in the shipped corpus
DEFAULT_FEDERATIONS: tuple[tuple[int, int], ...] = ((6, 101), (6, 102), (6, 103), (6, 104))

SOURCES_HEADER = """\
# Every annotated org: where its metadata comes from and under which licence.
# Real orgs' metadata is not copied here; it is read from the public projects' files
# (default location ../shared/data/salesforce-metadata/orgs/<path>, or $FEDCRM_METADATA_ROOT).
# Synthetic orgs are written by `fedcrm matcher corpus` (schemas/ and labels/).
"""


def write_synthetic_corpus(
    folder: str | Path, federations: Sequence[tuple[int, int]] = DEFAULT_FEDERATIONS
) -> list[str]:
    """Generate the synthetic federations and write their orgs (schema + labels) into
    ``folder``, replacing earlier synthetic entries of ``sources.yaml``; returns the org ids.

    Only metadata and labels are kept, so a tiny record scale is used.
    """
    root = Path(folder)
    sources = [s for s in read_sources(root) if s.kind != "synthetic"]
    for stale in (root / "schemas").glob("*.json"):
        stale.unlink()
    for label_file in (root / "labels").glob("syn*.jsonl"):
        label_file.unlink()
    written: list[str] = []
    for n_orgs, seed in federations:
        federation = generate_federation(n_orgs, seed=seed, scale=0.005)
        for org in federation.orgs:
            org_id = f"syn{seed}_{org.org_id}"
            schema = org.schema.with_org_id(org_id)
            (root / "schemas").mkdir(parents=True, exist_ok=True)
            (root / "schemas" / f"{org_id}.json").write_text(
                schema.model_dump_json(exclude_none=True) + "\n", encoding="utf-8"
            )
            write_labels(root / "labels" / f"{org_id}.jsonl",
                         [label.model_copy(update={"org": org_id}) for label in org.labels])
            sources.append(OrgSource(
                org=org_id, kind="synthetic", licence="CC0-1.0",
                description=f"fedcrm.synth.generate_federation({n_orgs}, seed={seed}): "
                            f"{org.profile.language}, {org.profile.naming_style} naming",
            ))
            written.append(org_id)
    document = {"orgs": [s.model_dump(exclude_none=True) for s in sources]}
    (root / "sources.yaml").write_text(
        SOURCES_HEADER + yaml.safe_dump(document, sort_keys=False, allow_unicode=True,
                                        width=100),
        encoding="utf-8",
    )
    return written
