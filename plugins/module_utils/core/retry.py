# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Retry with jittered exponential backoff, bounded in attempts and in time.

Only errors a provider marks retryable (throttling, 429, 5xx, UNAVAILABLE) are retried; a denied
or missing secret fails at once, because waiting cannot fix it.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable, TypeVar

from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import ProviderUnavailable

T = TypeVar("T")


@dataclass
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 5.0
    deadline: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    #: how many retries this policy has made, for reporting under injected faults
    retries: int = field(default=0)

    def call(self, operation: Callable[[], T]) -> T:
        started = self.clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                return operation()
            except ProviderUnavailable as exc:
                if not exc.retryable or attempt >= self.attempts:
                    raise
                # "full jitter": spreads retries of many forks so they do not hit the service together
                delay = random.uniform(0, min(self.max_delay, self.base_delay * (2 ** (attempt - 1))))
                if self.clock() - started + delay > self.deadline:
                    raise
                self.retries += 1
                self.sleep(delay)
