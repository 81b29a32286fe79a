"""The status page: written by playbooks/status.yml, loaded in a real headless Chromium.

The store is seeded with secrets in every state the page counts (overdue, due soon, in grace,
failing compliance, fine) and a failed rotation in the audit log; every value is a canary, which
must appear nowhere in the page, its JSON or the run's output, not even as the short digest the
collection uses to compare values.

Chromium is Debian's package (tests/servers/ensure_chromium.sh installs it). Where it is missing
the browser tests skip, saying so, except with CI=true, where they fail. The page is loaded with
``--dump-dom`` (the DOM after its script ran); sorting and filtering are driven through the
address's fragment, which the page's script reads exactly as it does after a click. Every request
the browser makes goes to a recording proxy on loopback: the page must make none, and a control
page with one external image proves the recorder sees them. A screenshot is kept under
tests/output/ for a person to look at (and docs/status-page.png is made the same way).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from html.parser import HTMLParser
from typing import List

import pytest

from ansible_run import REPO, run_playbook, state_env

from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory, model
from ansible_collections.vibebox.secrets.plugins.module_utils.core.audit import AuditLog
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import ProviderUnavailable

CANARY = "CANARY-status-" + uuid.uuid4().hex
DAY = 86400
OUTPUT = os.path.join(REPO, "tests", "output")


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = "Debian's chromium is not installed (bash tests/servers/ensure_chromium.sh installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


# --- the store and the page ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A seeded local store, the page written by status.yml from a working directory, and its run."""
    root = tmp_path_factory.mktemp("status")
    env = state_env(root)
    audit = root / "state" / "vibebox" / "audit.log"
    options = {"provider": "local", "local_path": str(root / "store.db"), "local_key_file": str(root / "store.key"),
               "audit_log": str(audit)}
    manager = factory.build_manager(options, env={})
    now = time.time()
    seeds = {
        # name: (age of the last rotation in days, extra tags)
        "jwt-secret": (40, {}),                                      # max_age 30d: overdue
        "jwt-refresh-secret": (27, {}),                              # max_age 30d: due within 7 days
        "encryption-key": (10, {"vibebox-grace-until": str(int(now + 3 * 3600)), "vibebox-grace-version": "1"}),
        "database-password": (100, {}),                              # max_age 90d: overdue, fails max_age 95d? no: 90d
        "api-key": (1, {}),                                          # no schedule: fine
    }
    for name, (age, tags) in seeds.items():
        manager.set(name, f"{CANARY}-{name}", tags={"vibebox-rotated-at": str(int(now - age * DAY)), **tags})
    AuditLog(str(audit), "local").operation(
        "rotate", ["jwt-secret"], ok=False, versions={"jwt-secret": {"before": "1", "after": "1"}},
        error=ProviderUnavailable("the provider did not answer in time", provider="local"))
    manager.close()
    workdir = root / "cwd"
    workdir.mkdir()
    extra = {k: v for k, v in options.items() if k != "audit_log"}
    run = run_playbook(os.path.join(REPO, "playbooks", "status.yml"), dict(env, VIBEBOX_AUDIT_LOG=str(audit)),
                       extra_vars={**extra, "audit_log": str(audit), "max_age": "95d",
                                   "status_file": "pages/status.html"}, cwd=str(workdir))
    assert run.rc == 0, run.output[-4000:]
    return {"root": root, "cwd": workdir, "page": workdir / "pages" / "status.html",
            "json": workdir / "pages" / "status.json", "run": run, "env": env, "options": {**extra, "audit_log": str(audit)}}


def test_relative_status_file_is_written_where_ansible_playbook_started(site):
    assert site["page"].is_file() and site["json"].is_file()
    assert str(site["page"]) in site["run"].output
    assert not os.path.exists(os.path.join(REPO, "playbooks", "pages")), "written beside the playbook"


def test_json_has_the_states_counts_and_failed_operations(site):
    report = json.loads(site["json"].read_text())
    states = {row["name"]: row["states"] for row in report["secrets"]}
    assert states["jwt-secret"] == ["overdue"]
    assert states["jwt-refresh-secret"] == ["due"]
    assert states["encryption-key"] == ["grace"]
    assert states["database-password"] == ["overdue", "failing"]  # 100 days: past 90d and the policy's 95d
    assert states["api-key"] == ["ok"]
    assert report["counts"] == {"overdue": 2, "due": 1, "grace": 1, "expired": 0, "failing": 1, "total": 5}
    jwt = next(row for row in report["secrets"] if row["name"] == "jwt-secret")
    assert jwt["due_from"] == "max_age 30d" and jwt["rotated_by"] == "vibebox.secrets"
    assert jwt["events"][0]["op"] == "rotate" and jwt["events"][0]["ok"] is False
    assert [entry["op"] for entry in report["failed_operations"]] == ["rotate"]
    assert report["failed_operations"][0]["error_kind"] == "ProviderUnavailable"
    # the seeding's own reads are not failures, and the page's describe calls are not events
    assert all(event["op"] not in ("describe", "get") for row in report["secrets"] for event in row["events"])


def test_second_run_changes_nothing_and_check_mode_writes_nothing(site, tmp_path):
    again = run_playbook(os.path.join(REPO, "playbooks", "status.yml"), site["env"],
                         extra_vars={**site["options"], "max_age": "95d", "status_file": "pages/status.html"},
                         cwd=str(site["cwd"]))
    assert again.rc == 0 and again.changed() == 0, again.output[-3000:]
    checked = run_playbook(os.path.join(REPO, "playbooks", "status.yml"), site["env"], "--check",
                           extra_vars={**site["options"], "status_file": str(tmp_path / "check.html")})
    assert checked.rc == 0, checked.output[-3000:]
    assert not (tmp_path / "check.html").exists() and not (tmp_path / "check.json").exists()


def test_no_value_or_digest_of_one_anywhere(site):
    texts = [site["page"].read_text(), site["json"].read_text(), site["run"].output]
    for name in ("jwt-secret", "jwt-refresh-secret", "encryption-key", "database-password", "api-key"):
        value = f"{CANARY}-{name}"
        for text in texts:
            assert CANARY not in text
            assert model.fingerprint(value) not in text


def test_page_is_self_contained_and_forbids_the_network(site):
    page = site["page"].read_text()
    assert re.search(r"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src &#x27;none&#x27;", page)
    assert not re.search(r"(src|href)\s*=", page), "the page references another file"
    assert "http://" not in page and "https://" not in page


# --- the browser ------------------------------------------------------------------------------------------------
#: Chromium's own background services (updates, time, sign-in, safe browsing), which it calls whatever page
#: it shows even with the flags below; a request of the page would go anywhere else (fonts, CDNs, trackers)
BROWSER_SERVICES = re.compile(r"^(update|clientservices|content-autofill|optimizationguide-pa|safebrowsing[a-z-]*)"
                              r"\.googleapis\.com$|^(accounts|clients[0-9]*|www)\.google\.com$")


def _host(request_line: str) -> str:
    target = request_line.split(" ")[1] if " " in request_line else ""
    return re.sub(r"^[a-z]+://", "", target).split("/")[0].split(":")[0]


class Recorder:
    """A loopback proxy that answers 502 to everything and remembers what the browser asked for."""

    def page_requests(self) -> List[str]:
        return [line for line in self.requests if not BROWSER_SERVICES.match(_host(line))]

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self.requests: List[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                client, _address = self.server.accept()
            except OSError:
                return
            with client:
                client.settimeout(5)
                try:
                    first = client.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
                except OSError:
                    first = "?"
                self.requests.append(first)
                try:
                    client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    def close(self) -> None:
        self.server.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    binary = chromium()
    profile = tmp_path_factory.mktemp("chromium-profile")
    recorder = Recorder()

    def run(url: str, *extra: str) -> str:
        command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
                   "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
                   "--disable-extensions", "--mute-audio", f"--user-data-dir={profile}", "--no-pings",
                   "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,Translate",
                   "--disable-domain-reliability", "--disable-client-side-phishing-detection",
                   f"--proxy-server=http://127.0.0.1:{recorder.port}", "--proxy-bypass-list=<-loopback>",
                   "--hide-scrollbars", "--window-size=1500,1000", "--virtual-time-budget=3000", *extra, url]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    run.recorder = recorder
    yield run
    recorder.close()


class Text(HTMLParser):
    """Visible text per element id and the rows of the secrets table (hidden ones apart)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: List[dict] = []
        self.text: List[str] = []
        self._row = None
        self._cell = None
        self._in_secrets = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._in_secrets = attrs.get("id") == "secrets"
        if self._in_secrets and tag == "tr" and "data-states" in attrs:
            self._row = {"hidden": "hidden" in attrs, "cells": []}
            self.rows.append(self._row)
        if self._row is not None and tag == "td":
            self._cell = []
            self._row["cells"].append(self._cell)

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_secrets = False
        if tag == "tr":
            self._row = None
        if tag == "td":
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def names(self, shown_only: bool = True) -> List[str]:
        return ["".join(row["cells"][2]).strip() for row in self.rows if not (shown_only and row["hidden"])]


def dom(browser, page, fragment: str = "") -> Text:
    parsed = Text()
    parsed.feed(browser(f"file://{page}{fragment}", "--dump-dom"))
    return parsed


def test_browser_renders_names_counts_and_states(site, browser):
    parsed = dom(browser, site["page"])
    text = " ".join(" ".join(parsed.text).split())
    for name in ("jwt-secret", "jwt-refresh-secret", "encryption-key", "database-password", "api-key"):
        assert name in parsed.names()
    for shown in ("2 overdue", "1 due within 7 days", "1 in grace", "0 expired", "1 failing compliance",
                  "5 of 5 secrets shown", "failing compliance", "in grace", "ProviderUnavailable"):
        assert shown in text, shown
    assert parsed.names()[:2] == ["database-password", "jwt-secret"], "worst first"


def test_browser_sorting_changes_the_row_order(site, browser):
    ascending = dom(browser, site["page"], "#sort=name&dir=asc").names()
    descending = dom(browser, site["page"], "#sort=name&dir=desc").names()
    assert ascending == sorted(ascending) and descending == sorted(ascending, reverse=True)
    assert ascending != descending
    by_age = dom(browser, site["page"], "#sort=age_days&dir=desc").names()
    assert by_age[0] == "database-password" and by_age[-1] == "api-key"


def test_browser_filters_by_state_and_provider(site, browser):
    overdue = dom(browser, site["page"], "#state=overdue")
    assert sorted(overdue.names()) == ["database-password", "jwt-secret"]
    assert len(overdue.names(shown_only=False)) == 5
    assert dom(browser, site["page"], "#provider=vault").names() == []


def test_browser_makes_no_network_request_and_the_recorder_would_see_one(site, browser, tmp_path):
    browser.recorder.requests.clear()
    dom(browser, site["page"])
    assert browser.recorder.page_requests() == []
    control = tmp_path / "control.html"
    control.write_text('<!DOCTYPE html><html><body><img src="http://status-page-control.invalid/x.png"></body></html>')
    browser(f"file://{control}", "--dump-dom")
    assert any("status-page-control.invalid" in line for line in browser.recorder.page_requests()), browser.recorder.requests


def test_browser_screenshot_for_a_person(site, browser):
    os.makedirs(OUTPUT, exist_ok=True)
    shot = os.path.join(OUTPUT, "status-page.png")
    if os.path.exists(shot):
        os.unlink(shot)
    browser(f"file://{site['page']}", f"--screenshot={shot}")
    with open(shot, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(shot) > 10000
