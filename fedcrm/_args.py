"""Argument checks shared by public functions (private)."""

from __future__ import annotations

from collections.abc import Iterable

from fedcrm.errors import ConfigError


def string_list(value: Iterable[str], what: str) -> list[str]:
    """``value`` as a list of strings. A single string is refused: iterating it would give
    its letters (``"churn"`` → ``c``, ``h``, …) and a confusing error much later."""
    if isinstance(value, str | bytes):
        raise ConfigError(f"{what} must be a list of strings, not the string {value!r}; "
                          f"write [{value!r}]")
    try:
        items = list(value)
    except TypeError:
        raise ConfigError(f"{what} must be a list of strings, got {type(value).__name__}") \
            from None
    odd = [item for item in items if not isinstance(item, str)]
    if odd:
        raise ConfigError(f"{what} must be strings; got {odd[:3]!r}")
    return items


def option_pair(text: str, option: str, example: str, form: str = "KEY=VALUE") -> tuple[str, str]:
    """``KEY=VALUE`` of a repeatable command-line option (both stripped), or a
    :class:`ConfigError` naming the option, the ``form`` it takes and an ``example``."""
    key, sign, value = text.partition("=")
    if not sign or not key.strip() or not value.strip():
        raise ConfigError(f"{option} {text!r}: expected {form}, e.g. {option} {example}")
    return key.strip(), value.strip()
