"""The canonical CRM vocabulary every org is mapped onto (data in ``ontology/``)."""

from fedcrm.ontology.loader import default_ontology_dir, load_ontology, ontology_fingerprint
from fedcrm.ontology.models import (
    CanonicalValue,
    Concept,
    Ontology,
    Task,
    Unit,
    Usage,
    ValueSet,
)

__all__ = [
    "CanonicalValue",
    "Concept",
    "Ontology",
    "Task",
    "Unit",
    "Usage",
    "ValueSet",
    "default_ontology_dir",
    "load_ontology",
    "ontology_fingerprint",
]
