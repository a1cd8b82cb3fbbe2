"""Annotation task files: what goes to the annotator and what comes back.

Three formats, one task per selected field:

* ``jsonl`` — one :class:`AnnotationTask` per line;
* ``csv`` — one row per field for spreadsheets (UTF-8 with a byte-order mark, so Excel shows
  accents): org, object, field, label, description, type, picklist values, the matcher's top
  candidates, and the answer columns ``concept``, ``group``, ``annotator``, ``note`` left blank;
* ``label-studio`` — Label Studio's task import JSON (a ``data`` dict per task, the matcher's
  best candidate as a pre-annotation) plus a labelling config (``<name>.label-config.xml``)
  whose ``concept`` choices are loaded per task from ``data.options``.

The answer, in every format: ``concept`` is an ontology concept id, or ``none`` when no
concept fits; ``group`` (only with no concept) names a cross-org group for a custom field other
orgs share. A row with neither is unanswered and skipped on import. Label Studio's *export*
(``annotations[].result[].value.choices``; ``text`` for the text areas) is read back, as is its
flat JSON-MIN export. A CSV saved with semicolons (Excel in a European locale) is read too.

CSV cells are guarded against formula injection: a cell that starts with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return is written with a leading ``'`` (so a spreadsheet shows it as
text instead of running it; OWASP, "CSV Injection"), and that ``'`` is dropped again on import.
CSV import is strict: an unclosed quote, text after a closing quote, a cell over the csv
module's size limit, or a cell that swallowed the following rows (a stray ``"`` at the start of
a note) is an error naming the spreadsheet row and the physical line.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fedcrm._csv import csv_safe, csv_unescaped
from fedcrm._files import json_lines, write_atomically
from fedcrm.annotate.pool import NO_CONCEPT, PoolField
from fedcrm.annotate.strategies import Query
from fedcrm.errors import ConfigError, MappingError, validation_problems
from fedcrm.ontology.models import Ontology

TaskFormat = Literal["jsonl", "csv", "label-studio"]
FORMATS: tuple[str, ...] = ("jsonl", "csv", "label-studio")
_EXTENSIONS = {"jsonl": ".jsonl", "csv": ".csv", "label-studio": ".json"}
#: how many candidates a CSV row and a Label Studio task show
SHOWN_CANDIDATES = 5
CSV_COLUMNS = (
    "task_id", "org", "object", "field", "label", "type", "description", "picklist_values",
    "top_candidates", "priority", "round", "strategy", "concept", "group", "annotator", "note",
)
_REQUIRED_COLUMNS = ("org", "object", "field", "concept")
#: the keys (columns) import reads; a key that differs from one only in case is refused
ANSWER_KEYS = ("org", "object", "field", "concept", "group", "annotator", "labelled_at",
               "round", "note")
#: a spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV Injection")
#: a round number as an answer or a task file gives it: a whole number >= 0, not a bool
RoundNumber = Annotated[int, Field(strict=True, ge=0)]


def utc_now() -> str:
    """The current time as ISO 8601 UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def utc_timestamp(text: str) -> str:
    """An ISO 8601 time (``2026-01-31T14:05:00Z``, ``2026-01-31 15:05+01:00``, ``2026-01-31``)
    normalised to UTC (``2026-01-31T14:05:00+00:00``); a time without an offset is taken as UTC.

    Raises :class:`ValueError` for anything else (``next tuesday``, ``31/01/2026``).
    """
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


class TaskCandidate(BaseModel):
    """One candidate concept shown to the annotator."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    concept: str
    score: float
    label: str = ""


class AnnotationTask(BaseModel):
    """One field to label, as written to a task file (answer fields blank until labelled)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    task_id: str
    org: str
    object: str
    field: str
    label: str
    type: str
    description: str = ""
    picklist_values: list[str] = Field(default_factory=list)
    candidates: list[TaskCandidate] = Field(default_factory=list)
    priority: float = 0.0
    rank: int = 0
    round: RoundNumber | None = None
    strategy: str = ""
    #: the answer: a concept id, "none", or blank (unanswered)
    concept: str | None = None
    #: cross-org group for a field without a concept
    group: str | None = None
    annotator: str | None = None
    labelled_at: str | None = None
    note: str | None = None


class Answer(BaseModel):
    """One answered field as read back from a task file, before validation."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    org: str
    object: str
    field: str
    #: concept id, or None when the annotator said no concept fits
    concept: str | None = None
    group: str | None = None
    annotator: str | None = None
    labelled_at: str | None = None
    round: RoundNumber | None = None
    note: str | None = None
    #: where the answer was read (``tasks.csv row 3 (line 5)``, ``tasks.jsonl:3``,
    #: ``tasks.json task 3``), for messages
    where: str = ""


class AnswerSheet(BaseModel):
    """Everything read from one answers file."""

    path: str
    format: str
    answers: list[Answer]
    #: rows / tasks nobody answered (skipped)
    unanswered: int = 0


# ------------------------------------------------------------------------------- export
def make_tasks(
    queries: Iterable[Query | PoolField],
    *,
    round: int | None = None,
    strategy: str = "",
    ontology: Ontology | None = None,
) -> list[AnnotationTask]:
    """Task records for selected fields (candidate labels filled from ``ontology``)."""
    labels = {c.id: c.label for c in ontology.concepts} if ontology is not None else {}
    tasks = []
    for position, item in enumerate(queries):
        field, priority, rank = (
            (item.field, item.priority, item.rank) if isinstance(item, Query)
            else (item, 0.0, position)
        )
        tasks.append(AnnotationTask(
            task_id=field.task_id, org=field.org, object=field.object, field=field.field,
            label=field.label, type=field.kind, description=field.description,
            picklist_values=list(field.picklist_values),
            candidates=[TaskCandidate(concept=c, score=round_score(p), label=labels.get(c, ""))
                        for c, p in field.candidates[:SHOWN_CANDIDATES]],
            priority=round_score(priority), rank=rank, round=round, strategy=strategy,
        ))
    return tasks


def round_score(value: float) -> float:
    """Scores as written to task files (4 decimals)."""
    return round(float(value), 4)


def format_of(path: str | Path, given: str | None = None) -> str:
    """The task format: ``given``, else from the extension (.jsonl, .csv, .json)."""
    if given is not None:
        if given not in FORMATS:
            raise ConfigError(f"unknown format {given!r}; use one of {list(FORMATS)}")
        return given
    suffix = Path(path).suffix.lower()
    for name, extension in _EXTENSIONS.items():
        if suffix == extension:
            return name
    raise ConfigError(
        f"{path}: cannot tell the format from the extension {suffix!r}; name the file "
        ".jsonl, .csv or .json (Label Studio), or pass the format"
    )


def _format_of_extension(path: str | Path) -> str | None:
    suffix = Path(path).suffix.lower()
    return next((name for name, extension in _EXTENSIONS.items() if extension == suffix), None)


def output_format(path: str | Path, given: str | None = None, *,
                  default: str | None = None) -> str:
    """The format to write ``path`` in: ``given``, else the extension's, else ``default``.

    A ``given`` format that contradicts the extension (``tasks.jsonl`` written as CSV) is
    refused: a file whose name lies about its format cannot be read back by its name. Without
    ``given`` or ``default``, an unknown extension is refused as in :func:`format_of`.
    """
    by_extension = _format_of_extension(path)
    if given is not None:
        chosen = format_of(path, given)
        if by_extension is not None and by_extension != chosen:
            raise ConfigError(
                f"{path}: the extension {Path(path).suffix!r} means the {by_extension} format, "
                f"but the format given is {chosen}; name the file "
                f"*{_EXTENSIONS[chosen]}, or leave the format (--format) out to write "
                f"{by_extension}"
            )
        return chosen
    if by_extension is not None:
        return by_extension
    return default if default is not None else format_of(path)


def _candidates_text(task: AnnotationTask) -> str:
    return "; ".join(f"{c.concept} ({c.score:.2f})" for c in task.candidates)


def _display_text(task: AnnotationTask) -> str:
    lines = [f"{task.object}.{task.field}: {task.label!r} ({task.type})"]
    if task.description:
        lines.append(f"Description: {task.description}")
    if task.picklist_values:
        lines.append("Picklist values: " + ", ".join(task.picklist_values[:30]))
    if task.candidates:
        lines.append("Matcher's candidates: " + _candidates_text(task))
    return "\n".join(lines)


def _options(task: AnnotationTask, ontology: Ontology | None) -> list[dict[str, str]]:
    """Choices for one Label Studio task: the candidates, "none", then the object's concepts
    (every concept for fields of custom objects)."""
    values = [c.concept for c in task.candidates] + [NO_CONCEPT]
    if ontology is not None:
        own = ontology.for_object(task.object)
        values += [c.id for c in (own or ontology.concepts)]
    hints = {c.id: c.label for c in ontology.concepts} if ontology is not None else {}
    hints[NO_CONCEPT] = "no concept of the ontology fits this field"
    return [{"value": v, "hint": hints.get(v, "")} for v in dict.fromkeys(values)]


LABEL_CONFIG = """<View>
  <Header value="$task_id"/>
  <Text name="field" value="$text"/>
  <Header value="Which concept is this field? ('none' if no concept fits)" size="6"/>
  <Choices name="concept" toName="field" choice="single" value="$options"/>
  <Header value="No concept, but other orgs have the same field? Name a group:" size="6"/>
  <TextArea name="group" toName="field" maxSubmissions="1" editable="true" rows="1"/>
  <TextArea name="note" toName="field" maxSubmissions="1" editable="true" rows="2"
            placeholder="note for a hard call (optional)"/>
</View>
"""


def label_config_path(tasks_path: str | Path) -> Path:
    """Where the Label Studio labelling config of a task file goes."""
    path = Path(tasks_path)
    return path.with_name(f"{path.stem}.label-config.xml")


def write_tasks(
    tasks: Sequence[AnnotationTask],
    path: str | Path,
    *,
    format: str | None = None,
    ontology: Ontology | None = None,
    matcher_version: str | None = None,
) -> list[Path]:
    """Write a task file (and, for Label Studio, its labelling config); return the paths.

    Each file is written atomically: an interrupted write leaves the old file or none."""
    target = Path(path)
    chosen = output_format(target, format)
    if target.is_dir():
        extension = "json" if chosen == "label-studio" else chosen
        raise ConfigError(f"{target} is a folder; give a task file name such as "
                          f"{target / ('tasks.' + extension)}")
    if chosen == "jsonl":
        write_atomically(target, "".join(t.model_dump_json(exclude_none=True) + "\n"
                                         for t in tasks))
        return [target]
    if chosen == "csv":
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for task in tasks:
            writer.writerow(_csv_row(task))
        # the byte-order mark tells spreadsheets the file is UTF-8
        write_atomically(target, buffer.getvalue().encode("utf-8-sig"))
        return [target]
    documents = []
    for number, task in enumerate(tasks, start=1):
        data = task.model_dump(mode="json", exclude_none=True)
        data.pop("candidates")
        data.update(text=_display_text(task), candidates=_candidates_text(task),
                    options=_options(task, ontology))
        document: dict[str, Any] = {"id": number, "data": data}
        if task.candidates:
            best = task.candidates[0]
            document["predictions"] = [{
                "model_version": matcher_version or "fedcrm-matcher", "score": best.score,
                "result": [{"from_name": "concept", "to_name": "field", "type": "choices",
                            "value": {"choices": [best.concept]}}],
            }]
        documents.append(document)
    write_atomically(target, json.dumps(documents, indent=1, ensure_ascii=False) + "\n")
    config = label_config_path(target)
    write_atomically(config, LABEL_CONFIG)
    return [target, config]


def _csv_row(task: AnnotationTask) -> dict[str, str]:
    """The CSV cells of a task, each made safe to open in a spreadsheet (:func:`csv_safe`)."""
    cells = {
        "task_id": task.task_id, "org": task.org, "object": task.object, "field": task.field,
        "label": task.label, "type": task.type, "description": task.description,
        "picklist_values": "; ".join(task.picklist_values),
        "top_candidates": _candidates_text(task), "priority": f"{task.priority:.4f}",
        "round": "" if task.round is None else str(task.round), "strategy": task.strategy,
        "concept": task.concept or "", "group": task.group or "",
        "annotator": task.annotator or "", "note": task.note or "",
    }
    return {column: csv_safe(value) for column, value in cells.items()}


def write_label_studio_export(tasks: Sequence[AnnotationTask], path: str | Path) -> Path:
    """Write answered tasks the way Label Studio exports them (``annotations[].result``).

    For tests and simulations: it stands in for a person labelling in Label Studio.
    """
    documents = []
    for number, task in enumerate(tasks, start=1):
        data = task.model_dump(mode="json", exclude_none=True,
                               exclude={"concept", "group", "annotator", "labelled_at", "note"})
        results: list[dict[str, Any]] = []
        if task.concept:
            results.append({"from_name": "concept", "to_name": "field", "type": "choices",
                            "value": {"choices": [task.concept]}})
        for name in ("group", "note"):
            value = getattr(task, name)
            if value:
                results.append({"from_name": name, "to_name": "field", "type": "textarea",
                                "value": {"text": [value]}})
        annotations = []
        if results:
            annotations.append({
                "id": number, "result": results, "was_cancelled": False,
                "completed_by": {"id": 1, "email": task.annotator or "annotator@example.org"},
                "created_at": task.labelled_at or utc_now(),
                "updated_at": task.labelled_at or utc_now(),
            })
        documents.append({"id": number, "data": data, "annotations": annotations})
    target = Path(path)
    target.write_text(json.dumps(documents, indent=1, ensure_ascii=False) + "\n",
                      encoding="utf-8")
    return target


# ------------------------------------------------------------------------------- import
class _Row(BaseModel):
    """The columns of an answer row that import reads (task columns are ignored)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    org: str = Field(min_length=1)
    object: str = Field(min_length=1)
    field: str = Field(min_length=1)
    concept: str | None = None
    group: str | None = None
    annotator: str | None = None
    labelled_at: str | None = None
    round: int | None = None
    note: str | None = None

    @field_validator("round", mode="before")
    @classmethod
    def _whole_round(cls, value: Any) -> Any:
        """A round is a whole number >= 0: ``2`` or ``"2"`` (a CSV cell), never ``true``,
        ``-7`` or ``2.5``."""
        if value is None:
            return None
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        raise ValueError(f"the round must be a whole number >= 0 (e.g. 2), not {value!r}; "
                         "correct it or clear it")


def _decision(concept: str | None, group: str | None,
              where: str) -> tuple[str | None, str | None] | None:
    """The normalised ``(concept, group)`` of an answer, or None when it gives neither.

    ``none`` or ``-`` (any case) in the concept column is "no concept" (``concept`` None);
    ``custom:<group>`` there means the group; a ``custom:`` prefix of a group is dropped.
    Raises :class:`MappingError` naming ``where`` for a ``custom:`` without a group, or a
    ``custom:`` concept that contradicts the group column.
    """
    concept = (concept or "").strip() or None
    group = (group or "").strip() or None
    if concept is not None and concept.startswith("custom:"):
        # a shared block typed into the concept column means "no concept, this group"
        block = concept.removeprefix("custom:").strip()
        if not block:
            raise MappingError(f"{where}: {concept!r} in the concept column names no group; "
                               "write custom:<group> (e.g. custom:account.loyalty_tier), or "
                               "'none' if no concept fits")
        if group is not None and group.removeprefix("custom:").strip() != block:
            raise MappingError(f"{where}: {concept!r} in the concept column but group "
                               f"{group!r}; give one of them")
        concept, group = None, block
    if group is not None:
        named = group.removeprefix("custom:").strip()
        if not named:
            raise MappingError(f"{where}: group {group!r} names no group; write the group "
                               "(e.g. account.loyalty_tier) or leave the cell empty")
        group = named
    if concept is None and group is None:
        return None
    if concept is not None and concept.lower() in (NO_CONCEPT, "-"):
        concept = None
    return concept, group


def _answer(row: dict[str, Any], where: str) -> Answer | None:
    """One row → an answer; None if unanswered. Raises MappingError naming ``where``."""
    cleaned = {k: (None if v == "" else v) for k, v in row.items() if isinstance(k, str)}
    try:
        parsed = _Row.model_validate(cleaned)
    except ValidationError as exc:
        raise MappingError(f"{where}: malformed answer row "
                           f"({validation_problems(exc, root='row')})") from exc
    decision = _decision(parsed.concept, parsed.group, where)
    if decision is None:
        return None
    concept, group = decision
    return Answer(org=parsed.org, object=parsed.object, field=parsed.field, concept=concept,
                  group=group, annotator=parsed.annotator, labelled_at=parsed.labelled_at,
                  round=parsed.round, note=parsed.note, where=where)


def _read_jsonl(path: Path, text: str) -> Iterator[tuple[dict[str, Any], str]]:
    for number, line in enumerate(json_lines(text), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise MappingError(f"{path}:{number}: not a JSON object ({exc.msg})") from exc
        if not isinstance(item, dict):
            raise MappingError(f"{path}:{number}: expected a JSON object per line")
        _refuse_misspelt_keys(item, f"{path}:{number}", "key")
        yield item, f"{path}:{number}"


def _refuse_misspelt_keys(keys: Iterable[Any], where: str, what: str) -> None:
    """Refuse a key (column) that is an answer key in another case (``Concept``): it would be
    ignored, and its answers silently counted as unanswered."""
    for key in keys:
        if not isinstance(key, str) or key in ANSWER_KEYS:
            continue
        meant = next((k for k in ANSWER_KEYS if k == key.strip().casefold()), None)
        if meant is not None:
            raise MappingError(f"{where}: the {what} {key!r} is not read (names are lower "
                               f"case); rename it {meant!r}")


def _csv_delimiter(text: str) -> str:
    """``,`` unless the header only has the required columns when split on ``;`` or a tab
    (Excel in a European locale saves "CSV" with semicolons)."""
    for delimiter in (",", ";", "\t"):
        try:
            header = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
        except csv.Error:
            continue  # the strict reader of _csv_records names the problem
        if all(column in {h.strip() for h in header} for column in _REQUIRED_COLUMNS):
            return delimiter
    return ","


def _csv_problem(error: csv.Error, delimiter: str) -> str:
    """What a :class:`csv.Error` means for a person with a spreadsheet, and the fix."""
    message = str(error)
    if "end of data" in message:
        return ("a quoted cell is never closed (a stray '\"' at the start of a cell?); "
                "remove the quote or close it")
    if "expected after" in message:
        return (f"text after the closing '\"' of a quoted cell, where {delimiter!r} or the "
                "end of the row should be (a stray '\"' at the start of a cell?); quote the "
                "whole cell, doubling the quotes inside it, or remove the quotes")
    if "field limit" in message:
        return (f"a cell is longer than {csv.field_size_limit()} characters (a stray '\"' "
                "that swallowed the rest of the file, or a pasted text?); shorten it")
    return f"not readable as CSV ({message}); save the file again as 'CSV UTF-8'"


def _csv_records(path: Path, text: str,
                 delimiter: str) -> Iterator[tuple[list[str], int, int]]:
    """``(cells, spreadsheet row, first physical line)`` of every record, the header being row
    1 and a blank line a row of its own, as a spreadsheet counts them.

    The reader is strict; a :class:`csv.Error` becomes a :class:`MappingError` naming the row.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    row = 0
    while True:
        line = reader.line_num + 1
        row += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise MappingError(f"{path} row {row} (line {line}): "
                               f"{_csv_problem(exc, delimiter)}") from exc
        yield cells, row, line


def _swallowed_rows(cell: str, delimiter: str, header: Sequence[str]) -> int:
    """How many lines after the first of a multi-line ``cell`` look like rows of the sheet
    that a stray ``"`` pulled into this cell: they split into exactly as many cells as the
    header, and their org, object and field cells each hold one word (a line of a note that
    happens to hold as many commas has prose there)."""
    width = len(header)
    if width < 2 or ("\n" not in cell and "\r" not in cell):
        return 0
    keys = [header.index(column) for column in ("org", "object", "field") if column in header]

    def row_like(line: str) -> bool:
        cells = next(csv.reader([line], delimiter=delimiter), [])
        return len(cells) == width and all(
            cells[k].strip() and not any(c.isspace() for c in cells[k].strip()) for k in keys)

    return sum(1 for line in cell.splitlines()[1:] if row_like(line))


def _read_csv(path: Path, text: str) -> Iterator[tuple[dict[str, Any], str]]:
    delimiter = _csv_delimiter(text)
    records = _csv_records(path, text, delimiter)
    first = next(records, None)
    header = [h.strip() for h in first[0]] if first is not None else []
    missing = [c for c in _REQUIRED_COLUMNS if c not in header]
    if missing:
        first_line = text.split("\n", 1)[0]
        hint = (" The header looks semicolon-separated: save the file as 'CSV UTF-8 (comma "
                "delimited)'." if ";" in first_line else "")
        raise MappingError(
            f"{path} row 1 (line 1): missing column(s) {missing}; the header must include "
            f"{list(_REQUIRED_COLUMNS)} (export the tasks with `fedcrm annotate select "
            f"--format csv` and fill in the concept column).{hint}"
        )
    _refuse_misspelt_keys(header, f"{path} row 1 (line 1)", "column")
    named = [column.strip() for column in header if column.strip()]
    repeated = sorted({column for column in named if named.count(column) > 1})
    if repeated:
        # the last cell would silently win: two concept columns could disagree
        raise MappingError(f"{path} row 1 (line 1): column(s) {repeated} appear more than "
                           "once; keep one of each")
    for cells, row, line in records:
        where = f"{path} row {row} (line {line})"
        if len(cells) > len(header):
            raise MappingError(f"{where}: more cells than header columns "
                               f"(a stray {delimiter!r} or an unquoted cell?)")
        for column, cell in zip(header, cells, strict=False):
            swallowed = _swallowed_rows(cell, delimiter, header)
            if swallowed:
                raise MappingError(
                    f"{where}: the {column or 'unnamed'} cell runs over {swallowed} more "
                    f"line(s) that look like rows of their own (a stray '\"' at the start "
                    f"of the cell quotes everything up to the next '\"'); remove the stray "
                    f"quote or close it"
                )
        if not any(cell.strip() for cell in cells):
            continue
        values = {column: csv_unescaped(cell) for column, cell in zip(header, cells,
                                                                      strict=False)}
        yield values, where


def _completed_by(annotation: dict[str, Any]) -> str | None:
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        return str(who.get("email") or who.get("username") or
                   f"label-studio-user-{who.get('id')}")
    if who is not None:
        return f"label-studio-user-{who}"
    return None


def _single_choice(value: Any, where: str) -> Any:
    """A JSON-MIN choice: a string, a list of one, or ``{"choices": [...]}``."""
    if isinstance(value, dict):
        value = value.get("choices")
    if isinstance(value, list):
        if len(value) > 1:
            raise MappingError(f"{where}: {len(value)} concepts chosen ({value}); choose one")
        value = value[0] if value else None
    return value


def _joined_text(value: Any) -> Any:
    """A JSON-MIN text area: a string, a list of strings, or ``{"text": [...]}``."""
    if isinstance(value, dict):
        value = value.get("text")
    if isinstance(value, list):
        value = " ".join(str(t).strip() for t in value if str(t).strip()) or None
    return value


def _json_min_row(task: dict[str, Any], where: str) -> dict[str, Any]:
    """A JSON-MIN task (data and one annotation flattened into one object) as an answer row.

    The annotation time (``updated_at``, else ``created_at``) becomes ``labelled_at``; a
    numeric ``annotator`` (Label Studio's user id) becomes ``label-studio-user-<id>``, as in
    the full export.
    """
    row = dict(task)
    row["concept"] = _single_choice(row.get("concept"), where)
    for name in ("group", "note"):
        row[name] = _joined_text(row.get(name))
    annotator = row.get("annotator")
    if isinstance(annotator, dict):
        row["annotator"] = _completed_by({"completed_by": annotator})
    elif isinstance(annotator, int) and not isinstance(annotator, bool):
        row["annotator"] = f"label-studio-user-{annotator}"
    if not row.get("labelled_at"):
        stamp = row.get("updated_at") or row.get("created_at")
        row["labelled_at"] = str(stamp) if stamp else None
    return row


#: the ``from_name`` of every control in the labelling config fedcrm writes
_LABEL_STUDIO_CONTROLS = ("concept", "group", "note")


def _label_studio_answer(result: list[Any], where: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for region in result:
        if not isinstance(region, dict) or not isinstance(region.get("value"), dict):
            raise MappingError(f"{where}: malformed annotation result (expected objects "
                               "with 'from_name' and a 'value' object)")
        name, value = region.get("from_name"), region["value"]
        if name not in _LABEL_STUDIO_CONTROLS:
            # an edited labelling config: its answers would silently count as unanswered
            raise MappingError(
                f"{where}: a result from {name!r}, which is not a control of fedcrm's "
                f"labelling config ({', '.join(_LABEL_STUDIO_CONTROLS)}); label with the "
                "config written beside the task file, or rename the control to one of these")
        if name == "concept":
            choices = value.get("choices") or []
            if isinstance(choices, str):  # one choice written as a string, not a list
                choices = [choices]
            if len(choices) > 1:
                raise MappingError(f"{where}: {len(choices)} concepts chosen ({choices}); "
                                   "choose one")
            if choices:
                values["concept"] = str(choices[0])
        elif name in ("group", "note"):
            given = value.get("text") or []
            if isinstance(given, str):  # a string was iterated into its characters
                given = [given]
            texts = [t for t in given if str(t).strip()]
            if texts:
                values[name] = " ".join(str(t).strip() for t in texts)
    return values


def _read_label_studio(path: Path, text: str) -> Iterator[tuple[dict[str, Any], str]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MappingError(f"{path}:{exc.lineno}: not JSON ({exc.msg})") from exc
    if not isinstance(document, list):
        raise MappingError(f"{path}: expected a JSON list of tasks (Label Studio's JSON or "
                           "JSON-MIN export)")
    for number, task in enumerate(document, start=1):
        where = f"{path} task {task.get('id', number) if isinstance(task, dict) else number}"
        if not isinstance(task, dict):
            raise MappingError(f"{where}: expected a JSON object")
        if "data" not in task:  # JSON-MIN: data and answers flattened into one object
            _refuse_misspelt_keys(task, where, "key")
            yield _json_min_row(task, where), where
            continue
        data = task["data"]
        if not isinstance(data, dict):
            raise MappingError(f"{where}: 'data' must be an object")
        row = {k: data.get(k) for k in ("org", "object", "field", "round")}
        answers: list[tuple[dict[str, str], tuple[str | None, str | None]]] = []
        for annotation in task.get("annotations") or []:
            if not isinstance(annotation, dict) or annotation.get("was_cancelled"):
                continue
            values = _label_studio_answer(annotation.get("result") or [], where)
            # only annotations that give a concept or a group answer; a note alone does not
            decision = _decision(values.get("concept"), values.get("group"), where)
            if decision is None:
                continue
            values["annotator"] = _completed_by(annotation) or ""
            values["labelled_at"] = str(annotation.get("updated_at") or
                                        annotation.get("created_at") or "")
            answers.append((values, decision))
        if len({decision for _, decision in answers}) > 1:
            said = "; ".join(f"{values['annotator'] or '?'}: {_said(decision)}"
                             for values, decision in answers)
            raise MappingError(f"{where} ({row['org']} {row['object']}.{row['field']}): "
                               f"annotators disagree ({said}); settle it in Label Studio "
                               "and export again")
        if answers:
            row.update(answers[-1][0])
            # annotators who agree share the label: credit each and keep every note
            for key, joiner in (("annotator", ", "), ("note", " | ")):
                said = list(dict.fromkeys(v[key] for v, _ in answers if v.get(key)))
                if said:
                    row[key] = joiner.join(said)
        yield row, where


def _said(decision: tuple[str | None, str | None]) -> str:
    concept, group = decision
    return concept or (f"group {group}" if group else NO_CONCEPT)


def read_answers(path: str | Path, *, format: str | None = None) -> AnswerSheet:
    """Read the answered tasks in ``path`` (any of the three formats).

    Malformed input raises :class:`MappingError` naming the file and line (the spreadsheet
    row and the line of a CSV; the task of Label Studio), and so does a file without a single
    task (a CSV with its header only is a wrong or emptied file, not an import of nothing).
    Validation against the ontology and the orgs' metadata happens on merge
    (:func:`fedcrm.annotate.merge.merge_answers`).
    """
    source = Path(path)
    chosen = format_of(source, format)
    try:
        text = source.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise MappingError(f"{source}: cannot read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise MappingError(f"{source}: not UTF-8 text; save the file as UTF-8") from exc
    readers = {"jsonl": _read_jsonl, "csv": _read_csv, "label-studio": _read_label_studio}
    answers: list[Answer] = []
    unanswered = 0
    for row, where in readers[chosen](source, text):
        answer = _answer(row, where)
        if answer is None:
            unanswered += 1
        else:
            answers.append(answer)
    if not answers and not unanswered:
        raise MappingError(f"{source}: the file holds no tasks (a header only?), so there is "
                           "nothing to import; give the answered task file that `fedcrm "
                           "annotate select` exported")
    return AnswerSheet(path=str(source), format=chosen, answers=answers, unanswered=unanswered)
