"""``bank-churn``: the "Churn Modelling" bank customers, one org per country.

Each row is a retail-bank customer, stored as an Account. ``Geography`` splits them into
France (5,014 customers, 16% churn), Germany (2,509, 32%) and Spain (2,477, 17%): strongly
non-IID in size and base rate. Each org works in its country's language — labels, yes/no
spellings and the country name itself — and stores tenure in years (the converter must turn
it into months from the unit in the label). ``Gender`` (54) and ``Age`` (300) have blank
cells in this copy; they stay blank.
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

FILE = "churn_modelling.csv"

COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("CustomerId", "Account", "text", standard="AccountNumber",
               concept="account.account_number"),
    ColumnSpec("Surname", "Account", "text", standard="Name", concept="account.name"),
    ColumnSpec("CreditScore", "Account", "number", words="credit_score",
               group="account.credit_score"),
    ColumnSpec("Geography", "Account", "text", standard="BillingCountry",
               concept="account.billing_country", values="bank_country",
               note="the split key, written in the org's language"),
    ColumnSpec("Gender", "Account", "picklist", words="gender", group="account.gender",
               values="gender"),
    ColumnSpec("Age", "Account", "number", words="age", group="account.age"),
    ColumnSpec("Tenure", "Account", "number", words="tenure_years",
               concept="account.tenure_months", unit="years",
               note="stored in years, as in the source"),
    ColumnSpec("Balance", "Account", "currency", words="balance", group="account.balance",
               decimals=2),
    ColumnSpec("NumOfProducts", "Account", "number", words="number_of_products",
               concept="account.number_of_products"),
    ColumnSpec("HasCrCard", "Account", "checkbox", words="has_credit_card",
               group="account.has_credit_card", true_values=("1",)),
    ColumnSpec("IsActiveMember", "Account", "checkbox", words="active_member",
               group="account.active_member", true_values=("1",),
               note="engagement flag, not account.is_active (a live contract)"),
    ColumnSpec("EstimatedSalary", "Account", "currency", words="estimated_salary",
               group="account.estimated_salary", decimals=2),
    ColumnSpec("Exited", "Account", "boolean", words="churned", concept="account.churned",
               true_values=("1",), note="outcome"),
)

DEFINITION = DatasetDefinition(
    name="bank-churn",
    title="Bank customer churn (Churn Modelling)",
    task=Task.CHURN,
    folder="bank-churn",
    files=(FILE,),
    split_key="Geography",
    orgs=(
        OrgSpec("bank_france", ("France",), "fr", "fr", "title_snake", yes_no_picklists=True),
        OrgSpec("bank_germany", ("Germany",), "de", "en", "abbreviated"),
        OrgSpec("bank_spain", ("Spain",), "es", "es", "namespaced", yes_no_picklists=True,
                variant=1),
    ),
    columns=COLUMNS,
    reference_date=UNDATED_REFERENCE,
    reference_reason=UNDATED_REASON,
    source="Anannya-Vyas/datasets @ 0cd108d7 (Churn_Modelling.csv)",
    licence="no licence stated",
    excluded={"RowNumber": "the file's row counter, not an attribute of the customer"},
)


def churn_outcome(rows: pd.DataFrame) -> pd.Series:
    """1 for ``Exited`` = 1, else 0 (every customer is labelled)."""
    return pd.Series(np.where(rows["Exited"].str.strip() == "1", 1.0, 0.0), index=rows.index)


@names_source_lines
def load_bank_churn(root: str | Path | None = None, *, seed: int = 0,
                    max_rows: int | None = None) -> RealFederation:
    """The bank churn data as three orgs split by ``Geography`` (France, Germany, Spain).

    ``root`` is the ``crm-datasets`` folder (default: ``../shared/data/crm-datasets`` beside
    the repository, or under ``$FEDCRM_SHARED_DATA``); ``max_rows`` takes a seeded slice that
    keeps every org and their size order.
    """
    folder = resolve_root(root) / DEFINITION.folder
    frame = read_csv(folder / FILE, [c.source for c in COLUMNS])
    return build_federation(DEFINITION, frame, seed=seed, max_rows=max_rows,
                            outcome=churn_outcome)
