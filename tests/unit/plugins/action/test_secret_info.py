"""action/secret_info.py: a read drops nothing from the run cache and takes no strength policy."""
from __future__ import annotations


def test_a_read_only_module_invalidates_nothing(action, dropped):
    action("secret_info", name="jwt").after({"changed": False})
    action("secret_info", name="jwt").after({"changed": True, "failed": True})
    assert dropped == []


def test_it_does_not_take_the_strength_policy(action):
    assert action("secret_info").takes_policy is False
