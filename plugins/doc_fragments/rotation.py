# -*- coding: utf-8 -*-
"""Options every rotating module shares (secret_rotate, postgres_rotate): written once, so the two
modules cannot describe the same guard differently."""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  unless_rotated_since:
    description:
      - A moment (ISO 8601 such as C(2026-12-03T04:00:00.250000Z), or epoch seconds). When the current value was made
        at or after it, another run started together with this one has rotated already, and this one reports
        RV(already_rotated) and changes nothing, whatever O(max_age) says.
      - Give the moment the run started (the C(rotate) role does, in microseconds), so that two schedules, or a job
        started twice, rotate once and the previous version keeps its whole grace period.
      - A moment in the future is refused.
    type: str
"""
