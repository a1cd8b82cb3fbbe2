"""``sales-pipeline``: the "CRM Sales Opportunities" star schema, one org per regional office.

Each deal of ``sales_pipeline.csv`` is an Opportunity; its rep's office (``sales_teams.csv``,
joined on ``sales_agent``) splits the deals into Central (3,512 deals, all 500 Prospecting
ones among them), West (2,997) and East (2,291). Every org gets an Account record for each
company its deals name (``accounts.csv``, joined on ``account``), with its own record ids, so
the same company appears once per office that sells to it.

Labels: Won and Lost deals are closed; Engaging and Prospecting deals are open and unlabelled
(they stay in the records, with blank close date and close value, as in the source). The
data's inconsistencies stay as they are: ``GTXPro`` in the deals against ``GTX Pro`` in the
product list, the sector ``technolgy``, the country ``Philipines``, blank accounts on open
deals.

``close_value`` is 0 for every lost deal and blank for every open one: it is written to the
standard ``ExpectedRevenue`` field (the amount weighted by the stage probability, which
collapses to the amount or zero once a deal closes), a label concept, so it never becomes a
feature. ``Amount`` holds the product's list price from ``products.csv`` — what the deal is
worth before it closes — joined on the product name ignoring spaces, so the ``GTXPro`` deals
get the ``GTX Pro`` price while their product picklist keeps the source spelling.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd

from fedcrm.datasets.build import record_ids
from fedcrm.datasets.federation import RealFederation
from fedcrm.datasets.loading import build_federation
from fedcrm.datasets.source import names_source_lines, read_csv, resolve_root
from fedcrm.datasets.spec import ColumnSpec, DatasetDefinition, DatasetError, OrgSpec
from fedcrm.ontology.models import Task

PIPELINE, ACCOUNTS, PRODUCTS, TEAMS = ("sales_pipeline.csv", "accounts.csv", "products.csv",
                                       "sales_teams.csv")
DATE_FORMAT = "%m/%d/%Y"
CLOSED_STAGES = ("Won", "Lost")
#: pod of the User ids given to the sales agents (record owners)
_USER_POD = 9

COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("opportunity_id", "Opportunity", "text", standard="Name",
               concept="opportunity.name"),
    ColumnSpec("__account_id", "Opportunity", "lookup", standard="AccountId",
               concept="opportunity.account_id", reference_to="Account",
               relationship_name="Account",
               derived="account, as the Id of the org's Account record of that name"),
    ColumnSpec("__owner_id", "Opportunity", "lookup", standard="OwnerId",
               concept="opportunity.owner_id", reference_to="User", relationship_name="Owner",
               derived="sales_agent, as one User id per agent"),
    ColumnSpec("product", "Opportunity", "picklist", words="product",
               group="opportunity.product", note="GTXPro kept as in the source"),
    ColumnSpec("series", "Opportunity", "picklist", words="product_series",
               group="opportunity.product_series", file=PRODUCTS,
               derived="products.series of the deal's product"),
    ColumnSpec("sales_price", "Opportunity", "currency", standard="Amount",
               concept="opportunity.amount", file=PRODUCTS,
               derived="products.sales_price (list price) of the deal's product, joined on "
                       "the name ignoring spaces"),
    ColumnSpec("deal_stage", "Opportunity", "picklist", standard="StageName",
               concept="opportunity.stage", values="deal_stage", note="outcome"),
    ColumnSpec("__is_closed", "Opportunity", "checkbox", standard="IsClosed",
               concept="opportunity.is_closed", true_values=("true",),
               derived="deal_stage is Won or Lost", note="outcome"),
    ColumnSpec("__is_won", "Opportunity", "checkbox", standard="IsWon",
               concept="opportunity.is_won", true_values=("true",),
               derived="deal_stage is Won", note="outcome"),
    ColumnSpec("close_date", "Opportunity", "date", standard="CloseDate",
               concept="opportunity.close_date", date_format=DATE_FORMAT,
               note="outcome date; blank on open deals"),
    ColumnSpec("close_value", "Opportunity", "currency", standard="ExpectedRevenue",
               concept="opportunity.expected_revenue",
               note="leakage: 0 on every lost deal, blank on open ones"),
    ColumnSpec("manager", "Opportunity", "text", words="sales_manager",
               group="opportunity.sales_manager", file=TEAMS,
               derived="sales_teams.manager of the deal's agent"),
    ColumnSpec("regional_office", "Opportunity", "picklist", words="regional_office",
               group="opportunity.regional_office", file=TEAMS,
               derived="sales_teams.regional_office of the deal's agent",
               note="the split key: one value per org"),
    ColumnSpec("account", "Account", "text", standard="Name", concept="account.name",
               file=ACCOUNTS),
    ColumnSpec("sector", "Account", "picklist", standard="Industry", concept="account.industry",
               values="sector", file=ACCOUNTS, note="technolgy kept as in the source"),
    ColumnSpec("year_established", "Account", "text", standard="YearStarted",
               concept="account.year_started", file=ACCOUNTS),
    ColumnSpec("revenue", "Account", "currency", words="company_revenue",
               concept="account.annual_revenue", unit="usd_millions", decimals=2,
               file=ACCOUNTS, note="millions of USD, as in the source"),
    ColumnSpec("employees", "Account", "number", standard="NumberOfEmployees",
               concept="account.number_of_employees", file=ACCOUNTS),
    ColumnSpec("office_location", "Account", "text", standard="BillingCountry",
               concept="account.billing_country", file=ACCOUNTS),
    ColumnSpec("subsidiary_of", "Account", "text", words="parent_company",
               group="account.parent_company", file=ACCOUNTS),
)

#: why the engage date is left out (a closed deal is seen as of its close date)
ENGAGE_DATE_REASON = (
    "seen as of a closed deal's close date, it becomes the length of the sales cycle (median 57 "
    "days for won deals, 14 for lost), which an open deal does not have yet; it leaks the outcome")

DEFINITION = DatasetDefinition(
    name="sales-pipeline",
    title="CRM sales opportunities",
    task=Task.WIN_PROBABILITY,
    folder="sales-pipeline",
    files=(PIPELINE, ACCOUNTS, PRODUCTS, TEAMS),
    split_key="regional_office",
    orgs=(
        OrgSpec("sales_central", ("Central",), "en", "en", "lower_snake"),
        OrgSpec("sales_west", ("West",), "en", "en", "camel", variant=2),
        OrgSpec("sales_east", ("East",), "en", "en", "namespaced", variant=1),
    ),
    columns=COLUMNS,
    reference_date=dt.date(2017, 12, 31),
    reference_reason=(
        "The last close date in the data (engage dates end on 2017-12-27): the snapshot's "
        "'today', on which Engaging and Prospecting deals were still open."
    ),
    source="kisaraF/CRM-Sales_Analysis @ b3502afa (CRM Sales Opportunities)",
    licence="no licence stated",
    excluded={"engage_date": ENGAGE_DATE_REASON},
    notes=(
        "close_value is written to ExpectedRevenue (a label concept): it is 0 for every lost "
        "deal and blank for every open one, so as Amount it would give the outcome away",
        "Amount is the product's list price from products.csv",
        "open deals (Engaging, Prospecting) are unlabelled records",
    ),
)


def win_outcome(rows: pd.DataFrame) -> pd.Series:
    """1 for Won, 0 for Lost, NaN for open deals (Engaging, Prospecting)."""
    stage = rows["deal_stage"].str.strip()
    return pd.Series(np.where(stage == "Won", 1.0, np.where(stage == "Lost", 0.0, np.nan)),
                     index=rows.index)


def _product_key(name: str) -> str:
    return re.sub(r"\s+", "", name).lower()


def _unique(frame: pd.DataFrame, keys: pd.Series, file: str, column: str) -> None:
    """Refuse a lookup table whose join key repeats (which row would a deal take?)."""
    repeated = sorted(set(frame[column][keys.duplicated(keep=False)]))
    if repeated:
        raise DatasetError(f"{file}, column {column!r}: {repeated} appear more than once; each "
                           "must name one row")


def _join(pipeline: pd.DataFrame, products: pd.DataFrame, teams: pd.DataFrame) -> pd.DataFrame:
    _unique(teams, teams["sales_agent"], TEAMS, "sales_agent")
    _unique(products, products["product"].map(_product_key), PRODUCTS, "product")
    agents = teams.set_index("sales_agent")
    unknown = sorted(set(pipeline["sales_agent"]) - set(agents.index))
    if unknown:
        raise DatasetError(f"{PIPELINE}, column 'sales_agent': agent(s) {unknown} are not in "
                           f"{TEAMS}")
    catalogue = products.assign(key=products["product"].map(_product_key)).set_index("key")
    keys = pipeline["product"].map(_product_key)
    missing = sorted(set(pipeline["product"][~keys.isin(catalogue.index)]))
    if missing:
        raise DatasetError(f"{PIPELINE}, column 'product': product(s) {missing} are not in "
                           f"{PRODUCTS}")
    stage = pipeline["deal_stage"].str.strip()
    owners = sorted(set(pipeline["sales_agent"]))
    owner_ids = dict(zip(owners, record_ids("User", len(owners), pod=_USER_POD), strict=True))
    return pipeline.assign(
        manager=pipeline["sales_agent"].map(agents["manager"]),
        regional_office=pipeline["sales_agent"].map(agents["regional_office"]),
        series=keys.map(catalogue["series"]).to_numpy(),
        sales_price=keys.map(catalogue["sales_price"]).to_numpy(),
        __is_closed=np.where(stage.isin(CLOSED_STAGES), "true", "false"),
        __is_won=np.where(stage == "Won", "true", "false"),
        __owner_id=pipeline["sales_agent"].map(owner_ids),
    )


@names_source_lines
def load_sales_pipeline(root: str | Path | None = None, *, seed: int = 0,
                        max_rows: int | None = None) -> RealFederation:
    """The sales pipeline as three orgs split by the agents' regional office, each with the
    accounts its deals name.

    ``root`` is the ``crm-datasets`` folder (default: ``../shared/data/crm-datasets`` beside
    the repository, or under ``$FEDCRM_SHARED_DATA``); ``max_rows`` takes a seeded slice of
    deals that keeps every org and their size order.
    """
    folder = resolve_root(root) / DEFINITION.folder
    pipeline = read_csv(folder / PIPELINE, ["opportunity_id", "sales_agent", "product",
                                            "account", "deal_stage",
                                            "close_date", "close_value"])
    accounts = read_csv(folder / ACCOUNTS, [c.source for c in DEFINITION.columns_of("Account")])
    products = read_csv(folder / PRODUCTS, ["product", "series", "sales_price"])
    teams = read_csv(folder / TEAMS, ["sales_agent", "manager", "regional_office"])
    unknown = sorted(set(pipeline["account"][pipeline["account"] != ""]) -
                     set(accounts["account"]))
    if unknown:
        raise DatasetError(f"{PIPELINE}, column 'account': account(s) {unknown} are not in "
                           f"{ACCOUNTS}")
    _unique(accounts, accounts["account"], ACCOUNTS, "account")
    deals = _join(pipeline, products, teams)

    def frames_for(spec: OrgSpec, rows: pd.DataFrame, index: int) -> dict[str, pd.DataFrame]:
        named = set(rows["account"][rows["account"] != ""])
        own = accounts[accounts["account"].isin(named)].reset_index(drop=True)
        own.insert(0, "Id", record_ids("Account", len(own), pod=10 + index))
        by_name = dict(zip(own["account"], own["Id"], strict=True))
        linked = rows.assign(__account_id=rows["account"].map(by_name).fillna(""))
        return {"Account": own, "Opportunity": linked}

    return build_federation(DEFINITION, deals, seed=seed, max_rows=max_rows,
                            outcome=win_outcome, frames_for=frames_for)
