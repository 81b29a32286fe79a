"""Run ansible-playbook for real from tests, with every state file in a temporary folder."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Dict, List, Optional

BIN = os.path.dirname(sys.executable)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def recap(self, host: str = "localhost") -> Dict[str, int]:
        match = re.search(rf"^{re.escape(host)}\s*:\s*(.*)$", self.stdout, re.M)
        assert match, f"no recap for {host}:\n{self.output[-3000:]}"
        return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group(1))}

    def changed(self, host: str = "localhost") -> int:
        return self.recap(host)["changed"]


def state_env(tmp_path, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Environment with XDG folders (store, key, audit log) inside ``tmp_path``."""
    env = dict(os.environ)
    env.update(
        PATH=BIN + os.pathsep + env.get("PATH", ""),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_HOST_KEY_CHECKING="0",
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
    )
    for variable in ("SECRET_PROVIDER", "VAULT_ADDR", "AWS_SECRET_MANAGER_REGION", "GCP_PROJECT_ID",
                     "AZURE_KEYVAULT_URL", "KUBERNETES_SERVICE_HOST", "ENABLE_SECRET_MANAGER", "SECRET_CACHE_TTL"):
        env.pop(variable, None)
    env.update(extra or {})
    return env


def run_playbook(playbook: str, env: Dict[str, str], *args: str, extra_vars: Optional[dict] = None,
                 inventory: Optional[str] = None, cwd: Optional[str] = None, timeout: int = 300) -> PlaybookRun:
    command: List[str] = [os.path.join(BIN, "ansible-playbook"), playbook]
    if inventory:
        command += ["-i", inventory]
    if extra_vars:
        # through a file: at -vvvv ansible-playbook echoes its command line, and a canary must not leak that way
        fd, path = tempfile.mkstemp(prefix="vars-", suffix=".json")
        with os.fdopen(fd, "w") as handle:
            json.dump(extra_vars, handle)
        command += ["-e", "@" + path]
    command += list(args)
    done = subprocess.run(command, env=env, cwd=cwd or REPO, capture_output=True, text=True, timeout=timeout, check=False)
    return PlaybookRun(done.returncode, done.stdout, done.stderr)


def write_playbook(tmp_path, text: str, name: str = "play.yml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)
