"""Small helpers shared by the review modules."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime


def utc_now() -> str:
    """The current time as an ISO 8601 UTC string (sorts as text, portable across databases)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()
