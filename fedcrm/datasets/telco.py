"""``telco-churn``: the IBM Telco customer-churn sample, one org per payment method.

Each row is a customer of a US telecom operator, stored as an Account. The four payment
methods make four orgs of unequal size and very unequal churn (electronic check 2,365
customers, 45% churn; mailed check 1,612, 19%; bank transfer 1,544, 17%; credit card 1,522,
15%). The data are American (USD); two orgs work in German and Spanish anyway, because the
point is to exercise the matcher on real values in several languages.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from fedcrm.datasets.federation import RealFederation
from fedcrm.datasets.loading import build_federation
from fedcrm.datasets.source import names_source_lines, read_csv, resolve_root
from fedcrm.datasets.spec import ColumnSpec, DatasetDefinition, OrgSpec
from fedcrm.ontology.models import Task

#: the reference date of every dataset without dates (see ``UNDATED_REASON``)
UNDATED_REFERENCE = dt.date(2020, 1, 1)
UNDATED_REASON = (
    "The rows carry no dates: the outcome comes from a label column with no date (no churn "
    "date, no lead creation date) and no feature is a date, so the reference date changes no "
    "feature and no label. It is fixed (never today) so exports are byte-identical; "
    "2020-01-01 is an arbitrary round date."
)

FILE = "telco_customer_churn.csv"
_ADD_ON_NOTE = "'No internet service' is stored as false (InternetService says so)"


def _flag(source: str, words: str, group: str, *, true: str = "Yes",
          false: tuple[str, ...] = ("No",), note: str | None = None) -> ColumnSpec:
    return ColumnSpec(source, "Account", "checkbox", words=words, group=group,
                      true_values=(true,), false_values=false, note=note)


def _add_on(source: str, words: str, group: str) -> ColumnSpec:
    return _flag(source, words, group, false=("No", "No internet service"), note=_ADD_ON_NOTE)


COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("customerID", "Account", "text", standard="AccountNumber",
               concept="account.account_number"),
    ColumnSpec("gender", "Account", "picklist", words="gender", group="account.gender",
               values="gender"),
    _flag("SeniorCitizen", "senior_citizen", "account.senior_citizen", true="1", false=("0",)),
    _flag("Partner", "has_partner", "account.has_partner"),
    _flag("Dependents", "has_dependents", "account.has_dependents"),
    ColumnSpec("tenure", "Account", "number", words="tenure_months",
               concept="account.tenure_months"),
    _flag("PhoneService", "phone_service", "account.phone_service"),
    _flag("MultipleLines", "multiple_lines", "account.multiple_lines",
          false=("No", "No phone service"),
          note="'No phone service' is stored as false (PhoneService says so)"),
    ColumnSpec("InternetService", "Account", "picklist", words="internet_service",
               group="account.internet_service", values="telco_internet"),
    _add_on("OnlineSecurity", "online_security", "account.online_security"),
    _add_on("OnlineBackup", "online_backup", "account.online_backup"),
    _add_on("DeviceProtection", "device_protection", "account.device_protection"),
    _add_on("TechSupport", "tech_support", "account.tech_support"),
    _add_on("StreamingTV", "streaming_tv", "account.streaming_tv"),
    _add_on("StreamingMovies", "streaming_movies", "account.streaming_movies"),
    ColumnSpec("Contract", "Account", "picklist", words="contract_term",
               concept="account.contract_term", values="telco_contract"),
    _flag("PaperlessBilling", "paperless_billing", "account.paperless_billing"),
    ColumnSpec("PaymentMethod", "Account", "picklist", words="payment_method",
               concept="account.payment_method", values="telco_payment",
               note="the split key: one value per org"),
    ColumnSpec("MonthlyCharges", "Account", "currency", words="monthly_charges",
               concept="account.mrr", decimals=2),
    ColumnSpec("TotalCharges", "Account", "currency", words="total_charges",
               concept="account.lifetime_value", decimals=2,
               note="blank for the 11 customers with tenure 0, as in the source"),
    ColumnSpec("Churn", "Account", "boolean", words="churned", concept="account.churned",
               true_values=("Yes",), false_values=("No",), note="outcome"),
)

DEFINITION = DatasetDefinition(
    name="telco-churn",
    title="IBM Telco customer churn",
    task=Task.CHURN,
    folder="telco-churn",
    files=(FILE,),
    split_key="PaymentMethod",
    orgs=(
        OrgSpec("telco_electronic_check", ("Electronic check",), "en", "en", "camel"),
        OrgSpec("telco_mailed_check", ("Mailed check",), "en", "en", "lower_snake",
                yes_no_picklists=True, variant=1),
        OrgSpec("telco_bank_transfer", ("Bank transfer (automatic)",), "de", "de",
                "abbreviated", yes_no_picklists=True),
        OrgSpec("telco_credit_card", ("Credit card (automatic)",), "es", "en", "namespaced",
                variant=1),
    ),
    columns=COLUMNS,
    reference_date=UNDATED_REFERENCE,
    reference_reason=UNDATED_REASON,
    source="aiplanethub/Datasets @ 9684febc (WA_Fn-UseC_-Telco-Customer-Churn.csv)",
    licence="IBM sample data; no licence file in the source repository",
)


def churn_outcome(rows: pd.DataFrame) -> pd.Series:
    """1 for ``Churn`` = Yes, else 0 (every customer is labelled)."""
    return pd.Series(np.where(rows["Churn"].str.strip() == "Yes", 1.0, 0.0), index=rows.index)


@names_source_lines
def load_telco_churn(root: str | Path | None = None, *, seed: int = 0,
                     max_rows: int | None = None) -> RealFederation:
    """The Telco churn data as four orgs split by ``PaymentMethod``.

    ``root`` is the ``crm-datasets`` folder (default: ``../shared/data/crm-datasets`` beside
    the repository, or under ``$FEDCRM_SHARED_DATA``); ``max_rows`` takes a seeded slice that
    keeps every org and their size order.
    """
    folder = resolve_root(root) / DEFINITION.folder
    frame = read_csv(folder / FILE, [c.source for c in COLUMNS])
    return build_federation(DEFINITION, frame, seed=seed, max_rows=max_rows,
                            outcome=churn_outcome)
