"""core/audit.py: the audit log's entries: operation names checked, no value ever written."""
from __future__ import annotations

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core.audit import AuditLog


def test_audit_operation_names_are_checked():
    with pytest.raises(ValueError):
        AuditLog(None, "memory").operation("rotation", ["jwt"], ok=True)
