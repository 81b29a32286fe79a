"""action/postgres_rotate.py: without ``name`` the module writes its default secret, so that is what is dropped."""
from __future__ import annotations


def test_the_default_name_is_dropped_when_the_task_gives_none(action):
    assert list(action("postgres_rotate").written_names({"changed": True})) == ["database-password"]
    assert list(action("postgres_rotate", name="db").written_names({"changed": True})) == ["db"]


def test_it_does_not_take_the_strength_policy(action):
    assert action("postgres_rotate").takes_policy is False
