"""callback/run_cache.py: what the controller does when the playbook starts, and that it never stops a run.

The helper's start itself (the lock hand-over, a helper that dies) is tested in
plugin_utils/run_cache/test_start.py; a playbook with the callback in tests/integration/test_run_cache_playbook.py.
"""
from __future__ import annotations

import os
from typing import List

import pytest
from ansible.plugins import loader

from ansible_collections.vibebox.secrets.plugins.callback import run_cache
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import client as run_cache_client
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import start as run_cache_start


class _Display:
    verbosity = 3

    def __init__(self) -> None:
        self.warnings: List[str] = []
        self.verbose: List[str] = []

    def warning(self, message: str) -> None:
        self.warnings.append(message)

    def vvv(self, message: str) -> None:
        self.verbose.append(message)


@pytest.fixture
def controller(monkeypatch):
    """(callback, display, lookups loaded, helper starts asked for) with both actions recorded, not done."""
    loaded: List[str] = []
    starts: List[object] = []
    monkeypatch.setattr(loader.lookup_loader, "get", lambda name, class_only=False: loaded.append(name) or object)
    monkeypatch.setattr(run_cache_start, "start_with_playbook", lambda client: starts.append(client) or True)
    monkeypatch.delenv("VIBEBOX_RUN_CACHE", raising=False)
    display = _Display()
    return run_cache.CallbackModule(display=display), display, loaded, starts


def test_the_playbook_start_loads_the_lookups_and_starts_the_helper(controller):
    callback, display, loaded, starts = controller
    callback.v2_playbook_on_start(None)
    assert loaded == ["vibebox.secrets.get", "vibebox.secrets.dotenv"]
    assert len(starts) == 1 and isinstance(starts[0], run_cache_client.RunCacheClient)
    assert starts[0].owner_pid == os.getpid(), "the controller owns the run, even as a multiprocessing child"
    assert display.verbose == ["vibebox.secrets.run_cache: the run cache helper started with the playbook"]
    assert display.warnings == []


def test_nothing_is_started_when_the_run_cache_is_off(controller, monkeypatch):
    callback, display, loaded, starts = controller
    monkeypatch.setenv("VIBEBOX_RUN_CACHE", "false")
    callback.v2_playbook_on_start(None)
    assert starts == [] and display.warnings == []
    assert loaded, "the lookups are still loaded once for the forks"


def test_a_helper_that_cannot_start_is_a_warning_not_a_failure(controller, monkeypatch):
    callback, display, _loaded, _starts = controller

    def refuse(client):
        raise run_cache_client.RunCacheUnavailable("/run/vibebox is accessible to other users (mode 0o777)")

    monkeypatch.setattr(run_cache_start, "start_with_playbook", refuse)
    callback.v2_playbook_on_start(None)
    assert len(display.warnings) == 1
    assert "did not start with the playbook (/run/vibebox is accessible" in display.warnings[0]
    assert "read the provider directly" in display.warnings[0]


def test_a_lookup_that_cannot_be_loaded_ahead_is_a_warning(controller, monkeypatch):
    callback, display, _loaded, starts = controller

    def broken(name, class_only=False):
        raise ImportError(f"no module for {name}")

    monkeypatch.setattr(loader.lookup_loader, "get", broken)
    callback.v2_playbook_on_start(None)
    assert [message.split(":")[1].strip() for message in display.warnings] == [
        "could not load vibebox.secrets.get ahead of the forks", "could not load vibebox.secrets.dotenv ahead of the forks"]
    assert len(starts) == 1, "the helper still starts"


def test_a_bad_setting_or_an_unexpected_error_is_a_warning_not_a_failed_playbook(controller, monkeypatch):
    callback, display, _loaded, starts = controller
    monkeypatch.setenv("VIBEBOX_RUN_CACHE_IDLE", "garbage")
    callback.v2_playbook_on_start(None)
    assert starts == [] and len(display.warnings) == 1
    assert "VIBEBOX_RUN_CACHE_IDLE is not a number of seconds" in display.warnings[0]

    monkeypatch.delenv("VIBEBOX_RUN_CACHE_IDLE")

    def unexpected(client):
        raise RuntimeError("something nobody planned for")

    monkeypatch.setattr(run_cache_start, "start_with_playbook", unexpected)
    callback.v2_playbook_on_start(None)
    assert len(display.warnings) == 2 and "something nobody planned for" in display.warnings[1]
