# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Retry of one request to a service: jittered exponential backoff, bounded in attempts and in time.

Only errors a provider marks retryable (throttling, 429, 5xx, UNAVAILABLE) are retried; a denied
or missing secret fails at once, because waiting cannot fix it.

There is one level of retry, and it is the single request (``SecretBackend.request`` runs every
request a backend sends through ``RetryPolicy.call``). Nothing retries a whole operation: an
operation of several requests (Vault's write: read metadata, write data, write metadata) retried as
a whole multiplies the odds of giving up by its number of requests, and two levels multiply the
attempts. Each retry is reported to the caller's ``on_retry``, which is how the backend counts the
retries of one name for the audit log, on any thread, without thread-local state.

Throttling gets more attempts than other transient errors: a throttled service is up and asks us to
slow down (at 30% throttling, 5 attempts still lose one request in 400, which a 100-key migration
hits), while a refused connection usually means the service is gone, and the run should say so
quickly. Both stay bounded by ``deadline``. A policy built without ``throttled_attempts`` treats
throttling like any other transient error; SecretManager's default policy uses ``default_policy()``.
"""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, TypeVar

from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import ProviderThrottled, ProviderUnavailable

T = TypeVar("T")

#: attempts SecretManager's default policy allows a throttled request (0.3 ** 10: one in 170,000 lost)
THROTTLED_ATTEMPTS = 10


@dataclass
class RetryPolicy:
    attempts: int = 5
    #: attempts when the service says it is throttling (429, ThrottlingException, RESOURCE_EXHAUSTED);
    #: None means the same as ``attempts``
    throttled_attempts: Optional[int] = None
    base_delay: float = 0.2
    max_delay: float = 5.0
    deadline: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    #: how many retries this policy has made in all, for a module's ``retries`` return value
    retries: int = field(default=0)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def call(self, request: Callable[[], T], on_retry: Optional[Callable[[], None]] = None) -> T:
        """Run one request, again after a retryable failure, until it succeeds or the bounds are reached.

        ``on_retry`` is called once per retry (before its wait), so the caller can report the count.
        """
        started = self.clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                return self.attempt(request)
            except ProviderUnavailable as exc:
                if not exc.retryable:
                    raise
                limit = self.attempts
                if isinstance(exc, ProviderThrottled) and self.throttled_attempts is not None:
                    limit = self.throttled_attempts
                # "full jitter": spreads retries of many forks so they do not hit the service together
                delay = random.uniform(0, min(self.max_delay, self.base_delay * (2 ** (attempt - 1))))
                if attempt >= max(1, limit) or self.clock() - started + delay > self.deadline:
                    raise
                with self._lock:
                    self.retries += 1
                if on_retry is not None:
                    on_retry()
                self.sleep(delay)

    def attempt(self, request: Callable[[], T]) -> T:
        """One attempt; a subclass may check something first (see core/lock.py ``GuardedPolicy``)."""
        return request()


def default_policy() -> RetryPolicy:
    """The policy of a SecretManager built without one: patient with throttling, quick otherwise."""
    return RetryPolicy(throttled_attempts=THROTTLED_ATTEMPTS)
