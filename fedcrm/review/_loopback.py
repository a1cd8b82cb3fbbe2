"""Which addresses the review page may use (kept apart from the web module so the CLI can
check an address without importing the web stack)."""

from __future__ import annotations

from fedcrm.errors import ConfigError

#: host names the server may bind to and accepts in the Host header
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def check_loopback(host: str) -> None:
    """Refuse any address other than this machine's loopback."""
    if host not in LOOPBACK_HOSTS:
        raise ConfigError(
            f"the review page only binds to this machine ({', '.join(LOOPBACK_HOSTS)}), not "
            f"{host!r}: it shows org metadata and takes decisions; reach it from elsewhere "
            "through an SSH tunnel instead"
        )
