"""What every action plugin test builds: the plugin with only the task's arguments (and check mode) set."""
from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest


def build_action(module: str, check_mode: bool = False, async_val: int = 0, **args):
    """The action plugin of ``module`` without Ansible's task machinery: only what its decisions read."""
    cls = importlib.import_module(f"ansible_collections.vibebox.secrets.plugins.action.{module}").ActionModule
    plugin = object.__new__(cls)
    plugin._task = SimpleNamespace(args=args, action=f"vibebox.secrets.{module}", environment=None, async_val=async_val)
    plugin._play_context = SimpleNamespace(check_mode=check_mode)
    return plugin


@pytest.fixture
def action():
    return build_action


@pytest.fixture
def dropped(monkeypatch):
    """The names the action plugins drop from the run cache (no helper process is started)."""
    from ansible_collections.vibebox.secrets.plugins.plugin_utils import action as base

    names = []
    monkeypatch.setattr(base._run_cache, "invalidate",
                        lambda given, hold=0.0, everything=False: names.append(list(given)))
    return names


@pytest.fixture
def held(monkeypatch):
    """(names, seconds the helper keeps nothing of them, everything) as the action plugins announce them."""
    from ansible_collections.vibebox.secrets.plugins.plugin_utils import action as base

    announced = []
    monkeypatch.setattr(base._run_cache, "invalidate",
                        lambda given, hold=0.0, everything=False: announced.append((list(given), hold, everything)))
    return announced
