"""Whether the state store takes writes; while it does not, the bot answers from memory (degraded).

Slack retries a failed delivery only three times, and switches an app's events off when 5 % of
deliveries fail within an hour: refusing work while the store is down would lose more than answering
it without a record. The operator hears of it on ``/ready`` (503 with the reason), in the log once a
minute, and in a metric of the units done without a record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

LOG_EVERY_S = 60.0


class StoreHealth:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.reason: str | None = None  # None: the store takes writes
        self._logged_at = float("-inf")

    @property
    def degraded(self) -> bool:
        return self.reason is not None

    def failed(self, reason: str) -> None:
        """A write failed: say so at once the first time, then once a minute while it lasts."""
        self.reason = reason
        now = self.clock()
        if now - self._logged_at >= LOG_EVERY_S:
            self._logged_at = now
            log.warning("state store unavailable: %s (degraded: replies are not durable)", reason)

    def recovered(self) -> None:
        if self.reason is not None:
            log.warning("state store available again: leaving degraded mode")
        self.reason = None
        self._logged_at = float("-inf")
