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
import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict

from fedcrm.datasets.build import FieldSource, RealOrg
from fedcrm.datasets.spec import DatasetDefinition
from fedcrm.errors import ConfigError
from fedcrm.matching.corpus import AnnotatedOrg, OrgSource, write_labels
from fedcrm.synth.sfdx_writer import write_metadata

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
        earlier export exactly as it was. ``federation.json`` is removed before the org folders
        are swapped and written last, so no manifest ever describes half an export. Only
        ``federation.json`` and earlier org folders (those holding ``ground_truth.jsonl``) are
        ever removed; anything else of the user's stays. Raises :class:`ConfigError` naming
        the folder if it cannot be used or written.
        """
        out = Path(out_dir)
        created = not out.exists()
        self._check_output_folder(out)
        try:
            out.mkdir(parents=True, exist_ok=True)
            staging = out / f"{_STAGING_PREFIX}{uuid.uuid4().hex[:12]}.tmp"
            staging.mkdir()
        except OSError as exc:
            raise ConfigError(f"cannot write the federation to {out} "
                              f"({exc.strerror or exc})") from exc
        try:
            try:
                for org in self.orgs:
                    _write_org(org, staging / org.org_id)
                (staging / "federation.json").write_text(
                    self.manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
            except OSError as exc:
                raise ConfigError(
                    f"cannot write the federation to {out} ({exc.strerror or exc}); "
                    + ("nothing was written" if created else
                       "what the folder held before is unchanged")) from exc
            try:
                _swap_in(staging, out)
            except OSError as exc:
                raise ConfigError(
                    f"cannot move the new export into {out} ({exc.strerror or exc}); the "
                    "folder is left without federation.json, so nothing reads it as a "
                    "federation: delete it and export again") from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if created and out.is_dir() and not any(out.iterdir()):
                out.rmdir()
        return out

    def _check_output_folder(self, out: Path) -> None:
        """Refuse an output folder whose contents are not an earlier export (before writing)."""
        if out.exists() and not out.is_dir():
            raise ConfigError(f"output path {out} is a file; give a folder")
        if not out.is_dir():
            return
        try:
            entries = [e for e in out.iterdir() if not e.name.startswith(_STAGING_PREFIX)]
        except OSError as exc:
            raise ConfigError(f"cannot read output folder {out} ({exc.strerror or exc})") from exc
        if entries and not (out / "federation.json").is_file():
            raise ConfigError(f"output folder {out} is not empty and holds no federation.json; "
                              "choose an empty folder so nothing of yours is overwritten")
        for org in self.orgs:
            folder = out / org.org_id
            if (folder.exists() or folder.is_symlink()) and not _is_export_org(folder):
                raise ConfigError(f"{folder} is not an org folder of an earlier export (it has "
                                  "no ground_truth.jsonl); move it away so nothing of yours is "
                                  "overwritten")


#: hidden folders inside the output folder where a new export is written before it is moved
#: into place (left over only if the process was killed; the next export removes them)
_STAGING_PREFIX = ".fedcrm-export-"


def _is_export_org(folder: Path) -> bool:
    """An org folder written by an earlier export (``ground_truth.jsonl`` marks it)."""
    return folder.is_dir() and not folder.is_symlink() and (folder / "ground_truth.jsonl").is_file()


def _swap_in(staging: Path, out: Path) -> None:
    """Replace the earlier export in ``out`` by the one written in ``staging``: manifest out,
    earlier org folders out, new org folders in (renames on one file system), manifest in."""
    (out / "federation.json").unlink(missing_ok=True)
    for previous in sorted(out.iterdir()):
        if previous.name.startswith(_STAGING_PREFIX) and previous != staging:
            shutil.rmtree(previous, ignore_errors=True)  # a killed export's leftovers
        elif _is_export_org(previous):
            shutil.rmtree(previous)
    for folder in sorted(staging.iterdir()):
        if folder.is_dir():
            os.replace(folder, out / folder.name)
    os.replace(staging / "federation.json", out / "federation.json")


def _write_org(org: RealOrg, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_metadata(org.schema, folder / "metadata", None)
    records = folder / "records"
    records.mkdir(exist_ok=True)
    for sobject, table in org.tables.items():
        table.to_csv(records / f"{sobject}.csv", index=False, lineterminator="\n")
    write_labels(folder / "ground_truth.jsonl", org.labels)
    units = {f"{obj}.{name}": encoding.model_dump(mode="json", exclude_defaults=True)
             for (obj, name), encoding in sorted(org.units.items())}
    (folder / "units.json").write_text(json.dumps(units, indent=2, ensure_ascii=False) + "\n",
                                       encoding="utf-8")
