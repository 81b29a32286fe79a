"""plugins/modules/secret.py on the embedded store: a write, its idempotence, check mode, absent, and no value
in the result; and what it plans and sends for an expiry, per kind of provider (the expiry as its own field, or
as a tag riding along with the tags), without any request."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from ansible_collections.vibebox.secrets.plugins.module_utils.core import expiry
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Observed, SecretMetadata
from ansible_collections.vibebox.secrets.plugins.modules import secret

CANARY = "CANARY-module-secret-51c2"


def test_a_write_then_the_same_write_again_changes_nothing(run_module, store):
    first = run_module("secret", name="jwt", value=CANARY, **store)
    assert first["failed"] is False and first["changed"] is True
    again = run_module("secret", name="jwt", value=CANARY, **store)
    assert again["failed"] is False and again["changed"] is False
    assert CANARY not in repr(first) + repr(again)


def test_check_mode_writes_nothing_and_absent_removes(run_module, store):
    checked = run_module("secret", check_mode=True, name="jwt", value=CANARY, **store)
    assert checked["changed"] is True
    assert run_module("secret", name="jwt", state="absent", **store)["changed"] is False  # nothing was written
    run_module("secret", name="jwt", value=CANARY, **store)
    assert run_module("secret", name="jwt", state="absent", **store)["changed"] is True


def test_a_bad_name_fails_before_any_write(run_module, store, tmp_path):
    failed = run_module("secret", name="a/../b", value=CANARY, **store)
    assert failed["failed"] is True and "path segment" in failed["msg"] and CANARY not in failed["msg"]
    assert not (tmp_path / "store" / "secrets.db").exists()


# expiry -------------------------------------------------------------------------------------------------
UTC = dt.timezone.utc
STORED = dt.datetime(2099, 1, 1, tzinfo=UTC)


def _manager(native):
    return SimpleNamespace(native_expiry=native, manages_settings=False, settings_changes=lambda *a, **k: [])


def _item(**given):
    item = {key: None for key in secret.ITEM_SPEC}
    item.update(state="present", overwrite=True, force=False, name="api-key")
    item.update(given)
    item["_expiry"] = expiry.wanted(item["expires_at"], item["expires_in"], allow_never=True)
    return item


def _seen(tags):
    meta = SecretMetadata(name="api-key", version="3", tags=dict(tags), expires_at=expiry.from_tags(tags))
    return Observed(meta, value="CANARY-same", same_value=True)


def test_tags_that_replace_the_others_keep_a_stored_expiry_tag():
    observed = _seen(expiry.with_tag({"team": "a"}, STORED))
    item = _item(tags={"team": "b"})
    changes, _restoring, _current, _settings = secret.plan(_manager(False), item, observed)
    assert changes == ["tags"]  # the expiry tag is not part of the comparison
    assert secret.written_tags(_manager(False), item, observed) == {"team": "b", expiry.EXPIRY_TAG: "2099-01-01T00:00:00Z"}
    assert secret.written_tags(_manager(True), item, observed) == {"team": "b"}  # a field of its own: tags alone


def test_a_new_date_rides_along_with_the_current_tags_or_goes_to_the_field():
    observed = _seen(expiry.with_tag({"team": "a"}, STORED))
    item = _item(expires_at="2098-06-01T00:00:00Z")
    changes, *_rest = secret.plan(_manager(False), item, observed)
    assert changes == ["expires_at"]
    assert secret.written_tags(_manager(False), item, observed) == {"team": "a", expiry.EXPIRY_TAG: "2098-06-01T00:00:00Z"}
    assert secret.written_tags(_manager(True), item, observed) is None


def test_the_same_date_and_an_unchanged_value_with_expires_in_change_nothing():
    observed = _seen(expiry.with_tag({}, STORED))
    assert secret.plan(_manager(False), _item(expires_at="2099-01-01T00:00:00Z", value="CANARY-same"), observed)[0] == []
    assert secret.plan(_manager(False), _item(expires_in="90d", value="CANARY-same"), observed)[0] == []
    created = _item(expires_in="90d", value="CANARY-new")
    assert secret.plan(_manager(False), created, None)[0] == ["state", "value", "expires_at"]
    assert secret.written_tags(_manager(False), created, None) == {expiry.EXPIRY_TAG: expiry.show(created["_expiry"].moment)}


def test_never_takes_the_expiry_back_with_its_own_request_and_a_secret_without_one_is_unchanged():
    observed = _seen(expiry.with_tag({"team": "a"}, STORED))
    item = _item(expires_at="never")
    changes, *_rest = secret.plan(_manager(False), item, observed)
    assert changes == ["expires_at"] and item["_expiry_write"] is expiry.CLEAR
    assert secret.written_tags(_manager(False), item, observed) is None  # set_expiry removes it, not a tags write
    retagged = _item(expires_at="never", tags={"team": "b"})
    secret.plan(_manager(False), retagged, observed)
    assert secret.written_tags(_manager(False), retagged, observed) == {"team": "b", expiry.EXPIRY_TAG: "2099-01-01T00:00:00Z"}
    assert secret.plan(_manager(False), _item(expires_at="never"), _seen({"team": "a"}))[0] == []


def test_never_is_refused_before_any_request_where_the_provider_cannot_remove_an_expiry():
    import pytest

    from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors

    manager = SimpleNamespace(provider="azure", clears_expiry=False, provider_name=lambda name: name,
                              check_value=lambda *a: None)
    with pytest.raises(errors.UnsupportedOperation, match="cannot remove an expiry"):
        secret.prepare(manager, _item(expires_at="never"), {})
