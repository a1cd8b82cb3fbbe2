"""``fedcrm ontology``: list and search the canonical vocabulary."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from fedcrm._console import console, error_console, friendly_errors, plain, print_json
from fedcrm.errors import ConfigError
from fedcrm.ontology import Concept, load_ontology

#: a search score (0-100) below which no concept resembles the query: a word of no concept
#: scores about 30, a name or synonym of one 100
WEAK_MATCH = 50


@friendly_errors
def ontology_command(
    query: Annotated[
        str | None, typer.Argument(help="Search words (any language); omit to list all.")
    ] = None,
    sobject: Annotated[
        str | None, typer.Option("--object", help="Only concepts of this object.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Most results to show when searching.")] = 15,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the canonical concepts, or search them by name, synonym or description."""
    if limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}")
    ontology = load_ontology()
    if sobject is not None:
        by_key = {name.lower(): name for name in ontology.objects}
        if sobject.lower() not in by_key:
            raise ConfigError(
                f"--object {sobject!r} is not an object of the ontology; use one of "
                + ", ".join(ontology.objects)
            )
        sobject = by_key[sobject.lower()]
    if query:
        # filter by object before cutting to --limit, or the object's concepts that rank
        # below other objects' would never show
        hits = ontology.search(query, limit=len(ontology))
        rows: list[tuple[Concept, float | None]] = [
            (c, score)
            for c, score in hits
            if sobject is None or c.object.lower() == sobject.lower()
        ][:limit]
    else:
        concepts = ontology.for_object(sobject) if sobject else ontology.concepts
        rows = [(c, None) for c in concepts]
    if as_json:
        print_json(
            [
                {**c.model_dump(mode="json"), **({"score": s} if s is not None else {})}
                for c, s in rows
            ]
        )
        return
    title = f"Ontology {ontology.version}: {len(rows)} of {len(ontology)} concepts"
    table = Table(title=plain(title, style="table.title"))
    columns = ["Concept", "Kind", "Label", "Standard field", "Usage", "Tasks"]
    if query:
        columns.append("Score")
    for column in columns:
        table.add_column(column, overflow="fold")
    for concept, score in rows:
        cells = [
            concept.id, concept.kind.value, concept.label, concept.standard_field or "",
            concept.usage.value, ", ".join(t.value for t in concept.tasks),
        ]
        if query:
            cells.append(f"{score:.0f}")
        table.add_row(*(plain(cell) for cell in cells))
    console.print(table)
    best = max((score for _, score in rows if score is not None), default=None)
    if best is not None and best < WEAK_MATCH:
        # a search always lists its nearest concepts; say when none resembles the query
        error_console.print(plain(
            f"note: no concept resembles {query!r} well (best score {best:.0f} of 100); the "
            "rows above are only the nearest", "yellow"), highlight=False)
