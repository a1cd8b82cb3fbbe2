"""A real dataset split into orgs, and writing it in the layout ``fedcrm synth`` uses, so that
``fedcrm.demo.run_demo(data=...)`` and every other pipeline step read it unchanged.

```
out/
  federation.json            manifest: dataset, source, split, reference date (and why),
                             excluded columns, per org: key values, language, naming style,
                             record and label counts, and where every field comes from
  <org>/metadata/...         sfdx source (objects/<Object>/fields/<Field>.field-meta.xml)
  <org>/records/<Object>.csv Id first, then one column per field (AccountId on Opportunity)
  <org>/ground_truth.jsonl   one FieldLabel per field: concept, or group, or neither
  <org>/units.json           "Object.Field" → FieldEncoding for non-canonical storage
```
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict

from fedcrm.datasets.build import FieldSource, RealOrg
from fedcrm.datasets.spec import DatasetDefinition
from fedcrm.matching.corpus import AnnotatedOrg, OrgSource
from fedcrm.synth.folder import write_federation_folder, write_org_folder

#: outcome of each source row of the task object: 1.0, 0.0, or NaN (unlabelled)
OutcomeFunction = Callable[[pd.DataFrame], pd.Series]


class OutcomeCounts(BaseModel):
    """How many of an org's task records are labelled, and how many are positive."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    records: int
    labelled: int
    positive: int
    unlabelled: int

    @property
    def positive_rate(self) -> float:
        """Share of labelled records that are positive (0 when nothing is labelled)."""
        return self.positive / self.labelled if self.labelled else 0.0


class OrgEntry(BaseModel):
    """One org in ``federation.json``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    org_id: str
    split_values: tuple[str, ...]
    language: str
    name_language: str
    naming_style: str
    namespace: str | None = None
    yes_no_picklists: bool
    spelling_variant: int
    records: dict[str, int]
    outcome: OutcomeCounts
    fields: tuple[FieldSource, ...]


class DatasetManifest(BaseModel):
    """``federation.json`` of a real dataset written as a federation."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    generator: str = "fedcrm.datasets"
    format_version: int = 1
    dataset: str
    title: str
    task: str
    source: str
    licence: str
    files: tuple[str, ...]
    split_key: str
    reference_date: dt.date
    reference_date_reason: str
    seed: int
    max_rows: int | None
    excluded_columns: dict[str, str]
    notes: tuple[str, ...]
    orgs: tuple[OrgEntry, ...]
    reproduce: str


@dataclass
class RealFederation:
    """A real dataset as several orgs (see :mod:`fedcrm.datasets`)."""

    definition: DatasetDefinition
    orgs: list[RealOrg]
    seed: int
    max_rows: int | None
    outcome: OutcomeFunction

    @property
    def name(self) -> str:
        """The dataset's name (``telco-churn``, ...)."""
        return self.definition.name

    @property
    def reference_date(self) -> dt.date:
        """The fixed "today" of the records."""
        return self.definition.reference_date

    def org(self, org_id: str) -> RealOrg:
        """The org called ``org_id``."""
        for org in self.orgs:
            if org.org_id == org_id:
                return org
        raise KeyError(f"no org {org_id!r}; have {[o.org_id for o in self.orgs]}")

    def outcome_counts(self, org: RealOrg) -> OutcomeCounts:
        """Labelled and positive records of the task object in ``org``."""
        sobject = self.definition.task_object
        y = self.outcome(org.source_rows[sobject])
        labelled = y.notna()
        return OutcomeCounts(records=len(y), labelled=int(labelled.sum()),
                             positive=int((y[labelled] == 1).sum()),
                             unlabelled=int((~labelled).sum()))

    @property
    def manifest(self) -> DatasetManifest:
        """The ``federation.json`` contents."""
        definition = self.definition
        command = f"fedcrm datasets export {definition.name} --out DIR --seed {self.seed}"
        if self.max_rows is not None:
            command += f" --max-rows {self.max_rows}"
        return DatasetManifest(
            dataset=definition.name, title=definition.title, task=definition.task.value,
            source=definition.source, licence=definition.licence, files=definition.files,
            split_key=definition.split_key, reference_date=definition.reference_date,
            reference_date_reason=definition.reference_reason, seed=self.seed,
            max_rows=self.max_rows, excluded_columns=dict(definition.excluded),
            notes=definition.notes,
            orgs=tuple(OrgEntry(
                org_id=org.org_id, split_values=org.spec.keys, language=org.spec.language,
                name_language=org.spec.name_language, naming_style=org.spec.naming_style,
                namespace=org.namespace, yes_no_picklists=org.spec.yes_no_picklists,
                spelling_variant=org.spec.variant, records=org.records,
                outcome=self.outcome_counts(org), fields=tuple(org.fields),
            ) for org in self.orgs),
            reproduce=command,
        )

    def annotated_orgs(self) -> list[AnnotatedOrg]:
        """Every org as an :class:`~fedcrm.matching.corpus.AnnotatedOrg` (schema and one label
        per field), e.g. to evaluate a matcher on real values."""
        result = []
        for org in self.orgs:
            source = OrgSource(org=org.org_id, kind="real", licence=self.definition.licence,
                               description=f"{self.definition.title}: rows with "
                                           f"{self.definition.split_key} in {list(org.spec.keys)}",
                               repository=self.definition.source)
            annotated = AnnotatedOrg(schema=org.schema, source=source)
            for label in org.labels:
                annotated.labels[label.key] = label
            result.append(annotated)
        return result

    def write(self, out_dir: str | Path) -> Path:
        """Write the federation under ``out_dir`` (empty, missing, or an earlier output of
        ``fedcrm datasets export`` / ``fedcrm synth``, whose org folders are replaced).

        Everything is first written into a hidden folder inside ``out_dir`` and only then
        moved into place, so a failure while writing (a full disk, a bad path) leaves an
        earlier export exactly as it was, and no manifest ever describes half an export
        (:func:`fedcrm.synth.folder.write_federation_folder`). Anything of the user's in the
        folder stays. Raises :class:`ConfigError` naming the folder if it cannot be used or
        written.
        """
        orgs = {org.org_id: org for org in self.orgs}

        def write_org(org_id: str, folder: Path) -> None:
            org = orgs[org_id]
            write_org_folder(folder, org.schema, org.tables, org.labels, org.units)

        return write_federation_folder(Path(out_dir), list(orgs), write_org,
                                       self.manifest.model_dump_json(indent=2) + "\n")
