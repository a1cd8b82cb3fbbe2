"""``lead-scoring``: X Education's leads, one org per lead origin.

Each row is a prospect, stored as a Lead. ``Lead Origin`` splits them into Landing Page
Submission (4,886 leads, 36% converted), API (3,580, 31%), Lead Add Form (718, 92%) and the
rare Lead Import / Quick Add Form origins (55 + 1, kept together as one small org).

As the dataset's README warns, ``Select`` is what a form field holds when the prospect left
it at its default: it is written as missing. ``Tags``, ``Lead Quality`` and ``Last Notable
Activity`` are filled in by the sales team after the fact and leak the outcome, so they are
left out of the orgs entirely (listed in ``federation.json`` under ``excluded_columns``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fedcrm.datasets.federation import RealFederation
from fedcrm.datasets.loading import build_federation
from fedcrm.datasets.source import names_source_lines, read_csv, resolve_root
from fedcrm.datasets.spec import ColumnSpec, DatasetDefinition, OrgSpec
from fedcrm.datasets.telco import UNDATED_REASON, UNDATED_REFERENCE
from fedcrm.ontology.models import Task

FILE = "leads.csv"
#: the form's default value, which means the prospect gave no answer
MISSING_MARKER = "Select"
LEAKAGE_COLUMNS: dict[str, str] = {
    "Tags": "set by the sales team after contact; leaks the outcome",
    "Lead Quality": "the sales team's judgement after contact; leaks the outcome",
    "Last Notable Activity": "updated until the lead closes; leaks the outcome",
    "Last Activity": "the last activity logged, kept up to date after contact (a phone "
                     "conversation, unsubscribed, a bounced email); leaks the outcome as "
                     "Last Notable Activity does",
}


def _flag(source: str, words: str, group: str) -> ColumnSpec:
    return ColumnSpec(source, "Lead", "checkbox", words=words, group=group,
                      true_values=("Yes",))


def _choice(source: str, words: str, group: str) -> ColumnSpec:
    return ColumnSpec(source, "Lead", "picklist", words=words, group=group)


def _number(source: str, words: str, group: str | None = None, *, concept: str | None = None,
            decimals: int = 0) -> ColumnSpec:
    return ColumnSpec(source, "Lead", "number", words=words, group=group, concept=concept,
                      decimals=decimals)


COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("Prospect ID", "Lead", "id", words="prospect_id", group="lead.prospect_id"),
    ColumnSpec("Lead Number", "Lead", "id", words="lead_number", group="lead.lead_number"),
    _choice("Lead Origin", "lead_origin", "lead.lead_origin"),
    ColumnSpec("Lead Source", "Lead", "picklist", standard="LeadSource",
               concept="lead.lead_source", values="lead_source"),
    ColumnSpec("Do Not Email", "Lead", "checkbox", standard="HasOptedOutOfEmail",
               concept="lead.has_opted_out_of_email", true_values=("Yes",)),
    ColumnSpec("Do Not Call", "Lead", "checkbox", standard="DoNotCall",
               concept="lead.do_not_call", true_values=("Yes",)),
    ColumnSpec("Converted", "Lead", "checkbox", standard="IsConverted",
               concept="lead.is_converted", true_values=("1",), note="outcome"),
    _number("TotalVisits", "total_visits", concept="lead.website_visits"),
    _number("Total Time Spent on Website", "time_on_site", "lead.time_on_website"),
    _number("Page Views Per Visit", "page_views_per_visit", "lead.page_views_per_visit",
            decimals=2),
    ColumnSpec("Country", "Lead", "text", standard="Country", concept="lead.country"),
    _choice("Specialization", "specialization", "lead.specialization"),
    _choice("How did you hear about X Education", "heard_about_us", "lead.heard_about_us"),
    _choice("What is your current occupation", "occupation", "lead.occupation"),
    _choice("What matters most to you in choosing a course", "course_motivation",
            "lead.course_motivation"),
    _flag("Search", "ad_search", "lead.saw_search_ad"),
    _flag("Magazine", "ad_magazine", "lead.saw_magazine_ad"),
    _flag("Newspaper Article", "ad_newspaper_article", "lead.saw_newspaper_article"),
    _flag("X Education Forums", "ad_forums", "lead.saw_forum_post"),
    _flag("Newspaper", "ad_newspaper", "lead.saw_newspaper_ad"),
    _flag("Digital Advertisement", "ad_digital", "lead.saw_digital_ad"),
    _flag("Through Recommendations", "recommended", "lead.came_through_recommendation"),
    _flag("Receive More Updates About Our Courses", "wants_course_updates",
          "lead.wants_course_updates"),
    _flag("Update me on Supply Chain Content", "supply_chain_updates",
          "lead.supply_chain_updates"),
    _flag("Get updates on DM Content", "dm_updates", "lead.dm_content_updates"),
    _choice("Lead Profile", "lead_profile", "lead.lead_profile"),
    ColumnSpec("City", "Lead", "text", standard="City", concept="lead.city"),
    _choice("Asymmetrique Activity Index", "asym_activity_index", "lead.asym_activity_index"),
    _choice("Asymmetrique Profile Index", "asym_profile_index", "lead.asym_profile_index"),
    _number("Asymmetrique Activity Score", "asym_activity_score", "lead.asym_activity_score"),
    _number("Asymmetrique Profile Score", "asym_profile_score", "lead.asym_profile_score"),
    _flag("I agree to pay the amount through cheque", "agrees_cheque",
          "lead.agrees_to_pay_by_cheque"),
    _flag("A free copy of Mastering The Interview", "free_interview_guide",
          "lead.free_interview_guide"),
)

DEFINITION = DatasetDefinition(
    name="lead-scoring",
    title="X Education lead scoring",
    task=Task.LEAD_CONVERSION,
    folder="lead-scoring",
    files=(FILE,),
    split_key="Lead Origin",
    orgs=(
        OrgSpec("leads_landing_page", ("Landing Page Submission",), "en", "en", "title_snake"),
        OrgSpec("leads_api", ("API",), "en", "en", "camel"),
        OrgSpec("leads_add_form", ("Lead Add Form",), "en", "en", "abbreviated"),
        OrgSpec("leads_import", ("Lead Import", "Quick Add Form"), "en", "en", "namespaced"),
    ),
    columns=COLUMNS,
    reference_date=UNDATED_REFERENCE,
    reference_reason=UNDATED_REASON,
    source="khajanawaz/lead-case-study-using-Logistic-Regression @ 63d7109c (Leads.csv, an "
           ".xlsx workbook converted to CSV with pandas)",
    licence="no licence stated",
    excluded=dict(LEAKAGE_COLUMNS),
    notes=(f"'{MISSING_MARKER}' (the form's default) is written as a missing value",
           "the 55 Lead Import leads and the single Quick Add Form lead form one org"),
)


def conversion_outcome(rows: pd.DataFrame) -> pd.Series:
    """1 for ``Converted`` = 1, else 0 (every lead is labelled)."""
    return pd.Series(np.where(rows["Converted"].str.strip() == "1", 1.0, 0.0),
                     index=rows.index)


@names_source_lines
def load_lead_scoring(root: str | Path | None = None, *, seed: int = 0,
                      max_rows: int | None = None) -> RealFederation:
    """The lead-scoring data as four orgs split by ``Lead Origin``, without the leakage
    columns and with ``Select`` as missing.

    ``root`` is the ``crm-datasets`` folder (default: ``../shared/data/crm-datasets`` beside
    the repository, or under ``$FEDCRM_SHARED_DATA``); ``max_rows`` takes a seeded slice that
    keeps every org and their size order.
    """
    folder = resolve_root(root) / DEFINITION.folder
    frame = read_csv(folder / FILE, [c.source for c in COLUMNS])
    frame = frame.drop(columns=[c for c in LEAKAGE_COLUMNS if c in frame.columns])
    frame = frame.mask(frame.apply(lambda column: column.str.strip() == MISSING_MARKER), "")
    return build_federation(DEFINITION, frame, seed=seed, max_rows=max_rows,
                            outcome=conversion_outcome)
