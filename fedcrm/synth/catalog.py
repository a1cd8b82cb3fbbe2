"""What a synthetic org *can* contain: standard fields, custom concept fields, participant-
specific blocks (groups), hard-negative name slots and distractors.

Every entry names the *latent column* its values come from (see :mod:`fedcrm.synth.latent`):
a concept id for canonical values (``account.nps_score``), ``group:<id>`` for a participant-
specific block, ``x:<name>`` for meanings without a concept, ``sys:<name>`` for bookkeeping.
Which entries an org gets, and how it names and types them, is decided in
:mod:`fedcrm.synth.planner`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

OBJECTS: tuple[str, ...] = ("Account", "Contact", "Lead", "Opportunity", "Case")

#: How canonical values of a custom field behave; decides which Salesforce types an org may
#: use for it (see ``planner.REPRESENTATIONS``).
ValueKind = Literal[
    "count", "number", "money", "percent", "score10", "score5", "score100", "bool", "date",
    "datetime", "category", "text", "duration",
]


@dataclass(frozen=True)
class StandardField:
    """A Salesforce standard field, written to metadata as a retrieve would show it."""

    sobject: str
    api_name: str
    type: str
    concept: str | None
    latent: str
    value_set: str | None = None
    reference_to: str | None = None
    relationship_name: str | None = None
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    #: probability that an org has this field in its metadata
    presence: float = 1.0
    #: values may be blanked by the org's completeness (a feature, not a key/label/system field)
    quality_applies: bool = False


def _s(sobject: str, api: str, type_: str, concept: str | None, **kw: object) -> StandardField:
    latent = kw.pop("latent", concept)
    return StandardField(sobject, api, type_, concept, latent, **kw)  # type: ignore[arg-type]


STANDARD_FIELDS: tuple[StandardField, ...] = (
    # Account
    _s("Account", "Name", "Text", "account.name", length=255),
    _s("Account", "AccountNumber", "Text", "account.account_number", length=40),
    _s("Account", "Type", "Picklist", "account.type", value_set="account_type",
       quality_applies=True),
    _s("Account", "Industry", "Picklist", "account.industry", value_set="industry",
       quality_applies=True),
    _s("Account", "AnnualRevenue", "Currency", "account.annual_revenue", precision=18, scale=0,
       quality_applies=True),
    _s("Account", "NumberOfEmployees", "Number", "account.number_of_employees", precision=8,
       scale=0, quality_applies=True),
    _s("Account", "Rating", "Picklist", "account.rating", value_set="rating", presence=0.7,
       quality_applies=True),
    _s("Account", "Ownership", "Picklist", "account.ownership", value_set="account_ownership",
       presence=0.5, quality_applies=True),
    _s("Account", "AccountSource", "Picklist", "account.account_source", value_set="lead_source",
       presence=0.8, quality_applies=True),
    _s("Account", "BillingCity", "Text", "account.billing_city", length=40, quality_applies=True),
    _s("Account", "BillingCountry", "Text", "account.billing_country", length=80,
       quality_applies=True),
    _s("Account", "BillingPostalCode", "Text", "account.billing_postal_code", length=20,
       quality_applies=True),
    _s("Account", "Phone", "Phone", "account.phone", quality_applies=True),
    _s("Account", "Website", "Url", "account.website", quality_applies=True),
    _s("Account", "ParentId", "Hierarchy", "account.parent_id", reference_to="Account",
       relationship_name="Parent", presence=0.5),
    _s("Account", "OwnerId", "Lookup", "account.owner_id", reference_to="User",
       relationship_name="Owner"),
    _s("Account", "CreatedDate", "DateTime", "account.created_date"),
    _s("Account", "LastModifiedDate", "DateTime", "account.last_modified_date"),
    _s("Account", "LastActivityDate", "Date", "account.last_activity_date"),
    _s("Account", "Description", "LongTextArea", "account.description", length=32000,
       presence=0.6),
    # Contact
    _s("Contact", "AccountId", "Lookup", "contact.account_id", reference_to="Account",
       relationship_name="Account"),
    _s("Contact", "Salutation", "Picklist", "contact.salutation", value_set="salutation",
       quality_applies=True),
    _s("Contact", "FirstName", "Text", "contact.first_name", length=40),
    _s("Contact", "LastName", "Text", "contact.last_name", length=80),
    _s("Contact", "Title", "Text", "contact.title", length=128, quality_applies=True),
    _s("Contact", "Department", "Text", "contact.department", length=80, presence=0.7,
       quality_applies=True),
    _s("Contact", "Email", "Email", "contact.email", quality_applies=True),
    _s("Contact", "Phone", "Phone", "contact.phone", quality_applies=True),
    _s("Contact", "MailingCity", "Text", "contact.mailing_city", length=40, presence=0.7,
       quality_applies=True),
    _s("Contact", "MailingCountry", "Text", "contact.mailing_country", length=80,
       quality_applies=True),
    _s("Contact", "LeadSource", "Picklist", "contact.lead_source", value_set="lead_source",
       presence=0.7, quality_applies=True),
    _s("Contact", "HasOptedOutOfEmail", "Checkbox", "contact.has_opted_out_of_email"),
    _s("Contact", "DoNotCall", "Checkbox", "contact.do_not_call", presence=0.7),
    _s("Contact", "OwnerId", "Lookup", "contact.owner_id", reference_to="User",
       relationship_name="Owner"),
    _s("Contact", "CreatedDate", "DateTime", "contact.created_date"),
    _s("Contact", "LastModifiedDate", "DateTime", "contact.last_modified_date"),
    _s("Contact", "LastActivityDate", "Date", "contact.last_activity_date"),
    # Lead
    _s("Lead", "FirstName", "Text", "lead.first_name", length=40),
    _s("Lead", "LastName", "Text", "lead.last_name", length=80),
    _s("Lead", "Company", "Text", "lead.company", length=255),
    _s("Lead", "Title", "Text", "lead.title", length=128, quality_applies=True),
    _s("Lead", "Email", "Email", "lead.email", quality_applies=True),
    _s("Lead", "Phone", "Phone", "lead.phone", quality_applies=True),
    _s("Lead", "Country", "Text", "lead.country", length=80, quality_applies=True),
    _s("Lead", "Status", "Picklist", "lead.status", value_set="lead_status"),
    _s("Lead", "LeadSource", "Picklist", "lead.lead_source", value_set="lead_source",
       quality_applies=True),
    _s("Lead", "Rating", "Picklist", "lead.rating", value_set="rating", presence=0.6,
       quality_applies=True),
    _s("Lead", "Industry", "Picklist", "lead.industry", value_set="industry",
       quality_applies=True),
    _s("Lead", "AnnualRevenue", "Currency", "lead.annual_revenue", precision=18, scale=0,
       presence=0.7, quality_applies=True),
    _s("Lead", "NumberOfEmployees", "Number", "lead.number_of_employees", precision=8, scale=0,
       quality_applies=True),
    _s("Lead", "IsConverted", "Checkbox", "lead.is_converted"),
    _s("Lead", "ConvertedDate", "Date", "lead.converted_date"),
    _s("Lead", "ConvertedAccountId", "Lookup", "lead.converted_account_id",
       reference_to="Account", relationship_name="ConvertedAccount"),
    _s("Lead", "ConvertedContactId", "Lookup", "lead.converted_contact_id",
       reference_to="Contact", relationship_name="ConvertedContact"),
    _s("Lead", "ConvertedOpportunityId", "Lookup", "lead.converted_opportunity_id",
       reference_to="Opportunity", relationship_name="ConvertedOpportunity"),
    _s("Lead", "HasOptedOutOfEmail", "Checkbox", "lead.has_opted_out_of_email"),
    _s("Lead", "OwnerId", "Lookup", "lead.owner_id", reference_to="User",
       relationship_name="Owner"),
    _s("Lead", "CreatedDate", "DateTime", "lead.created_date"),
    _s("Lead", "LastModifiedDate", "DateTime", "lead.last_modified_date"),
    _s("Lead", "LastActivityDate", "Date", "lead.last_activity_date"),
    # Opportunity
    _s("Opportunity", "Name", "Text", "opportunity.name", length=120),
    _s("Opportunity", "AccountId", "Lookup", "opportunity.account_id", reference_to="Account",
       relationship_name="Account"),
    _s("Opportunity", "Amount", "Currency", "opportunity.amount", precision=18, scale=2,
       quality_applies=True),
    _s("Opportunity", "StageName", "Picklist", "opportunity.stage",
       value_set="opportunity_stage"),
    _s("Opportunity", "Probability", "Percent", "opportunity.probability", precision=3,
       scale=0),
    _s("Opportunity", "CloseDate", "Date", "opportunity.close_date"),
    _s("Opportunity", "IsClosed", "Checkbox", "opportunity.is_closed"),
    _s("Opportunity", "IsWon", "Checkbox", "opportunity.is_won"),
    _s("Opportunity", "Type", "Picklist", "opportunity.type", value_set="opportunity_type",
       quality_applies=True),
    _s("Opportunity", "LeadSource", "Picklist", "opportunity.lead_source",
       value_set="lead_source", quality_applies=True),
    _s("Opportunity", "ForecastCategoryName", "Picklist", "opportunity.forecast_category",
       value_set="forecast_category"),
    _s("Opportunity", "NextStep", "Text", "opportunity.next_step", length=255, presence=0.6),
    _s("Opportunity", "ExpectedRevenue", "Currency", "opportunity.expected_revenue",
       precision=18, scale=2, presence=0.6),
    _s("Opportunity", "OwnerId", "Lookup", "opportunity.owner_id", reference_to="User",
       relationship_name="Owner"),
    _s("Opportunity", "CreatedDate", "DateTime", "opportunity.created_date"),
    _s("Opportunity", "LastModifiedDate", "DateTime", "opportunity.last_modified_date"),
    _s("Opportunity", "LastActivityDate", "Date", "opportunity.last_activity_date"),
    # Case
    _s("Case", "CaseNumber", "AutoNumber", "case.case_number"),
    _s("Case", "AccountId", "Lookup", "case.account_id", reference_to="Account",
       relationship_name="Account"),
    _s("Case", "ContactId", "Lookup", "case.contact_id", reference_to="Contact",
       relationship_name="Contact"),
    _s("Case", "Status", "Picklist", "case.status", value_set="case_status"),
    _s("Case", "Priority", "Picklist", "case.priority", value_set="priority",
       quality_applies=True),
    _s("Case", "Origin", "Picklist", "case.origin", value_set="case_origin",
       quality_applies=True),
    _s("Case", "Type", "Picklist", "case.type", value_set="case_type", presence=0.7,
       quality_applies=True),
    _s("Case", "Reason", "Picklist", "case.reason", value_set="case_reason", presence=0.6,
       quality_applies=True),
    _s("Case", "Subject", "Text", "case.subject", length=255),
    _s("Case", "IsClosed", "Checkbox", "case.is_closed"),
    _s("Case", "IsEscalated", "Checkbox", "case.is_escalated"),
    _s("Case", "ClosedDate", "DateTime", "case.closed_date"),
    _s("Case", "OwnerId", "Lookup", "case.owner_id", reference_to="User",
       relationship_name="Owner"),
    _s("Case", "CreatedDate", "DateTime", "case.created_date"),
    _s("Case", "LastModifiedDate", "DateTime", "case.last_modified_date"),
)


@dataclass(frozen=True)
class CustomSpec:
    """A custom field meaning orgs add under their own names (a concept or a group)."""

    key: str
    sobject: str
    kind: ValueKind
    presence: float
    value_set: str | None = None
    #: for durations: the canonical unit first, then units orgs also store it in
    units: tuple[str, ...] = ()
    #: always present (outcome fields a task needs to define its label)
    critical: bool = False
    #: null by nature for many records (no competitor, not churned); not a quality defect
    sparse: bool = False
    #: filled only after the outcome (a leakage trap for careless pipelines)
    leakage: bool = False

    @property
    def latent(self) -> str:
        """The latent column holding its canonical values."""
        return self.key if "." in self.key else f"group:{self.key}"


def _c(key: str, kind: ValueKind, presence: float, **kw: object) -> CustomSpec:
    sobject = {"account": "Account", "contact": "Contact", "lead": "Lead",
               "opportunity": "Opportunity", "case": "Case"}[key.split(".", 1)[0]]
    return CustomSpec(key, sobject, kind, presence, **kw)  # type: ignore[arg-type]


CONCEPT_FIELDS: tuple[CustomSpec, ...] = (
    _c("account.customer_since", "date", 0.5),
    _c("account.tenure_months", "duration", 0.5, units=("months", "days", "years")),
    _c("account.contract_start_date", "date", 0.35),
    _c("account.contract_end_date", "date", 0.55),
    _c("account.contract_term", "category", 0.35, value_set="contract_term"),
    _c("account.auto_renew", "bool", 0.4),
    _c("account.renewal_count", "count", 1.0, critical=True, sparse=True),
    _c("account.contract_value", "money", 0.4),
    _c("account.arr", "money", 0.75),
    _c("account.mrr", "money", 0.35),
    _c("account.lifetime_value", "money", 0.25),
    _c("account.discount_percent", "percent", 0.6),
    _c("account.payment_method", "category", 0.3, value_set="payment_method"),
    _c("account.billing_frequency", "category", 0.3, value_set="billing_frequency"),
    _c("account.late_payment_count", "count", 0.7),
    _c("account.overdue_balance", "money", 0.3),
    _c("account.nps_score", "score10", 0.8),
    _c("account.nps_category", "category", 0.3, value_set="nps_category"),
    _c("account.csat_score", "score5", 0.35),
    _c("account.health_score", "score100", 0.55),
    _c("account.health_status", "category", 0.35, value_set="health_status"),
    _c("account.at_risk", "bool", 0.35),
    _c("account.renewal_likelihood", "percent", 0.3),
    _c("account.active_users", "count", 0.45),
    _c("account.logins_last_30_days", "count", 0.55),
    _c("account.last_login_date", "date", 0.35),
    _c("account.days_since_last_login", "duration", 0.25, units=("days",)),
    _c("account.feature_adoption_percent", "percent", 0.35),
    _c("account.seats_purchased", "count", 0.5),
    _c("account.seats_used", "count", 0.35),
    _c("account.license_utilization_percent", "percent", 0.7),
    _c("account.usage_trend", "category", 0.6, value_set="usage_trend"),
    _c("account.integrations_count", "count", 0.3),
    _c("account.number_of_products", "count", 0.3),
    _c("account.product_tier", "category", 0.55, value_set="product_tier"),
    _c("account.onboarding_completed", "bool", 0.35),
    _c("account.cases_last_90_days", "count", 0.8),
    _c("account.open_cases", "count", 0.35),
    _c("account.escalated_cases", "count", 0.35),
    _c("account.last_contact_date", "date", 0.35),
    _c("account.meetings_last_90_days", "count", 0.35),
    _c("account.engagement_level", "category", 0.3, value_set="engagement_level"),
    _c("account.has_executive_sponsor", "bool", 0.75),
    _c("account.executive_sponsor_name", "text", 0.3, sparse=True),
    _c("account.customer_segment", "category", 0.5, value_set="customer_segment"),
    _c("account.region", "category", 0.5, value_set="region"),
    _c("account.sla_level", "category", 0.35, value_set="sla_level"),
    _c("account.primary_competitor", "text", 0.55, sparse=True),
    _c("account.churned", "bool", 1.0, critical=True, leakage=True),
    _c("account.churn_date", "date", 1.0, critical=True, sparse=True, leakage=True),
    _c("account.churn_reason", "category", 0.75, value_set="churn_reason", sparse=True,
       leakage=True),
    _c("opportunity.acv", "money", 0.5),
    _c("opportunity.tcv", "money", 0.3),
    _c("opportunity.contract_term_months", "duration", 0.45, units=("months", "years")),
    _c("opportunity.discount_percent", "percent", 0.75),
    _c("opportunity.discount_requested", "bool", 0.35),
    _c("opportunity.product_count", "count", 0.35),
    _c("opportunity.deal_age_days", "duration", 0.3, units=("days",)),
    _c("opportunity.days_in_stage", "duration", 0.6, units=("days",)),
    _c("opportunity.close_date_push_count", "count", 0.5),
    _c("opportunity.meetings_count", "count", 0.5),
    _c("opportunity.demo_completed", "bool", 0.6),
    _c("opportunity.budget_confirmed", "bool", 0.7),
    _c("opportunity.stakeholder_count", "count", 0.6),
    _c("opportunity.decision_maker_engaged", "bool", 0.65),
    _c("opportunity.executive_sponsor_engaged", "bool", 0.55),
    _c("opportunity.partner_involved", "bool", 0.4),
    _c("opportunity.has_competitor", "bool", 0.7),
    _c("opportunity.competitor_name", "text", 0.45, sparse=True),
    _c("opportunity.loss_reason", "category", 1.0, value_set="loss_reason", critical=True,
       sparse=True, leakage=True),
    _c("opportunity.region", "category", 0.4, value_set="region"),
    _c("lead.lead_score", "score100", 0.85),
    _c("lead.lead_grade", "category", 0.35, value_set="lead_grade"),
    _c("lead.mql_date", "date", 0.4, sparse=True),
    _c("lead.sql_date", "date", 0.35, sparse=True, leakage=True),
    _c("lead.days_to_first_response", "duration", 0.6, units=("days", "hours")),
    _c("lead.activity_count", "count", 0.45),
    _c("lead.seniority", "category", 0.5, value_set="seniority"),
    _c("lead.budget_confirmed", "bool", 0.6),
    _c("lead.purchase_timeframe", "category", 0.6, value_set="purchase_timeframe"),
    _c("lead.region", "category", 0.4, value_set="region"),
    _c("lead.email_opens", "count", 0.5),
    _c("lead.email_clicks", "count", 0.65),
    _c("lead.website_visits", "count", 0.45),
    _c("lead.pricing_page_visits", "count", 0.6),
    _c("lead.webinars_attended", "count", 0.65),
    _c("lead.content_downloads", "count", 0.4),
    _c("lead.demo_requested", "bool", 0.75),
    _c("lead.last_engagement_date", "datetime", 0.35),
    _c("lead.utm_source", "text", 0.3, sparse=True),
    _c("contact.is_primary_contact", "bool", 0.5),
    _c("contact.buying_role", "category", 0.45, value_set="buying_role"),
    _c("contact.is_decision_maker", "bool", 0.45),
    _c("contact.seniority", "category", 0.4, value_set="seniority"),
    _c("contact.left_company", "bool", 0.35),
    _c("contact.marketing_consent", "bool", 0.5),
    _c("contact.email_opens_last_90_days", "count", 0.35),
    _c("contact.nps_score", "score10", 0.3, sparse=True),
    _c("contact.is_product_user", "bool", 0.35),
    _c("contact.last_login_date", "date", 0.25, sparse=True),
    _c("case.first_response_hours", "duration", 0.6, units=("hours", "minutes")),
    _c("case.resolution_hours", "duration", 0.5, units=("hours", "days")),
    _c("case.reopened_count", "count", 0.35),
    _c("case.sla_breached", "bool", 0.45),
    _c("case.csat_score", "score5", 0.45, sparse=True),
    _c("case.sentiment", "category", 0.35, value_set="sentiment"),
    _c("case.product", "text", 0.45),
)

#: Participant-specific blocks: custom fields with no ontology concept that only some orgs
#: keep. ``value_set`` for a category group names an entry of ``values.EXTRA_SPELLINGS``.
GROUP_FIELDS: tuple[CustomSpec, ...] = (
    CustomSpec("esg_score", "Account", "score100", 1.0),
    CustomSpec("partner_tier", "Account", "category", 1.0, value_set="partner_tier"),
    CustomSpec("carbon_footprint", "Account", "number", 1.0),
    CustomSpec("loyalty_points", "Account", "count", 1.0),
    CustomSpec("booth_scans", "Lead", "count", 1.0),
    CustomSpec("security_review_passed", "Opportunity", "bool", 1.0),
)


@dataclass(frozen=True)
class Meaning:
    """One meaning a hard-negative slot can take: a concept, a group, or nothing."""

    latent: str
    kind: ValueKind
    concept: str | None = None
    group: str | None = None
    value_set: str | None = None
    #: the field is a formula over another object's field (``Account.AnnualRevenue``)
    formula: str | None = None

    @property
    def words_key(self) -> str:
        """Key into the vocabulary tables."""
        return self.concept or self.group or self.latent.split(":", 1)[1]


@dataclass(frozen=True)
class HardNegativeSlot:
    """A field *name* several orgs use for different things (``Score__c``)."""

    sobject: str
    stem: str
    meanings: tuple[Meaning, ...]


HARD_NEGATIVE_SLOTS: tuple[HardNegativeSlot, ...] = (
    HardNegativeSlot("Account", "Score", (
        Meaning("account.health_score", "score100", concept="account.health_score"),
        Meaning("x:credit_score", "number"),
    )),
    HardNegativeSlot("Account", "Status", (
        Meaning("account.health_status", "category", concept="account.health_status",
                value_set="health_status"),
        Meaning("x:onboarding_status", "category", value_set="onboarding_status"),
    )),
    HardNegativeSlot("Opportunity", "Revenue", (
        Meaning("opportunity.acv", "money", concept="opportunity.acv"),
        Meaning("account.annual_revenue", "money", concept="account.annual_revenue",
                formula="Account.AnnualRevenue"),
    )),
    HardNegativeSlot("Lead", "Score", (
        Meaning("lead.lead_score", "score100", concept="lead.lead_score"),
        Meaning("x:data_quality_score", "percent"),
    )),
    HardNegativeSlot("Account", "Tier", (
        Meaning("account.product_tier", "category", concept="account.product_tier",
                value_set="product_tier"),
        Meaning("account.sla_level", "category", concept="account.sla_level",
                value_set="sla_level"),
    )),
)


@dataclass(frozen=True)
class DistractorSpec:
    """A plausible custom field with no equivalent in any other org or the ontology."""

    key: str
    kind: Literal["number", "category", "text", "bool", "long_text"]
    sobjects: tuple[str, ...]
    #: for categories: a key of ``values.EXTRA_SPELLINGS``
    value_set: str | None = None
    #: only filled after the outcome (exit survey after churn): a leakage trap with no concept
    leakage: bool = False


DISTRACTORS: tuple[DistractorSpec, ...] = (
    DistractorSpec("golf_handicap", "number", ("Contact",)),
    DistractorSpec("preferred_catering", "category", ("Contact", "Account"),
                   value_set="preferred_catering"),
    DistractorSpec("legacy_system_id", "text", ("Account", "Contact", "Lead", "Opportunity")),
    DistractorSpec("fax_consent_2009", "bool", ("Contact", "Lead")),
    DistractorSpec("christmas_card", "bool", ("Contact", "Account")),
    DistractorSpec("tshirt_size", "category", ("Contact", "Lead"), value_set="tshirt_size"),
    DistractorSpec("parking_spot", "text", ("Account",)),
    DistractorSpec("migration_batch", "text", ("Account", "Contact", "Lead", "Case")),
    DistractorSpec("trade_fair_badge", "text", ("Lead", "Contact")),
    DistractorSpec("newsletter_format", "category", ("Contact", "Lead"),
                   value_set="newsletter_format"),
    DistractorSpec("office_floor", "number", ("Account",)),
    DistractorSpec("internal_notes_old", "long_text", ("Account", "Opportunity", "Case")),
    DistractorSpec("exit_survey_sent", "bool", ("Account",), leakage=True),
    DistractorSpec("win_loss_interview", "bool", ("Opportunity",), leakage=True),
)

#: The custom object some orgs add (site visits to customers); labels are all null.
VISIT_OBJECT_NAMES: dict[str, tuple[str, str, str]] = {
    # language -> (API stem, label, plural label)
    "en": ("Site_Visit", "Site Visit", "Site Visits"),
    "de": ("Besuchsbericht", "Besuchsbericht", "Besuchsberichte"),
    "fr": ("Visite_Client", "Visite client", "Visites client"),
    "es": ("Visita_Cliente", "Visita cliente", "Visitas cliente"),
}
