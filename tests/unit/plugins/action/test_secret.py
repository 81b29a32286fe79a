"""action/secret.py: a write drops the written name from the run cache and takes the collection-wide policy."""
from __future__ import annotations


def test_the_written_name_is_the_tasks_and_the_results(action):
    assert list(action("secret", name="jwt").written_names({"changed": True, "name": "jwt"})) == ["jwt"]


def test_a_name_is_dropped_only_when_the_write_changed_or_failed(action, dropped):
    action("secret", name="jwt").after({"changed": False})
    assert dropped == []
    action("secret", name="jwt").after({"failed": True})  # a failed write may have written part of it
    action("secret", name="jwt").after({"changed": True})
    assert dropped == [["jwt"], ["jwt"]]


def test_it_takes_the_collection_wide_policy(action):
    assert action("secret").takes_policy is True


def test_an_async_write_holds_its_names_for_the_jobs_time(action, held):
    """The job of an async task writes later, at any moment until its async timeout: the run cache must keep
    nothing it reads of the name until then, or a lookup made meanwhile serves the value from before the write."""
    action("secret", name="jwt", async_val=45).after({"changed": True, "started": 1, "finished": 0})
    action("secret", name="jwt").after({"changed": True})
    assert held == [(["jwt"], 45.0, False), (["jwt"], 0.0, False)]
