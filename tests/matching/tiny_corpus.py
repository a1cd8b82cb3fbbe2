"""A small hand-written federation for matcher tests: four orgs naming the same concepts
differently, distractors with no concept, and one custom block shared by three orgs."""

from __future__ import annotations

from fedcrm.matching.corpus import AnnotatedOrg, FieldLabel, OrgSource
from fedcrm.schema.models import (
    DataKind,
    FieldMeta,
    OrgSchema,
    PicklistValue,
    SObjectSchema,
    SourceFormat,
)

# (object, api name, label, kind, concept or None, group or None, picklist values)
Row = tuple[str, str, str, DataKind, str | None, str | None, tuple[str, ...]]

ORGS: dict[str, list[Row]] = {
    "alpha": [
        ("Account", "Annual_Rev_USD__c", "Annual Revenue (USD)", DataKind.CURRENCY,
         "account.annual_revenue", None, ()),
        ("Account", "NPS_Score__c", "NPS", DataKind.NUMBER, "account.nps_score", None, ()),
        ("Account", "Customer_Since__c", "Customer Since", DataKind.DATE,
         "account.customer_since", None, ()),
        ("Account", "Churn_Date__c", "Churn Date", DataKind.DATE, "account.churn_date", None, ()),
        ("Account", "Golf_Handicap__c", "Golf Handicap", DataKind.NUMBER, None, None, ()),
        ("Account", "ESG_Score__c", "ESG Score", DataKind.NUMBER, None, "account.esg", ()),
        ("Opportunity", "Discount_Pct__c", "Discount %", DataKind.PERCENT,
         "opportunity.discount_percent", None, ()),
        ("Opportunity", "Main_Competitor__c", "Main Competitor", DataKind.TEXT,
         "opportunity.competitor_name", None, ()),
        ("Lead", "Lead_Score__c", "Lead Score", DataKind.NUMBER, "lead.lead_score", None, ()),
        ("Contact", "Favourite_Colour__c", "Favourite colour", DataKind.TEXT, None, None, ()),
    ],
    "beta": [
        ("Account", "Umsatz_EUR__c", "Jahresumsatz (EUR)", DataKind.CURRENCY,
         "account.annual_revenue", None, ()),
        ("Account", "Weiterempfehlung__c", "Net Promoter Score", DataKind.TEXT,
         "account.nps_score", None, ()),
        ("Account", "Kunde_seit__c", "Kunde seit", DataKind.DATE, "account.customer_since",
         None, ()),
        ("Account", "Kuendigungsdatum__c", "Kündigungsdatum", DataKind.DATE,
         "account.churn_date", None, ()),
        ("Account", "Nachhaltigkeit__c", "ESG-Bewertung", DataKind.NUMBER, None,
         "account.esg", ()),
        ("Account", "Lieblingsessen__c", "Lieblingsessen", DataKind.TEXT, None, None, ()),
        ("Opportunity", "Rabatt__c", "Rabatt in Prozent", DataKind.PERCENT,
         "opportunity.discount_percent", None, ()),
        ("Opportunity", "Wettbewerber__c", "Hauptwettbewerber", DataKind.TEXT,
         "opportunity.competitor_name", None, ()),
        ("Lead", "Punktzahl__c", "Lead-Bewertung", DataKind.NUMBER, "lead.lead_score", None,
         ()),
    ],
    "gamma": [
        ("Account", "AnnRevenue__c", "Yearly revenue", DataKind.CURRENCY,
         "account.annual_revenue", None, ()),
        ("Account", "nps__c", "Promoter score (0-10)", DataKind.PICKLIST, "account.nps_score",
         None, tuple(str(i) for i in range(11))),
        ("Account", "client_since__c", "Client since", DataKind.DATE, "account.customer_since",
         None, ()),
        ("Account", "cancelled_on__c", "Cancellation date", DataKind.DATE,
         "account.churn_date", None, ()),
        ("Account", "sustainability_rating__c", "Sustainability (ESG) rating", DataKind.NUMBER,
         None, "account.esg", ()),
        ("Account", "legacy_id__c", "Legacy system id", DataKind.TEXT, None, None, ()),
        ("Opportunity", "disc__c", "Discount percent", DataKind.PERCENT,
         "opportunity.discount_percent", None, ()),
        ("Lead", "mql_score__c", "Marketing score", DataKind.NUMBER, "lead.lead_score", None,
         ()),
    ],
    "delta": [
        ("Account", "Chiffre_Affaires__c", "Chiffre d'affaires annuel", DataKind.CURRENCY,
         "account.annual_revenue", None, ()),
        ("Account", "Score_NPS__c", "Score NPS", DataKind.NUMBER, "account.nps_score", None,
         ()),
        ("Account", "Client_Depuis__c", "Client depuis", DataKind.DATE, "account.customer_since",
         None, ()),
        ("Account", "Date_Resiliation__c", "Date de résiliation", DataKind.DATE,
         "account.churn_date", None, ()),
        ("Account", "Couleur_Logo__c", "Couleur du logo", DataKind.TEXT, None, None, ()),
        ("Opportunity", "Remise__c", "Remise (%)", DataKind.PERCENT,
         "opportunity.discount_percent", None, ()),
        ("Opportunity", "Concurrent__c", "Concurrent principal", DataKind.TEXT,
         "opportunity.competitor_name", None, ()),
        ("Lead", "Score_Prospect__c", "Score du prospect", DataKind.NUMBER, "lead.lead_score",
         None, ()),
    ],
}


def make_org(org_id: str, rows: list[Row], *, with_standard: bool = True) -> AnnotatedOrg:
    objects: dict[str, list[FieldMeta]] = {}
    labels = []
    for sobject, api_name, label, kind, concept, group, values in rows:
        objects.setdefault(sobject, []).append(FieldMeta(
            api_name=api_name, label=label, kind=kind,
            picklist_values=tuple(PicklistValue(value=v, label=v) for v in values),
        ))
        labels.append(FieldLabel(org=org_id, object=sobject, field=api_name, concept=concept,
                                 group=group, method="hand", annotator="tests"))
    if with_standard:
        objects.setdefault("Account", []).append(
            FieldMeta(api_name="Industry", label="Industry", kind=DataKind.PICKLIST))
        labels.append(FieldLabel(org=org_id, object="Account", field="Industry",
                                 concept="account.industry", method="hand", annotator="tests"))
    schema = OrgSchema(
        org_id=org_id, source_format=SourceFormat.PYTHON,
        objects=tuple(SObjectSchema(api_name=o, fields=tuple(f)) for o, f in objects.items()),
    )
    org = AnnotatedOrg(schema=schema, source=OrgSource(org=org_id, kind="synthetic",
                                                       licence="CC0-1.0"))
    org.labels = {label.key: label for label in labels}
    return org


def tiny_corpus() -> list[AnnotatedOrg]:
    return [make_org(org_id, rows) for org_id, rows in ORGS.items()]
