"""plugins/modules/postgres_rotate.py: the role is required, and bad input fails before the database is reached."""
from __future__ import annotations


def test_the_role_is_required(run_module, store):
    result = run_module("postgres_rotate", **store)
    assert result["failed"] is True and "role" in result["msg"]


def test_a_bad_max_age_fails_before_connecting(run_module, store):
    result = run_module("postgres_rotate", role="app", max_age="soon", login_host="127.0.0.1", login_port=9,
                        login_password="CANARY-admin-pw", **store)
    assert result["failed"] is True and "max_age" in result["msg"] and "CANARY-admin-pw" not in repr(result)
