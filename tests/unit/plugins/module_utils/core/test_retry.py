"""core/retry.py: retry at one level (the request), bounded by attempts and a deadline, every retry reported.

The integration tests (tests/integration/test_faults.py) throttle real servers; these pin the rules
they rely on with a fake clock.
"""
from __future__ import annotations

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core.retry import (
    THROTTLED_ATTEMPTS,
    RetryPolicy,
    default_policy,
)


def test_retry_retries_only_retryable_errors_and_is_bounded():
    sleeps = []
    policy = RetryPolicy(attempts=4, base_delay=0.01, sleep=sleeps.append)
    calls = []

    def throttled():
        calls.append(1)
        raise errors.ProviderThrottled("slow down")

    with pytest.raises(errors.ProviderThrottled):
        policy.call(throttled)
    assert len(calls) == 4 and len(sleeps) == 3 and policy.retries == 3

    denied_calls = []

    def denied():
        denied_calls.append(1)
        raise errors.SecretDenied("no")

    with pytest.raises(errors.SecretDenied):
        policy.call(denied)
    assert len(denied_calls) == 1


def test_retry_succeeds_after_transient_failures():
    attempts = iter([errors.ProviderUnavailable("503"), errors.ProviderUnavailable("503"), "ok"])

    def flaky():
        outcome = next(attempts)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert RetryPolicy(sleep=lambda _s: None).call(flaky) == "ok"


def _failing(times: int, error=errors.ProviderThrottled):
    calls = []

    def operation():
        calls.append(1)
        if len(calls) <= times:
            raise error("slow down")
        return "ok"

    return operation, calls


def test_throttling_gets_more_attempts_than_other_transient_errors():
    policy = default_policy()
    policy.sleep = lambda _s: None
    assert policy.throttled_attempts == THROTTLED_ATTEMPTS and policy.attempts < THROTTLED_ATTEMPTS
    operation, calls = _failing(THROTTLED_ATTEMPTS - 1)
    assert policy.call(operation) == "ok" and len(calls) == THROTTLED_ATTEMPTS
    operation, calls = _failing(THROTTLED_ATTEMPTS)
    with pytest.raises(errors.ProviderThrottled):
        policy.call(operation)
    assert len(calls) == THROTTLED_ATTEMPTS
    operation, calls = _failing(99, errors.ProviderUnavailable)  # e.g. connection refused: the service is gone
    with pytest.raises(errors.ProviderUnavailable):
        policy.call(operation)
    assert len(calls) == policy.attempts
    # a policy built by hand keeps its old meaning: attempts covers throttling too
    plain = RetryPolicy(attempts=3, sleep=lambda _s: None)
    operation, calls = _failing(99)
    with pytest.raises(errors.ProviderThrottled):
        plain.call(operation)
    assert len(calls) == 3


def test_the_deadline_bounds_the_time_whatever_the_attempts():
    now = [0.0]
    policy = RetryPolicy(attempts=100, base_delay=10, max_delay=10, deadline=30, sleep=lambda s: now.__setitem__(0, now[0] + s),
                         clock=lambda: now[0])
    operation, calls = _failing(1000)
    with pytest.raises(errors.ProviderThrottled):
        policy.call(operation)
    assert now[0] <= 30 and len(calls) < 100


def test_each_retry_is_reported_to_the_caller():
    policy = RetryPolicy(attempts=4, sleep=lambda _s: None)
    reported = []
    operation, calls = _failing(2)
    assert policy.call(operation, on_retry=lambda: reported.append(1)) == "ok"
    assert (len(calls), len(reported), policy.retries) == (3, 2, 2)
    operation, calls = _failing(99)
    with pytest.raises(errors.ProviderThrottled) as caught:
        policy.call(operation, on_retry=lambda: reported.append(1))
    assert len(calls) == 4 and len(reported) == 2 + 3
    assert not hasattr(caught.value, "exhausted"), "a request that gave up is not marked for another level"
