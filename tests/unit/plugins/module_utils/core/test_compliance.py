"""core/compliance.py: the policy rules with a fixed clock, and a report that never holds a value."""
from __future__ import annotations

import datetime as dt

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import compliance, generators
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import InvalidOption

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(days=1)


def _policy(**fields) -> compliance.Policy:
    return compliance.Policy.from_options(fields)


def test_policy_fields_are_parsed_and_checked():
    policy = _policy(max_age="30d", min_length=32, classes=["lower", "digits", "lower"])
    assert (policy.max_age, policy.min_length, policy.classes) == (30 * 86400, 32, ["lower", "digits"])
    assert policy.needs_values and not policy.empty
    assert compliance.Policy.from_options(None).empty
    assert _policy(max_age=3600).max_age == 3600


@pytest.mark.parametrize("fields, words", [
    ({"max_age": "soon"}, "policy.max_age"),
    ({"max_age": True}, "policy.max_age"),
    ({"min_length": -1}, "min_length"),
    ({"min_length": "32"}, "min_length"),
    ({"classes": "lower"}, "list"),
    ({"classes": ["lower", "emoji"]}, "emoji"),
    ({"max_length": 3}, "unknown fields"),
])
def test_bad_policies_name_the_field(fields, words):
    with pytest.raises(InvalidOption) as caught:
        compliance.Policy.from_options(fields)
    assert words in str(caught.value)


def test_the_rotation_tag_wins_over_the_version_time():
    rotated = NOW - 10 * DAY
    tags = {"vibebox-rotated-at": str(int(rotated.timestamp())), "team": "x"}
    assert compliance.last_rotation(tags, NOW - DAY) == rotated
    assert compliance.last_rotation({}, NOW - DAY) == NOW - DAY
    # a tag somebody else wrote does not break the report: the version time is used
    assert compliance.last_rotation({"vibebox-rotated-at": "last tuesday"}, NOW - DAY) == NOW - DAY
    naive = dt.datetime(2026, 5, 1, 0, 0)
    assert compliance.last_rotation(None, naive) == naive.replace(tzinfo=dt.timezone.utc)
    assert compliance.last_rotation(None, None) is None


def test_age_and_max_age():
    policy = _policy(max_age="30d")
    fresh = compliance.assess({}, NOW - 29 * DAY, None, policy, NOW)
    assert fresh["violations"] == [] and fresh["age_days"] == 29.0
    assert fresh["last_rotation"] == "2026-05-03T12:00:00Z" and fresh["expires_at"] is None
    assert "strength" not in fresh
    old = compliance.assess({}, NOW - 45 * DAY - dt.timedelta(hours=12), None, policy, NOW)
    assert old["violations"] == ["too old: last rotated 45.5 days ago, max_age is 30 days"]
    unknown = compliance.assess({}, None, None, policy, NOW)
    assert unknown["age_days"] is None and unknown["violations"][0].startswith("age unknown")
    # without max_age, age alone is never a violation
    assert compliance.assess({}, NOW - 900 * DAY, None, _policy(), NOW)["violations"] == []
    # a clock running behind the provider gives age 0, not a negative age
    assert compliance.assess({}, NOW + DAY, None, policy, NOW)["age_days"] == 0.0


def test_expiry_is_a_violation_even_without_a_policy():
    expired = compliance.assess({}, NOW - DAY, NOW - dt.timedelta(minutes=1), _policy(), NOW)
    assert expired["violations"] == ["expired on 2026-06-01T11:59:00Z"]
    later = compliance.assess({}, NOW - DAY, NOW + DAY, _policy(), NOW)
    assert later["violations"] == [] and later["expires_at"] == "2026-06-02T12:00:00Z"


def test_strength_rules_use_only_the_measurement():
    policy = _policy(min_length=32, classes=["lower", "upper", "digits", "symbols"])
    weak = generators.strength("password1")
    row = compliance.assess({}, NOW, None, policy, NOW, weak)
    assert row["strength"] == {"length": 9, "classes": ["digits", "lower"], "entropy_bits": 42.4}
    assert row["violations"] == ["too short: 9 characters, min_length is 32",
                                 "missing character classes: upper, symbols"]
    strong = generators.strength(generators.generate("password", 40))
    assert compliance.assess({}, NOW, None, policy, NOW, strong)["violations"] == []
    # not measured: no verdict on strength, unless the reading failed while the policy needs it
    assert compliance.assess({}, NOW, None, policy, NOW)["violations"] == []
    denied = compliance.assess({}, NOW, None, policy, NOW, None, "the value could not be read (denied)")
    assert denied["violations"] == ["strength not checked: the value could not be read (denied)"]
    assert compliance.assess({}, NOW, None, _policy(), NOW, None, "denied")["violations"] == []


def test_report_is_a_table_without_values():
    value = "CANARY-compliance-" + "x" * 20
    rows = [
        {"name": "jwt-secret", **compliance.assess({}, NOW - 40 * DAY, None, _policy(max_age="30d", min_length=64),
                                                   NOW, generators.strength(value))},
        {"name": "api-key", **compliance.assess({}, NOW - DAY, None, _policy(max_age="30d"), NOW)},
    ]
    lines = compliance.report_lines(rows, _policy(max_age="30d", min_length=64, classes=["digits"]))
    assert lines[0].split()[:2] == ["NAME", "AGE"] and set(lines[1]) <= {"-", " "}
    assert lines[2].startswith("jwt-secret") and "40.0" in lines[2] and "too old" in lines[2] and "too short" in lines[2]
    assert lines[3].startswith("api-key") and lines[3].rstrip().endswith("ok")
    assert lines[-1] == "2 secrets, 1 with violations (policy: max_age 30d, min_length 64, classes digits)"
    column = lines[0].index("AGE")
    assert lines[2][column:].startswith("40.0") and lines[3][column:].startswith("1.0"), "columns are aligned"
    assert all(value not in line for line in lines)
    summary = compliance.violation_summary(rows)
    assert summary.startswith("1 secrets violate the policy: jwt-secret: too old") and "api-key" not in summary


def test_empty_report():
    assert compliance.report_lines([])[-1] == "0 secrets, 0 with violations"
