"""plugins/modules/secret_status.py: the page and its JSON written once, nothing in check mode, a folder refused."""
from __future__ import annotations

SOURCES = [{"provider": "local", "secrets": [{"name": "jwt", "updated": "2026-01-01T00:00:00+00:00"}], "audit": []}]


def test_the_page_is_written_once(run_module, tmp_path):
    page = tmp_path / "status.html"
    checked = run_module("secret_status", check_mode=True, path=str(page), sources=SOURCES)
    assert checked["changed"] is True and not page.exists()
    first = run_module("secret_status", path=str(page), sources=SOURCES)
    assert first["failed"] is False and first["changed"] is True and page.exists()
    assert "jwt" in page.read_text()
    assert run_module("secret_status", path=str(page), sources=SOURCES)["changed"] is False


def test_a_folder_is_refused(run_module, tmp_path):
    result = run_module("secret_status", path=str(tmp_path), sources=SOURCES)
    assert result["failed"] is True and "is a directory" in result["msg"]
