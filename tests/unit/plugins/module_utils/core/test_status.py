"""core/status.py: states, due dates and counts with a fixed clock."""
from __future__ import annotations

import datetime as dt

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import status
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import InvalidOption

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)


def _iso(days_ago: float) -> str:
    return (NOW - dt.timedelta(days=days_ago)).isoformat().replace("+00:00", "Z")


def _secret(name, days_ago, **extra):
    row = {"name": name, "version": "3", "last_rotation": _iso(days_ago), "age_days": days_ago,
           "grace": {"state": "none"}, "violations": [], "rotated_by": "vibebox.secrets",
           "tags": {"owner": "SHOULD-NOT-APPEAR"}, "description": "SHOULD-NOT-APPEAR-EITHER"}
    row.update(extra)
    return row


def _source(*secrets, audit=()):
    return {"provider": "vault", "secrets": list(secrets), "audit": list(audit)}


def test_states_due_dates_and_counts():
    report = status.build([_source(
        _secret("old", 40), _secret("soon", 27), _secret("fine", 1),
        _secret("graceful", 2, grace={"state": "until", "until": _iso(-0.1)}),
        _secret("expired", 1, expires_at=_iso(1)),
        _secret("bad", 1, violations=["too old"]),
        _secret("lambda", 400, rotation={"by": "aws-lambda", "next": _iso(-3)}),
    )], NOW, max_ages={"old": "30d", "soon": "30d", "lambda": "30d"}, default_max_age="90d")
    states = {row["name"]: row["states"] for row in report["secrets"]}
    assert states == {"old": ["overdue"], "soon": ["due"], "fine": ["ok"], "graceful": ["grace"],
                      "expired": ["expired"], "bad": ["failing"], "lambda": ["due"]}
    assert report["counts"] == {"expired": 1, "overdue": 1, "failing": 1, "grace": 1, "due": 2, "total": 7}
    rows = {row["name"]: row for row in report["secrets"]}
    assert rows["old"]["next_due"] == _iso(10) and rows["old"]["due_from"] == "max_age 30d"
    assert rows["fine"]["due_from"] == "max_age 90d"
    assert rows["lambda"]["due_from"] == "aws-lambda schedule", "the provider's own schedule wins"
    assert [row["name"] for row in report["secrets"]][:2] == ["expired", "old"], "worst first"
    assert "SHOULD-NOT-APPEAR" not in repr(report)


def test_no_schedule_means_no_due_date_and_bad_periods_are_refused():
    report = status.build([_source(_secret("free", 500))], NOW)
    assert report["secrets"][0]["next_due"] is None and report["secrets"][0]["states"] == ["ok"]
    with pytest.raises(InvalidOption):
        status.build([_source(_secret("x", 1))], NOW, max_ages={"x": "soon"})


def test_events_leave_out_reads_and_failed_operations_leave_out_routine_misses():
    audit = [
        {"ts": _iso(3), "op": "set", "provider": "vault", "name": "jwt", "ok": True, "actor": "ci"},
        {"ts": _iso(2), "op": "get", "provider": "vault", "name": "jwt", "ok": True, "actor": "app"},
        {"ts": _iso(2), "op": "get", "provider": "vault", "name": "new", "ok": False, "error": "SecretNotFound: no"},
        {"ts": _iso(1), "op": "rotate", "provider": "vault", "name": None, "names": ["jwt"], "ok": False,
         "error": "ProviderUnavailable: [vault] timed out", "actor": "ci"},
        {"ts": _iso(1), "op": "set", "provider": "aws", "name": "jwt", "ok": True, "actor": "other provider"},
    ]
    report = status.build([_source(_secret("jwt", 1), audit=audit)], NOW)
    events = report["secrets"][0]["events"]
    assert [event["op"] for event in events] == ["rotate", "set"], "newest first, no reads, only this provider"
    assert events[0]["error_kind"] == "ProviderUnavailable"
    assert [entry["op"] for entry in report["failed_operations"]] == ["rotate"]


def test_same_report_ignores_only_the_time():
    first = status.build([_source(_secret("a", 1))], NOW)
    again = status.build([_source(_secret("a", 1))], NOW + dt.timedelta(seconds=5))
    assert status.same_report(first, again)
    assert not status.same_report(first, status.build([_source(_secret("a", 2))], NOW))
    assert not status.same_report(None, first)
