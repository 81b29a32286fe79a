# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Durations as users type them ('30s', '15m', '2h', '30d', '4w' or seconds), one parser for every plugin.

Every duration is bounded here, before any plugin writes: a grace period of ``99999999999999w`` is
a typo, and accepting it would write a version whose grace date no calendar can hold (Python's
datetime stops at year 9999), which then breaks every later rotation of that secret. 100 years is
far beyond any real schedule and far inside what every provider's timestamps can hold.
"""
from __future__ import annotations

import math
import re
from typing import Optional, Union

from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import InvalidOption

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*([-+]?)\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
#: the longest duration any option accepts: 100 years of 365.25 days
MAX_SECONDS = int(100 * 365.25 * 86400)
_EXAMPLES = "a duration such as 30s, 15m, 2h, 30d or 4w, or a number of seconds"


def parse_duration(text: Union[str, int, float, None], option: str = "duration") -> Optional[int]:
    """Seconds for ``text``; None stays None so callers can tell 'not set' from zero.

    Raises InvalidOption naming ``option`` for anything that is not a duration, is negative or is
    longer than 100 years.
    """
    if text is None or text == "":
        return None
    if isinstance(text, bool):
        raise InvalidOption(f"option '{option}' must be {_EXAMPLES}, not a boolean")
    if isinstance(text, (int, float)):
        seconds = float(text)
        shown = str(text)
    else:
        match = _PATTERN.match(str(text))
        if not match:
            raise InvalidOption(f"option '{option}' must be {_EXAMPLES} (got '{text}')")
        sign, number, unit = match.groups()
        seconds = float(number) * _UNITS[unit or "s"] * (-1 if sign == "-" else 1)
        shown = f"'{str(text).strip()}'"
    if math.isnan(seconds):
        raise InvalidOption(f"option '{option}' must be {_EXAMPLES} (got {shown})")
    if seconds < 0:
        raise InvalidOption(f"option '{option}' must not be negative (got {shown})")
    if seconds > MAX_SECONDS:
        raise InvalidOption(
            f"option '{option}' is longer than 100 years (got {shown})",
            hint="Check the number and the unit (s, m, h, d, w)",
        )
    return int(seconds)
