# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Durations as users type them ('30s', '15m', '2h', '30d' or seconds), one parser for every plugin."""
from __future__ import annotations

import re
from typing import Optional, Union

from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import InvalidOption

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_duration(text: Union[str, int, float, None], option: str = "duration") -> Optional[int]:
    """Seconds for ``text``; None stays None so callers can tell 'not set' from zero."""
    if text is None or text == "":
        return None
    if isinstance(text, bool):
        raise InvalidOption(f"option '{option}' must be a duration such as 30s, 15m, 2h or 30d, not a boolean")
    if isinstance(text, (int, float)):
        if text < 0:
            raise InvalidOption(f"option '{option}' must not be negative (got {text})")
        return int(text)
    match = _PATTERN.match(str(text))
    if not match:
        raise InvalidOption(
            f"option '{option}' must be a duration such as 30s, 15m, 2h or 30d, or a number of seconds (got '{text}')"
        )
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit or "s"])
