"""action/secret_cleanup.py: only names that lost a version are dropped, unless the run failed part-way."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize("args,result,expected", [
    ({"names": ["a", "b"]},
     {"changed": True, "secrets": [{"name": "a", "destroyed": ["1"]}, {"name": "b", "destroyed": []}]}, ["a"]),
    ({"names": ["a", "b"]}, {"failed": True, "secrets": []}, ["a", "b"]),
])
def test_written_names(action, args, result, expected):
    assert list(action("secret_cleanup", **args).written_names(result)) == expected


def test_it_does_not_take_the_strength_policy(action):
    assert action("secret_cleanup").takes_policy is False
