# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""What the run cache must know about a leased secret (a dynamic secret such as Vault's database
credentials): that it is one, which lease it holds, and how long one copy may be handed out.

A leased secret's value is a dict holding ``lease_id`` and ``lease_duration`` (seconds, 0 for no
end) next to its fields (``username``, ``password`` ...). Reading it again does not return the same
value: it creates another lease (another database user), so the run cache keeps one copy for the
lease's life instead of for ``cache_ttl``, and 50 hosts share one lease.
"""
from __future__ import annotations

from typing import Optional, Tuple

#: share of the lease during which the copy is handed out: a host that gets it near the end still has
#: a tenth of the lease (six minutes of a one-hour lease) to use it; after that a new lease is read
REUSE_SHARE = 0.9
LEASE_ID = "lease_id"
LEASE_DURATION = "lease_duration"


def lease_of(outcome: object) -> Optional[Tuple[str, float]]:
    """(lease id, duration in seconds) of a leased secret; None for anything else."""
    value = getattr(outcome, "value", None)
    if not isinstance(value, dict) or not value.get(LEASE_ID):
        return None
    try:
        duration = float(value.get(LEASE_DURATION) or 0)
    except (TypeError, ValueError):
        duration = 0.0
    return str(value[LEASE_ID]), duration


def reuse_for(outcome: object, ttl: float) -> float:
    """Seconds a cached ``outcome`` may be handed out: ``ttl`` (the cache_ttl) for an ordinary one, most
    of the lease for a leased one (forever for a lease without end), whatever cache_ttl says."""
    lease = lease_of(outcome)
    if lease is None:
        return ttl
    duration = lease[1]
    return float("inf") if duration <= 0 else duration * REUSE_SHARE
