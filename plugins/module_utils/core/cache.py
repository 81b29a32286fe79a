# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""In-process TTL cache of secrets, keyed by (provider name, version).

It lives in memory only: values are never written to disk by the cache. The cross-fork run cache
(plugin_utils/run_cache/) sits in front of it for lookups, with this cache switched off under it.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Dict, Optional, Tuple

from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret

CacheKey = Tuple[str, str]


class SecretCache:
    def __init__(self, ttl: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = float(ttl)
        self._clock = clock
        self._entries: Dict[CacheKey, Tuple[float, Secret]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(provider_name: str, version: Optional[str]) -> CacheKey:
        return (provider_name, version or "current")

    def get(self, provider_name: str, version: Optional[str]) -> Optional[Secret]:
        if self.ttl <= 0:
            return None
        with self._lock:
            entry = self._entries.get(self.key(provider_name, version))
            if entry is None:
                return None
            stored_at, secret = entry
            if self._clock() - stored_at >= self.ttl:
                del self._entries[self.key(provider_name, version)]
                return None
            return secret

    def put(self, provider_name: str, version: Optional[str], secret: Secret) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            self._entries[self.key(provider_name, version)] = (self._clock(), secret)

    def invalidate(self, provider_name: str) -> None:
        """Forget every version of one secret (after a write, 'previous' moves too)."""
        with self._lock:
            for key in [k for k in self._entries if k[0] == provider_name]:
                del self._entries[key]
