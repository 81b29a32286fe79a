"""plugins/modules/secret.py: what the secret module plans and sends for an expiry, per kind of provider (the
expiry as its own field, or as a tag riding along with the tags), without any request."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from ansible_collections.vibebox.secrets.plugins.module_utils.core import expiry
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Observed, SecretMetadata
from ansible_collections.vibebox.secrets.plugins.modules import secret

UTC = dt.timezone.utc
STORED = dt.datetime(2099, 1, 1, tzinfo=UTC)


def _manager(native):
    return SimpleNamespace(native_expiry=native, manages_settings=False, settings_changes=lambda *a, **k: [])


def _item(**given):
    item = {key: None for key in secret.ITEM_SPEC}
    item.update(state="present", overwrite=True, force=False, name="api-key")
    item.update(given)
    item["_expiry"] = expiry.wanted(item["expires_at"], item["expires_in"])
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
