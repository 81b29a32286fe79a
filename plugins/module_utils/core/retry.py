# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Retry with jittered exponential backoff, bounded in attempts and in time.

Only errors a provider marks retryable (throttling, 429, 5xx, UNAVAILABLE) are retried; a denied
or missing secret fails at once, because waiting cannot fix it.

Throttling gets more attempts than other transient errors: a throttled service is up and asks us to
slow down (at 30% throttling, 5 attempts still lose one call in 400, which a 100-key migration
hits), while a refused connection usually means the service is gone, and the run should say so
quickly. Both stay bounded by ``deadline``. A policy built without ``throttled_attempts`` treats
throttling like any other transient error; SecretManager's default policy uses ``default_policy()``.

Calls may nest: SecretManager retries a whole operation, and a provider whose operation takes
several requests (Vault's write: read metadata, write data, write metadata) retries each request
under the same policy (SecretBackend.each_request), because retrying the whole operation for one
throttled request multiplies the failure odds by the number of requests. An error that already
used up the inner retries is marked ``exhausted`` and is not retried again by the outer call, so the
attempts never multiply; the retries of nested calls add up in ``last_retries``, also from the
threads a backend's get_many reads on (``share_tally``), so the audit log can report them.
"""
from __future__ import annotations

import random
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional, TypeVar

from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import ProviderThrottled, ProviderUnavailable

T = TypeVar("T")

#: attempts SecretManager's default policy allows a throttled call (0.3 ** 10: one call in 170,000 lost)
THROTTLED_ATTEMPTS = 10


class Tally:
    """Retries of one outermost call, shared by the calls nested in it (on any thread)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.count += 1


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
    #: how many retries this policy has made, for reporting under injected faults
    retries: int = field(default=0)
    #: per thread: nesting depth and the Tally of the outermost call (manager.py audits its count)
    _last: threading.local = field(default_factory=threading.local, init=False, repr=False, compare=False)

    @property
    def last_retries(self) -> int:
        """Retries made by the most recent outermost call() of the calling thread, nested ones included."""
        tally = getattr(self._last, "tally", None)
        return tally.count if tally is not None else 0

    def current_tally(self) -> Optional[Tally]:
        """The Tally of the call running on this thread (None outside a call)."""
        return getattr(self._last, "tally", None) if getattr(self._last, "depth", 0) else None

    @contextmanager
    def share_tally(self, tally: Optional[Tally]) -> Iterator[None]:
        """On a worker thread: count this thread's retries into ``tally`` (the caller's call)."""
        local = self._last
        saved = (getattr(local, "depth", 0), getattr(local, "tally", None))
        if tally is not None:
            local.depth, local.tally = max(saved[0], 1), tally
        try:
            yield
        finally:
            local.depth, local.tally = saved

    def call(self, operation: Callable[[], T]) -> T:
        local = self._last
        depth = getattr(local, "depth", 0)
        if depth == 0:
            local.tally = Tally()
        local.depth = depth + 1
        try:
            return self._attempts(operation)
        finally:
            local.depth = depth

    def _attempts(self, operation: Callable[[], T]) -> T:
        started = self.clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                return operation()
            except ProviderUnavailable as exc:
                if getattr(exc, "exhausted", False) or not exc.retryable:
                    raise
                limit = self.attempts
                if isinstance(exc, ProviderThrottled) and self.throttled_attempts is not None:
                    limit = self.throttled_attempts
                # "full jitter": spreads retries of many forks so they do not hit the service together
                delay = random.uniform(0, min(self.max_delay, self.base_delay * (2 ** (attempt - 1))))
                if attempt >= max(1, limit) or self.clock() - started + delay > self.deadline:
                    exc.exhausted = True  # an enclosing call must not start over
                    raise
                self.retries += 1
                self._last.tally.add()
                self.sleep(delay)


def default_policy() -> RetryPolicy:
    """The policy of a SecretManager built without one: patient with throttling, quick otherwise."""
    return RetryPolicy(throttled_attempts=THROTTLED_ATTEMPTS)
