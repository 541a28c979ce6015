"""Apprise, imported with its log kept out of the service's: Apprise logs the URLs it
loads and posts to, and so does urllib3 (its requests' transport), and a notification
URL is a secret (tokens, passwords, webhook paths). Imported only when needed: loading
Apprise's plugins takes a while."""

from __future__ import annotations

import logging
from types import ModuleType

_SILENCED = ("apprise", "urllib3")


def load() -> ModuleType:
    for name in _SILENCED:
        logger = logging.getLogger(name)
        if logger.propagate:
            logger.propagate = False
            logger.addHandler(logging.NullHandler())
    import apprise

    return apprise
