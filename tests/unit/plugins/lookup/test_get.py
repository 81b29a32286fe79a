"""lookup/get.py: values in the order asked, JSON fields selected, the missing-secret policies, and the
version ``ignore_grace`` asks for."""
from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleLookupError

from ansible_collections.vibebox.secrets.plugins.lookup import get
from ansible_collections.vibebox.secrets.plugins.module_utils.core import rotation_tags

CANARY = "CANARY-lookup-get-2a61"


def test_values_come_in_the_order_asked_and_json_fields_are_selected(lookup, store):
    options, manager = store
    manager.set("jwt", CANARY)
    manager.set("db", json.dumps({"user": "app", "password": CANARY}))
    assert lookup("get").run(["jwt", "db", "jwt"], variables={}, **options) == [CANARY, json.dumps({"user": "app", "password": CANARY}), CANARY]
    assert lookup("get").run(["db"], variables={}, json_key="user", **options) == ["app"]


def test_a_missing_secret_follows_the_policy_and_never_shows_a_value(lookup, store):
    options, manager = store
    manager.set("jwt", CANARY)
    assert lookup("get").run(["jwt", "nope"], variables={}, on_missing="skip", **options) == [CANARY]
    assert lookup("get").run(["nope"], variables={}, default="fallback", **options) == ["fallback"]
    with pytest.raises(AnsibleLookupError) as caught:
        lookup("get").run(["jwt", "nope"], variables={}, **options)
    assert "nope" in str(caught.value) and CANARY not in str(caught.value)


def test_a_field_that_is_not_there_names_the_secret_not_the_value():
    with pytest.raises(AnsibleLookupError, match="secret 'db' is not JSON"):
        get.LookupModule._select("db", CANARY, "user")
    with pytest.raises(AnsibleLookupError) as caught:
        get.LookupModule._select("db", json.dumps({"password": CANARY}), "user")
    assert "has no key 'user'" in str(caught.value) and CANARY not in str(caught.value)
    assert get.LookupModule._select("db", {"user": "v-app-1"}, "user") == "v-app-1"  # a dynamic secret is a dict
    assert get.LookupModule._select("db", CANARY, None) == CANARY


def test_the_ignore_grace_version_is_the_cores():
    """Written out in the lookup (a fork the run cache serves does not import the core): both must agree."""
    assert get.PREVIOUS_IGNORING_GRACE == rotation_tags.PREVIOUS_IGNORING_GRACE
