"""Real public CRM datasets as federations of Salesforce orgs.

Each loader reads one dataset from ``../shared/data/crm-datasets`` (never copied into the
repository), splits its rows into non-IID orgs by a natural key, stores every source column as
a Salesforce field named in the org's own style and language (with the org's own picklist
spellings), and labels each field with its ontology concept or shared block. The result
writes the ``fedcrm synth`` layout, so the whole pipeline runs on it unchanged::

    from fedcrm.datasets import load_bank_churn
    federation = load_bank_churn()              # France / Germany / Spain
    federation.write("out/")
    fedcrm.run_demo(data="out/")

See ``docs/datasets.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fedcrm.datasets.bank import load_bank_churn
from fedcrm.datasets.build import FieldSource, RealOrg
from fedcrm.datasets.federation import DatasetManifest, OrgEntry, OutcomeCounts, RealFederation
from fedcrm.datasets.leads import load_lead_scoring
from fedcrm.datasets.sales import load_sales_pipeline
from fedcrm.datasets.source import ENV_SHARED_DATA, default_data_root
from fedcrm.datasets.spec import DatasetDefinition, DatasetError
from fedcrm.datasets.telco import load_telco_churn
from fedcrm.datasets.truth import mapping_from_labels, truth_mapping

Loader = Callable[..., RealFederation]

#: dataset name → loader
LOADERS: dict[str, Loader] = {
    "telco-churn": load_telco_churn,
    "bank-churn": load_bank_churn,
    "lead-scoring": load_lead_scoring,
    "sales-pipeline": load_sales_pipeline,
}


def definitions() -> dict[str, DatasetDefinition]:
    """Dataset name → its definition (orgs, columns, reference date)."""
    from fedcrm.datasets import bank, leads, sales, telco

    return {module.DEFINITION.name: module.DEFINITION for module in (telco, bank, leads, sales)}


def load_dataset(name: str, root: str | Path | None = None, *, seed: int = 0,
                 max_rows: int | None = None) -> RealFederation:
    """Load a dataset by name (``telco-churn``, ``bank-churn``, ``lead-scoring``,
    ``sales-pipeline``)."""
    try:
        loader = LOADERS[name]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {sorted(LOADERS)}") from None
    return loader(root, seed=seed, max_rows=max_rows)


__all__ = [
    "ENV_SHARED_DATA",
    "LOADERS",
    "DatasetDefinition",
    "DatasetError",
    "DatasetManifest",
    "FieldSource",
    "OrgEntry",
    "OutcomeCounts",
    "RealFederation",
    "RealOrg",
    "default_data_root",
    "definitions",
    "load_bank_churn",
    "load_dataset",
    "load_lead_scoring",
    "load_sales_pipeline",
    "load_telco_churn",
    "mapping_from_labels",
    "truth_mapping",
]
