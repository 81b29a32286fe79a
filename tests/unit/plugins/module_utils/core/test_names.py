"""core/names.py: logical names to provider names and back, each provider's rule checked before any call."""
from __future__ import annotations

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, names


@pytest.mark.parametrize("provider,logical,expected", [
    ("aws", "jwt-secret", "vibebox/jwt-secret"),
    ("gcp", "jwt-secret", "vibebox-jwt-secret"),
    ("azure", "jwt-secret", "vibebox-jwt-secret"),
    ("vault", "app/jwt-secret", "vibebox/app/jwt-secret"),
    ("kubernetes", "jwt-secret", "jwt-secret"),
    ("env", "jwt-secret", "JWT_SECRET"),
    ("local", "jwt-secret", "jwt-secret"),
])
def test_default_prefixes_follow_the_seed(provider, logical, expected):
    assert names.to_provider_name(provider, logical) == expected


@pytest.mark.parametrize("provider,logical", [
    ("gcp", "has.dot"), ("azure", "under_score"), ("azure", "a" * 130), ("gcp", "a/b"),
    ("kubernetes", "a/b"), ("aws", "sp ace"), ("vault", "a/../b"), ("local", ""),
])
def test_provider_rules_reject_before_any_call(provider, logical):
    with pytest.raises(errors.InvalidSecretName) as caught:
        names.to_provider_name(provider, logical)
    assert provider in str(caught.value)


def test_explicit_prefix_wins_and_round_trips():
    assert names.to_provider_name("aws", "x", prefix="prod/") == "prod/x"
    assert names.to_logical_name("aws", "prod/x", prefix="prod/") == "x"
    assert names.to_logical_name("aws", "other/x", prefix="prod/") is None


# names --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [".", "./x", "a/./b", "a//b", "x/", "/x", "a/..", "a/../b"])
@pytest.mark.parametrize("provider", ["aws", "vault", "local", "gcp", "azure", "kubernetes"])
def test_dot_and_empty_segments_are_refused_for_every_provider(provider, bad):
    with pytest.raises(errors.InvalidSecretName, match="path segment"):
        names.to_provider_name(provider, bad)


def test_the_refusal_suggests_the_clean_name_and_checks_a_vault_prefix():
    with pytest.raises(errors.InvalidSecretName, match="Use 'x/y'"):
        names.to_provider_name("vault", "x/./y")
    with pytest.raises(errors.InvalidSecretName, match="prefix"):
        names.to_provider_name("vault", "x", prefix="team//")
    assert names.to_provider_name("vault", "a.b/c.d") == "vibebox/a.b/c.d"


@pytest.mark.parametrize("prefix", ["team//", "a/../", "./", "/team/"])
def test_a_local_prefix_with_dot_or_empty_segments_is_refused(prefix):
    """The local store is where secrets wait before moving to Vault: a prefix Vault would fold is refused here too."""
    with pytest.raises(errors.InvalidSecretName, match="prefix"):
        names.to_provider_name("local", "x", prefix=prefix)
    assert names.to_provider_name("local", "x", prefix="team/app/") == "team/app/x"
