"""core/durations.py: the duration syntax every option shares, its bounds, and errors that name the option."""
from __future__ import annotations

import math

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import durations, errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core.durations import MAX_SECONDS, parse_duration


@pytest.mark.parametrize("text,seconds", [("30s", 30), ("15m", 900), ("2h", 7200), ("30d", 2592000), ("90", 90), (45, 45), (None, None)])
def test_durations(text, seconds):
    assert durations.parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["2 hours", "-5", "h", True])
def test_bad_durations_name_the_option(bad):
    with pytest.raises(errors.InvalidOption) as caught:
        durations.parse_duration(bad, "grace_period")
    assert "grace_period" in str(caught.value)


# --- durations and tags ----------------------------------------------------------------------------
@pytest.mark.parametrize("option,text,says", [
    ("grace_period", "99999999999999w", "longer than 100 years"),
    ("max_age", "36526d", "longer than 100 years"),
    ("grace_period", "-5m", "must not be negative"),
    ("grace_period", -1, "must not be negative"),
    ("max_age", "soon", "must be a duration"),
    ("max_age", math.inf, "longer than 100 years"),
    ("max_age", math.nan, "must be a duration"),
    ("grace_period", True, "not a boolean"),
])
def test_durations_out_of_bounds_are_refused_with_the_option_name(option, text, says):
    with pytest.raises(errors.InvalidOption) as caught:
        parse_duration(text, option)
    assert f"option '{option}'" in str(caught.value) and says in str(caught.value)


def test_durations_up_to_100_years_are_accepted():
    assert parse_duration("36525d", "max_age") == MAX_SECONDS
    assert parse_duration("2h", "grace_period") == 7200 and parse_duration("0", "grace_period") == 0
