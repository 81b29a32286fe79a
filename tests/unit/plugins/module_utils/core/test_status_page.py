"""core/status_page.py: a page that is escaped, self-contained and holds only the fields it names."""
from __future__ import annotations

import datetime as dt
import re

from ansible_collections.vibebox.secrets.plugins.module_utils.core import status, status_page

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)


def _iso(days_ago: float) -> str:
    return (NOW - dt.timedelta(days=days_ago)).isoformat().replace("+00:00", "Z")


def _secret(name, days_ago, **extra):
    row = {"name": name, "version": "3", "last_rotation": _iso(days_ago), "age_days": days_ago,
           "grace": {"state": "none"}, "violations": [], "rotated_by": "vibebox.secrets",
           "tags": {"owner": "SHOULD-NOT-APPEAR"}, "description": "SHOULD-NOT-APPEAR-EITHER"}
    row.update(extra)
    return row


def _source(*secrets, audit=()):
    return {"provider": "vault", "secrets": list(secrets), "audit": list(audit)}


def test_page_escapes_names_and_allows_only_its_own_style_and_script():
    report = status.build([_source(_secret('<img src="http://x.invalid/a.png">', 40))], NOW, default_max_age="30d")
    page = status_page.render(report)
    assert '<img src="http' not in page and "&lt;img src=&quot;http://x.invalid/a.png&quot;&gt;" in page
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert "default-src &#x27;none&#x27;" in csp and "unsafe-inline" not in csp
    assert status_page._sha256(status_page.STYLE).replace("'", "&#x27;") in csp
    assert status_page._sha256(status_page.SCRIPT).replace("'", "&#x27;") in csp
    assert f"<style>{status_page.STYLE}</style>" in page and f"<script>{status_page.SCRIPT}</script>" in page
    assert 'id="count-overdue" class=hot><b>1</b>' in page
    assert page.count("<tr data-provider=") == 1
