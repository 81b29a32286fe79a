"""core/expiry.py: parsing and checking expires_at / expires_in before any request, the decision of what a
write stores (idempotence of both options), the tag of tag-based providers, and what a read does with an
expired secret (on_expired; the lookups' check is in tests/unit/plugins/plugin_utils/test_reading_expiry.py).
No text ever holds a value."""
from __future__ import annotations

import datetime as dt

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import expiry, factory
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import InvalidOption, SecretExpired

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 6, 1, 12, 0, 0, 500000, tzinfo=UTC)
CANARY = "CANARY-expiry-3c9d"


@pytest.mark.parametrize("text, expected", [
    ("2027-01-31T12:00:00Z", dt.datetime(2027, 1, 31, 12, tzinfo=UTC)),
    ("2027-01-31T13:00:00+01:00", dt.datetime(2027, 1, 31, 12, tzinfo=UTC)),
    ("2027-01-31T12:00:00", dt.datetime(2027, 1, 31, 12, tzinfo=UTC)),  # no zone: UTC
    ("2027-01-31", dt.datetime(2027, 1, 31, tzinfo=UTC)),
    ("2027-01-31 12:00:00.75+00:00", dt.datetime(2027, 1, 31, 12, tzinfo=UTC)),  # whole seconds
])
def test_a_time_is_iso_8601_in_utc_with_whole_seconds(text, expected):
    assert expiry.parse_moment(text) == expected
    assert expiry.show(expiry.parse_moment(text)).endswith("Z")


@pytest.mark.parametrize("text", ["tomorrow", "2027-13-01", "", True, "31/01/2027"])
def test_a_bad_time_names_the_option(text):
    with pytest.raises(InvalidOption, match="'expires_at' must be an ISO 8601 time"):
        expiry.wanted(text if text != "" else " ", None, now=NOW)


def test_a_past_or_present_time_is_refused_naming_the_option():
    with pytest.raises(InvalidOption, match=r"'expires_at' is not in the future \(2026-05-01T00:00:00Z"):
        expiry.wanted("2026-05-01T00:00:00Z", None, now=NOW)
    with pytest.raises(InvalidOption, match="not in the future"):
        expiry.wanted("2026-06-01T12:00:00Z", None, now=NOW)  # now, to the second


@pytest.mark.parametrize("text, message", [
    ("0", "'expires_in' must be longer than zero"),
    ("0d", "'expires_in' must be longer than zero"),
    ("-5d", "'expires_in' must not be negative"),
    ("soon", "'expires_in' must be a duration"),
    ("99999w", "'expires_in' is longer than 100 years"),
])
def test_a_bad_duration_names_the_option(text, message):
    with pytest.raises(InvalidOption, match=message):
        expiry.wanted(None, text, now=NOW)


def test_both_options_are_mutually_exclusive_and_the_prefix_names_the_role_variable():
    with pytest.raises(InvalidOption, match="'migrate_expires_at' and 'migrate_expires_in' are mutually exclusive"):
        expiry.wanted("2030-01-01", "90d", now=NOW, where="migrate_")
    assert expiry.wanted(None, None, now=NOW) is None
    assert expiry.wanted("", "", now=NOW) is None


def test_expires_in_counts_from_now_and_expires_at_is_absolute():
    relative = expiry.wanted(None, "90d", now=NOW)
    assert relative.relative and relative.moment == dt.datetime(2026, 8, 30, 12, tzinfo=UTC)
    absolute = expiry.wanted("2030-01-01T00:00:00Z", None, now=NOW)
    assert not absolute.relative and absolute.moment == dt.datetime(2030, 1, 1, tzinfo=UTC)


def test_what_a_write_stores_keeps_a_re_run_unchanged():
    absolute = expiry.wanted("2030-01-01T00:00:00Z", None, now=NOW)
    stored = dt.datetime(2030, 1, 1, 0, 0, 0, 300000, tzinfo=UTC)  # a provider's fraction is not a change
    assert expiry.to_write(absolute, stored, new_value=False) is None
    assert expiry.to_write(absolute, stored, new_value=True) is None
    assert expiry.to_write(absolute, None, new_value=False) == absolute.moment
    assert expiry.to_write(absolute, dt.datetime(2029, 1, 1, tzinfo=UTC), new_value=False) == absolute.moment
    relative = expiry.wanted(None, "90d", now=NOW)
    # an unchanged value keeps the date it has: re-applying the duration would move it on every run
    assert expiry.to_write(relative, dt.datetime(2026, 7, 1, tzinfo=UTC), new_value=False) is None
    assert expiry.to_write(relative, dt.datetime(2026, 7, 1, tzinfo=UTC), new_value=True) == relative.moment
    assert expiry.to_write(relative, None, new_value=False) == relative.moment
    assert expiry.to_write(None, None, new_value=True) is None


def test_the_tag_carries_the_date_and_an_unreadable_tag_counts_as_none():
    moment = dt.datetime(2030, 1, 1, tzinfo=UTC)
    tags = expiry.with_tag({"team": "a"}, moment)
    assert tags == {"team": "a", expiry.EXPIRY_TAG: "2030-01-01T00:00:00Z"}
    assert expiry.from_tags(tags) == moment
    assert expiry.without_tag(tags) == {"team": "a"}
    assert expiry.with_tag(None, None) == {}
    assert expiry.from_tags({expiry.EXPIRY_TAG: "garbage"}) is None
    assert expiry.from_tags(None) is None


def test_judge_read_errors_warns_or_ignores_naming_the_secret_and_time_only():
    past = dt.datetime(2026, 5, 1, tzinfo=UTC)
    with pytest.raises(SecretExpired) as caught:
        expiry.judge_read("api-key", past, "error", provider="local", now=NOW)
    assert "expired at 2026-05-01T00:00:00Z" in str(caught.value) and "api-key" in str(caught.value)
    assert caught.value.kind == "expired"
    warning = expiry.judge_read("api-key", past, "warn", now=NOW)
    assert "'api-key' expired at 2026-05-01T00:00:00Z" in warning
    assert expiry.judge_read("api-key", past, "ignore", now=NOW) is None
    assert expiry.judge_read("api-key", dt.datetime(2027, 1, 1, tzinfo=UTC), "error", now=NOW) is None
    assert expiry.judge_read("api-key", None, "error", now=NOW) is None
    with pytest.raises(InvalidOption, match="'on_expired' must be one of error, warn, ignore"):
        expiry.on_expired_option("fail")
    assert expiry.on_expired_option(None) == "warn"


# the tag-based default of set_expiry on the local store (no server) ----------------------------------------

@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.delenv("ENABLE_SECRET_MANAGER", raising=False)
    monkeypatch.setenv("VIBEBOX_RUN_CACHE", "false")
    opts = {"provider": "local", "local_path": str(tmp_path / "s.db"), "local_key_file": str(tmp_path / "s.key"),
            "audit_log": "false"}
    return opts, factory.build_manager(opts, env={})


def test_set_expiry_keeps_the_other_tags_and_describe_and_get_return_it(store):
    _opts, manager = store
    manager.set("api-key", CANARY, tags={"team": "a"})
    moment = dt.datetime(2030, 1, 1, tzinfo=UTC)
    assert not manager.native_expiry
    manager.set_expiry("api-key", moment)
    assert manager.describe("api-key").expires_at == moment
    assert manager.describe("api-key").tags["team"] == "a"
    assert manager.get("api-key", bypass_cache=True).metadata.expires_at == moment


def test_never_takes_an_expiry_back_only_where_it_is_allowed():
    now = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    asked = expiry.wanted(" Never ", None, now=now, allow_never=True)
    assert asked is not None and asked.clears and asked.moment is None
    with pytest.raises(InvalidOption, match="'migrate_expires_at' cannot be 'never' here"):
        expiry.wanted("never", None, now=now, where="migrate_")
    with pytest.raises(InvalidOption, match="mutually exclusive"):
        expiry.wanted("never", "90d", now=now, allow_never=True)
    stored = dt.datetime(2031, 1, 1, tzinfo=dt.timezone.utc)
    assert expiry.to_write(asked, stored, new_value=False) is expiry.CLEAR
    assert expiry.to_write(asked, stored, new_value=True) is expiry.CLEAR
    assert expiry.to_write(asked, None, new_value=True) is None  # nothing to take back: no change
    tags = expiry.with_tag({"team": "a"}, stored)
    assert expiry.with_tag(tags, expiry.CLEAR) == {"team": "a"}
    assert expiry.show(expiry.CLEAR) is None
