"""How much a concept matters downstream, so the review queue puts the costly mistakes first.

Default weight of a concept (see :func:`default_impact_weights`)::

    impact = (1 + number of tasks that use it) × (2 if its usage is feature or label else 1)

so a model input of two tasks weighs 6, an unused key or a personal-data field weighs 1; a task
that lists a concept but leaves it out of its features (``fedcrm.tasks``, ``excluded``) does
not count. A
field's impact is the weight of its proposed concept, or of its best candidate when the matcher
abstained (or proposed a shared ``custom:`` block); fields with neither weigh 1.

The queue reviews the highest ``priority = (1 − confidence) × impact`` first: a doubtful
proposal for a churn feature comes before a doubtful proposal for a fax number, and a confident
one for either comes last.
"""

from __future__ import annotations

from collections.abc import Mapping

from fedcrm.ontology.models import Ontology, Usage

#: weight of a field whose proposal and candidates name no concept
DEFAULT_IMPACT = 1.0
_WEIGHTY_USAGES = (Usage.FEATURE, Usage.LABEL)


def default_impact_weights(ontology: Ontology) -> dict[str, float]:
    """Concept id → impact weight, from the tasks that use each concept and its usage."""
    from fedcrm.tasks import get_task

    weights: dict[str, float] = {}
    for concept in ontology.concepts:
        usage_factor = 2.0 if concept.usage in _WEIGHTY_USAGES else 1.0
        # a task that lists the concept but leaves it out of its features does not use it
        using = [t for t in concept.tasks if concept.id not in get_task(t).excluded]
        weights[concept.id] = (1.0 + len(using)) * usage_factor
    return weights


def field_impact(
    proposed_concept: str | None, candidates: list[str], weights: Mapping[str, float]
) -> float:
    """Impact of a field: its proposed concept's weight, else its best candidate's."""
    concept = proposed_concept or (candidates[0] if candidates else None)
    if concept is None:
        return DEFAULT_IMPACT
    return float(weights.get(concept, DEFAULT_IMPACT))


def priority(confidence: float, impact: float) -> float:
    """Queue priority: higher is reviewed first."""
    return (1.0 - confidence) * impact
