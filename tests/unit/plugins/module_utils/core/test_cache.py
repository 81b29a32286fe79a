"""core/cache.py: the in-process cache expires, drops every version of a name, and a TTL of zero stores nothing."""
from __future__ import annotations

from ansible_collections.vibebox.secrets.plugins.module_utils.core.cache import SecretCache
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret, SecretMetadata


def _secret(value="v"):
    return Secret(value, SecretMetadata(name="n", version="1"))


def test_cache_expires_and_invalidates_every_version():
    now = [0.0]
    cache = SecretCache(ttl=10, clock=lambda: now[0])
    cache.put("n", None, _secret())
    cache.put("n", "previous", _secret("old"))
    assert cache.get("n", "current").value == "v"
    now[0] = 9.9
    assert cache.get("n", None) is not None
    cache.invalidate("n")
    assert cache.get("n", "previous") is None
    cache.put("n", None, _secret())
    now[0] = 30
    assert cache.get("n", None) is None


def test_zero_ttl_disables_the_cache():
    cache = SecretCache(ttl=0)
    cache.put("n", None, _secret())
    assert cache.get("n", None) is None
