"""A token bucket per partner: a steady rate with short bursts, in memory (one per intake process).

>>> clock = iter([0.0, 0.0, 0.0, 30.0]).__next__
>>> bucket = RateLimiter(per_minute=2, burst=2, clock=clock)
>>> [bucket.take("p1") for _ in range(3)]
[0.0, 0.0, 30.0]
>>> bucket.take("p1")
0.0
"""

from __future__ import annotations

import time
from collections.abc import Callable


class RateLimiter:
    """``take(partner_id)`` returns 0 when the request may go ahead, else the seconds to wait.

    In memory: with several intake processes, each allows the rate (a shared
    limit would need the database or Redis; the rate here protects the
    pipeline from a runaway integration, not from a determined attacker).
    """

    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("the intake rate must be above 0 per minute with a burst of at least 1")
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # partner -> (tokens, when)

    def take(self, partner_id: str) -> float:
        now = self._clock()
        tokens, then = self._buckets.get(partner_id, (self._burst, now))
        tokens = min(self._burst, tokens + (now - then) * self._rate)
        if tokens >= 1.0:
            self._buckets[partner_id] = (tokens - 1.0, now)
            return 0.0
        self._buckets[partner_id] = (tokens, now)
        return (1.0 - tokens) / self._rate
