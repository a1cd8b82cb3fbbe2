"""Declarative description of a real dataset as a federation: which orgs it splits into, and
how each source column becomes a Salesforce field (object, type, concept or shared block).

A dataset module (``telco``, ``bank``, ``leads``, ``sales``) is mostly one
:class:`DatasetDefinition`; :mod:`fedcrm.datasets.build` turns it into orgs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from fedcrm.errors import FedcrmError
from fedcrm.ontology.models import Task

#: How a source column is stored in the org:
#:
#: * ``text`` / ``id`` — Text (``id``: an external-id Text field);
#: * ``number`` / ``currency`` — Number / Currency, the source's digits kept as written;
#: * ``checkbox`` — Checkbox (``true``/``false``; a blank source value reads ``false``, as
#:   Salesforce checkboxes cannot be empty);
#: * ``boolean`` — a Checkbox, or a yes/no Picklist in the org's language in orgs that store
#:   flags that way (:attr:`OrgSpec.yes_no_picklists`);
#: * ``picklist`` — Picklist in the org's spelling (see :mod:`fedcrm.datasets.vocabulary`);
#: * ``date`` — Date (``YYYY-MM-DD``), parsed from the source's format;
#: * ``lookup`` — a reference to another object's record ``Id`` (prepared by the loader).
FieldType = Literal["text", "id", "number", "currency", "checkbox", "boolean", "picklist",
                    "date", "lookup"]


#: the object whose records each task predicts (as in :mod:`fedcrm.tasks`)
TASK_OBJECT: dict[Task, str] = {Task.CHURN: "Account", Task.LEAD_CONVERSION: "Lead",
                                Task.WIN_PROBABILITY: "Opportunity"}


class DatasetError(FedcrmError):
    """A real dataset is missing or not as expected; the message names the file and column."""


class SourceValueError(DatasetError):
    """A source cell a dataset cannot read: ``file`` (``folder/file.csv`` under the datasets
    root), ``column`` and the ``cell`` as written (stripped; "" for a blank), so the loader
    can name the first line holding it."""

    def __init__(self, message: str, *, file: str, column: str, cell: str) -> None:
        super().__init__(message)
        self.file, self.column, self.cell = file, column, cell


@dataclass(frozen=True)
class ColumnSpec:
    """How one source column becomes one field in every org of a dataset.

    Exactly one of ``standard`` (a standard field's API name; standard fields carry no label,
    as a metadata retrieve shows them) and ``words`` (a key of
    :data:`fedcrm.datasets.vocabulary.WORDS` the org names its custom field from) is given.
    ``concept`` is the ontology concept the field means, ``group`` the shared block of a
    field no concept covers; at most one of the two.
    """

    source: str
    sobject: str
    field_type: FieldType
    standard: str | None = None
    words: str | None = None
    concept: str | None = None
    group: str | None = None
    #: value set in :data:`~fedcrm.datasets.vocabulary.VALUE_SPELLINGS` (picklists) and/or
    #: :data:`~fedcrm.datasets.vocabulary.VALUE_CODES` (canonical codes for ``units.json``)
    values: str | None = None
    #: booleans: the source spellings that mean true (anything else non-blank is false)
    true_values: tuple[str, ...] = ()
    #: booleans: the source spellings that mean false, when there are several ("No", "No
    #: internet service"); any other value is an error. Left empty, a column may hold one
    #: spelling besides the true ones
    false_values: tuple[str, ...] = ()
    #: numbers: digits after the decimal point declared in the metadata
    decimals: int = 0
    #: a :data:`~fedcrm.datasets.vocabulary.UNIT_WORDS` key named in the label and API name
    unit: str | None = None
    #: dates: the source's ``strptime`` format
    date_format: str | None = None
    #: lookups: the referenced object and the relationship name
    reference_to: str | None = None
    relationship_name: str | None = None
    #: the file the column comes from (default: the dataset's first file)
    file: str | None = None
    #: how the column was derived when it is not a plain source column (for the manifest)
    derived: str | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if (self.standard is None) == (self.words is None):
            raise ValueError(f"column {self.source!r}: give exactly one of standard and words")
        if self.concept is not None and self.group is not None:
            raise ValueError(f"column {self.source!r}: a concept or a group, not both")
        if self.field_type in ("checkbox", "boolean") and not self.true_values:
            raise ValueError(f"column {self.source!r}: a boolean needs its true_values")
        if self.field_type == "date" and not self.date_format:
            raise ValueError(f"column {self.source!r}: a date needs its date_format")
        if self.field_type == "lookup" and not (self.reference_to and self.relationship_name):
            raise ValueError(f"column {self.source!r}: a lookup needs reference_to and "
                             "relationship_name")


@dataclass(frozen=True)
class OrgSpec:
    """One org of a dataset: which rows it holds and how it names and spells things."""

    org_id: str
    #: values of the dataset's split key whose rows this org holds
    keys: tuple[str, ...]
    language: Literal["en", "de", "fr", "es"]
    #: language of API names (English, or the org's language)
    name_language: Literal["en", "de", "fr", "es"]
    #: a :data:`fedcrm.synth.naming.STYLES` entry
    naming_style: str
    #: flags with a concept are yes/no picklists (``Ja``/``Nein``) rather than checkboxes
    yes_no_picklists: bool = False
    #: which spelling variant of every value set (and of yes/no) the org uses
    variant: int = 0
    #: share of custom fields with a description
    description_rate: float = 0.3


@dataclass(frozen=True)
class DatasetDefinition:
    """A real dataset as a federation: source, split, orgs, columns, and what is left out."""

    name: str
    title: str
    task: Task
    #: folder under the crm-datasets root, and the files read from it
    folder: str
    files: tuple[str, ...]
    split_key: str
    orgs: tuple[OrgSpec, ...]
    columns: tuple[ColumnSpec, ...]
    reference_date: dt.date
    reference_reason: str
    source: str
    licence: str
    #: source columns deliberately not written, with the reason
    excluded: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def columns_of(self, sobject: str) -> tuple[ColumnSpec, ...]:
        """The columns that become fields of ``sobject``."""
        return tuple(c for c in self.columns if c.sobject == sobject)

    @property
    def task_object(self) -> str:
        """The object whose records the dataset's task predicts."""
        return TASK_OBJECT[self.task]

    @property
    def objects(self) -> tuple[str, ...]:
        """Objects the dataset fills, in the order their columns are declared."""
        return tuple(dict.fromkeys(c.sobject for c in self.columns))
