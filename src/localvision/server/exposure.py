"""Who may reach the server: the one rule for listening beyond loopback.

A server bound to anything but loopback answers whoever can reach the address, so it must
hold credentials for every route (``server.api_keys`` and ``server.aws_credentials``) unless
the user says ``insecure``. ``localvision serve`` applies the rule before it listens, and
``localvision deploy render`` before it writes files for a platform that listens on every
address, so both refuse the same configurations with the same words.
"""

from __future__ import annotations

import ipaddress

from ..config import Settings
from ..errors import ConfigError

__all__ = ["check_exposure", "is_loopback"]


def check_exposure(settings: Settings) -> None:
    """Raise :class:`ConfigError` when ``settings.server`` listens beyond loopback without
    credentials for every route and without ``insecure``."""
    server = settings.server
    if is_loopback(server.host) or server.insecure:
        return
    if not server.api_keys or not server.aws_credentials:
        raise ConfigError(
            f"Refusing to listen on {server.host} without credentials for every route: anyone "
            "who can reach it could use it.",
            hint="Set server.api_keys and server.aws_credentials in localvision.toml, "
            "or pass --insecure.",
        )


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
