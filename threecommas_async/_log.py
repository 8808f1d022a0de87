"""The SDK's one logger, ``threecommas_async``: retries, cool-downs, bans, storages. Never a secret."""

from __future__ import annotations

import logging
from typing import Final

__all__ = ["log"]

log: Final = logging.getLogger("threecommas_async")
# A library logs; the application decides where it goes. Without this, Python's last-resort handler
# would print our warnings to stderr in every program that has not configured logging.
log.addHandler(logging.NullHandler())
