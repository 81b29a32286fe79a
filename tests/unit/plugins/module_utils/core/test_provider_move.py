"""The pure parts of a provider-to-provider move: rename suggestions, the source label, the tags a
move writes (the rotation's grace follows the version it protects), and the refusals made before any
read of a value. The moves themselves run against real servers in tests/integration/test_provider_move.py."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, expiry
from ansible_collections.vibebox.secrets.plugins.module_utils.core import provider_move as move
from ansible_collections.vibebox.secrets.plugins.module_utils.core.manager import SecretManager
from ansible_collections.vibebox.secrets.plugins.module_utils.providers.env import EnvBackend


@pytest.mark.parametrize("provider,name,expected", [
    ("azure", "team/db_password", "team-db-password"),
    ("gcp", "app/jwt.key", "app-jwt-key"),
    ("kubernetes", "a/b+c", "a-b-c"),
    ("azure", "already-fine", None),
    ("azure", "///", None),
])
def test_suggest_name(provider, name, expected):
    assert move.suggest_name(provider, name, None) == expected


def test_source_label_depends_on_identity_and_prefix():
    one = SecretManager(EnvBackend({}), prefix="")
    two = SecretManager(EnvBackend({}), prefix="x/")
    assert move.source_label(one, {"provider": "env"}) != move.source_label(two, {"provider": "env"})
    assert move.source_label(one, {"provider": "env"}).startswith(move.SOURCE_ROOT + "/env-")


def test_final_tags_map_the_grace_version_or_drop_it():
    row = move.MoveRow(key="k", name="k", tags={"vibebox-rotated-at": "100", "vibebox-grace-until": "200",
                                                "vibebox-grace-version": "7", "team": "a"})
    settings = move.MoveSettings(tags={"team": "default", "moved-by": "x"})
    mapped = move._final_tags(row, settings, {"7": "2"})
    assert mapped == {"vibebox-rotated-at": "100", "vibebox-grace-until": "200", "vibebox-grace-version": "2",
                      "team": "a", "moved-by": "x"}
    dropped = move._final_tags(row, settings, {})
    assert "vibebox-grace-version" not in dropped and "vibebox-grace-until" not in dropped
    assert dropped["vibebox-rotated-at"] == "100"


def test_refusals_before_any_read():
    env = SecretManager(EnvBackend({"A": "CANARY"}), prefix="")
    with pytest.raises(errors.ReadOnlyProvider):
        move.check_pair(env, env, move.MoveSettings(), {"provider": "env"}, {"provider": "env"})
    target = SecretManager(EnvBackend({}), prefix="")
    target.backend.read_only = False
    with pytest.raises(errors.InvalidOption, match="migrate_versions"):
        move.check_pair(env, target, move.MoveSettings(versions="some"), {"provider": "env", "a": "1"},
                        {"provider": "env", "a": "2"})
    with pytest.raises(errors.InvalidOption, match="migrate_include"):
        move.check_pair(env, target, move.MoveSettings(), {"provider": "env", "a": "1"}, {"provider": "env", "a": "2"})
    with pytest.raises(move.MoveError, match="same store"):
        move.check_pair(env, target, move.MoveSettings(include=["a"]), {"provider": "env"}, {"provider": "env"})


def test_source_options_document_every_provider_option():
    """The module's source_options sub-options are the provider options: a new provider option must be documented there too."""
    import yaml

    from ansible_collections.vibebox.secrets.plugins.modules import secret_move

    documented = yaml.safe_load(secret_move.DOCUMENTATION)["options"]["source_options"]["suboptions"]
    spec = secret_move._source_spec()
    assert set(documented) == set(spec)
    for name, rules in spec.items():
        assert documented[name]["type"] == rules.get("type", "str"), name
        assert (documented[name].get("choices") or None) == (rules.get("choices") or None), name


@pytest.mark.parametrize("native, days, field, tag", [
    (False, 30, False, True),   # a tag-based target keeps the date as the tag, whatever the source had
    (True, 30, True, False),    # Azure/GCP: their own field, and no stale tag
    (True, -1, False, True),    # a past date stays a tag: the field would delete or hide the copy
    (False, -1, False, True),
])
def test_the_expiry_of_a_moved_secret_goes_where_the_target_keeps_it(native, days, field, tag):
    moment = expiry.whole_seconds(dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days))
    row = move.MoveRow(key="api-key", name="api-key", expires_at=moment)
    tags = {"team": "a", expiry.EXPIRY_TAG: "stale"}
    to_field = move._expiry_for(SimpleNamespace(native_expiry=native), row, tags)
    assert (to_field == moment) if field else to_field is None
    assert (tags.get(expiry.EXPIRY_TAG) == expiry.show(moment)) if tag else expiry.EXPIRY_TAG not in tags
    assert tags["team"] == "a"
    none = move.MoveRow(key="x", name="x")
    assert move._expiry_for(SimpleNamespace(native_expiry=True), none, {}) is None
