"""Load a live org through a ``simple_salesforce.Salesforce`` client: the global describe,
then each selected object's describe."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rich.progress import track

from fedcrm._console import error_console
from fedcrm.errors import SchemaError
from fedcrm.schema._problems import ProblemLog
from fedcrm.schema.describe import schema_from_describes
from fedcrm.schema.models import OrgSchema, SourceFormat

#: the objects the three CRM tasks read; loaded by default together with all custom objects
CORE_OBJECTS = ("Account", "Contact", "Lead", "Opportunity", "Case")


def _client_errors() -> tuple[type[BaseException], ...]:
    import requests
    from simple_salesforce.exceptions import SalesforceError

    return (SalesforceError, requests.RequestException)


def is_salesforce_client(value: Any) -> bool:
    """True for a ``simple_salesforce.Salesforce`` instance."""
    try:
        from simple_salesforce import Salesforce
    except ImportError:  # pragma: no cover - a declared dependency
        return False
    return isinstance(value, Salesforce)


def _select(global_describe: Mapping[str, Any], objects: Iterable[str] | str | None) -> list[str]:
    entries = global_describe.get("sobjects")
    if not isinstance(entries, list):
        raise SchemaError("the org's global describe has no 'sobjects' list", path="describe")
    available = {
        e["name"]: e for e in entries if isinstance(e, Mapping) and isinstance(e.get("name"), str)
    }
    if objects == "all":
        return sorted(
            n for n, e in available.items() if not e.get("deprecatedAndHidden")
        )
    if objects is None:
        return sorted(
            n
            for n, e in available.items()
            if (n in CORE_OBJECTS or n.endswith("__c")) and not e.get("deprecatedAndHidden")
        )
    wanted = [objects] if isinstance(objects, str) else list(objects)
    lookup = {n.lower(): n for n in available}
    missing = [n for n in wanted if n.lower() not in lookup]
    if missing:
        raise SchemaError(
            f"the org has no object(s) {', '.join(missing)}; check the API names "
            "(custom objects end in __c)",
            path="describe",
        )
    return [lookup[n.lower()] for n in wanted]


def load_live(
    client: Any,
    *,
    org_id: str | None = None,
    objects: Iterable[str] | str | None = None,
    strict: bool = True,
    progress: bool = True,
) -> OrgSchema:
    """Describe a live org.

    ``objects`` is ``None`` (the CRM core objects plus every custom object), ``"all"``, or a
    list of API names. ``client`` is an authenticated ``simple_salesforce.Salesforce``.
    """
    errors = _client_errors()
    instance = str(getattr(client, "sf_instance", "live-org"))
    try:
        global_describe = client.describe()
    except errors as exc:
        raise SchemaError(
            f"global describe failed ({type(exc).__name__}: {exc}); check the session and "
            "that the user has the 'API Enabled' permission",
            path=f"https://{instance}",
        ) from exc
    if not isinstance(global_describe, Mapping):
        raise SchemaError("the org returned an empty global describe", path=f"https://{instance}")
    names = _select(global_describe, objects)
    log = ProblemLog(strict=strict)
    pairs: list[tuple[Mapping[str, Any], str]] = []
    iterator = (track(names, description="Describing objects", console=error_console,
                      transient=True, disable=not error_console.is_terminal)
                if progress else names)
    for name in iterator:
        origin = f"https://{instance}/sobjects/{name}/describe"
        try:
            describe = getattr(client, name).describe()
        except errors as exc:
            log.problem(f"describe failed ({type(exc).__name__}: {exc})", path=origin,
                        sobject=name)
            continue
        if not isinstance(describe, Mapping):
            log.problem("describe did not return an object", path=origin, sobject=name)
            continue
        pairs.append((describe, origin))
    return schema_from_describes(
        pairs,
        org_id=org_id or instance.split(".")[0].split(":")[0],
        source_format=SourceFormat.LIVE,
        source=f"https://{instance}",
        log=log,
    )
