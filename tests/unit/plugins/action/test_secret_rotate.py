"""action/secret_rotate.py: a rotation drops the rotated name from the run cache and takes the collection-wide policy."""
from __future__ import annotations


def test_the_rotated_name_is_dropped(action, dropped):
    assert list(action("secret_rotate", name="jwt").written_names({"changed": True})) == ["jwt"]
    action("secret_rotate", name="jwt").after({"changed": True})
    assert dropped == [["jwt"]]


def test_it_takes_the_collection_wide_policy(action):
    assert action("secret_rotate").takes_policy is True
