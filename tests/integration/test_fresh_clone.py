"""`make demo` in a fresh copy of the repository, then the README's next commands exactly as printed.

The copy has what a clone has (tracked files and new ones not ignored), no .venv, no .build and nothing
beside it; the environment is the machine's, without anything this test run set up (no venv on PATH,
no collections path), plus a VAULT_ADDR and a KUBERNETES_SERVICE_HOST the demo must ignore. What a
new user is promised: the demo installs only requirements.txt, ends by printing the one command that
sets up the shell, and after it every command of the README's "After make demo" block works,
ansible-doc included.
"""
from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys

import pytest

from ansible_run import BIN, REPO

README = os.path.join(REPO, "README.md")
#: what the tests need and the demo must not install
TEST_ONLY = {"pytest", "molecule", "ansible-lint", "boto3", "hvac", "moto", "kubernetes", "google-cloud-secret-manager",
             "azure-identity", "psycopg", "ruff", "antsibull-changelog", "ansible-builder"}


def after_demo_commands():
    """The commands of the first shell block under the README heading "After `make demo`"."""
    with open(README, encoding="utf-8") as handle:
        text = handle.read()
    section = re.search(r"^### After `make demo`\n(.*?)(?=^#)", text, re.M | re.S)
    assert section, "README.md has no 'After `make demo`' section"
    block = re.search(r"^```bash\n(.*?)^```", section.group(1), re.M | re.S)
    assert block, "the 'After `make demo`' section has no bash block"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]


def fresh_copy(destination: str) -> None:
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True,
                            check=True).stdout.decode().split("\0")
    files = [name for name in listed if name and os.path.isfile(os.path.join(REPO, name))
             and not os.path.islink(os.path.join(REPO, name)) and not name.startswith("tests/output/")]
    os.makedirs(destination)
    subprocess.run(["cp", "--parents", "-t", destination, *files], cwd=REPO, check=True)
    subprocess.run(["git", "init", "-q", "."], cwd=destination, check=True)


def machine_env() -> dict:
    """The environment a new user's shell has: none of this test run's venv, collections or make state."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("ANSIBLE_", "VIBEBOX_", "MAKE", "PYTEST", "XDG_", "VIRTUAL_ENV", "PYTHON"))
           and key not in ("MFLAGS", "SECRET_PROVIDER", "VAULT_ADDR", "AWS_SECRET_MANAGER_REGION", "GCP_PROJECT_ID",
                           "AZURE_KEYVAULT_URL", "KUBERNETES_SERVICE_HOST", "PYTEST_XDIST_WORKER")}
    env["PATH"] = os.pathsep.join(part for part in os.environ.get("PATH", "").split(os.pathsep)
                                  if part and os.path.realpath(part) != os.path.realpath(BIN))
    return env


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    base = tmp_path_factory.mktemp("fresh")
    clone = os.path.join(str(base), "vibebox.secrets")
    fresh_copy(clone)
    env = machine_env()
    python = getattr(sys, "_base_executable", None) or sys.executable
    done = subprocess.run(["make", "demo", f"PYTHON={python}"], cwd=clone, env=dict(env, **_elsewhere()),
                          capture_output=True, text=True, timeout=1200, check=False)
    return clone, env, done


def _elsewhere() -> dict:
    """A developer's exported VAULT_ADDR and a pod's KUBERNETES_SERVICE_HOST, pointing at a port nobody listens
    on: the demo pins the local store, so neither may be reached or even named."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return {"VAULT_ADDR": f"http://127.0.0.1:{port}", "VAULT_TOKEN": "not-a-real-token",
            "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(port)}


def test_make_demo_succeeds_and_prints_the_shell_setup(demo):
    clone, _env, done = demo
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    assert ". .build/env.sh" in done.stdout
    assert os.path.isfile(os.path.join(clone, ".build", "env.sh"))
    assert os.path.isfile(os.path.join(clone, "demo-state", "data", "vibebox", "secrets.db"))
    # VAULT_ADDR and KUBERNETES_SERVICE_HOST were exported: the demo stayed on its local store
    assert "vibebox.secrets: no provider is set;" not in done.stdout + done.stderr
    assert "cannot reach" not in done.stdout + done.stderr


def test_make_demo_installs_only_requirements_txt(demo):
    clone, env, done = demo
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    listed = subprocess.run([os.path.join(clone, ".venv", "bin", "python"), "-m", "pip", "list", "--format=freeze"],
                            env=env, capture_output=True, text=True, check=True).stdout
    installed = {line.split("==")[0].lower().replace("_", "-") for line in listed.splitlines() if "==" in line}
    assert {"ansible-core", "cryptography"} <= installed, installed
    assert not installed & TEST_ONLY, f"make demo installed test tooling: {sorted(installed & TEST_ONLY)}"


def test_the_readme_commands_after_make_demo_work_as_printed(demo):
    clone, env, done = demo
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    commands = after_demo_commands()
    assert commands[0] == ". .build/env.sh", commands
    assert any(command.startswith("ansible-doc vibebox.secrets.secret") for command in commands), commands
    for index in range(1, len(commands)):
        script = f"set -e\n{commands[0]}\n{commands[index]}\n"
        ran = subprocess.run(["bash", "-c", script], cwd=clone, env=env, capture_output=True, text=True, timeout=600,
                             check=False)
        assert ran.returncode == 0, f"README command failed: {commands[index]}\n{(ran.stdout + ran.stderr)[-4000:]}"
        assert "[ERROR]" not in ran.stderr and "ERROR!" not in ran.stderr, ran.stderr[-3000:]
        if commands[index].startswith("ansible-doc"):
            # ansible-doc exits 0 for a plugin it cannot find: the page itself must be there
            assert "vibebox.secrets.secret" in ran.stdout and "OPTIONS" in ran.stdout, ran.stdout[:2000] + ran.stderr
            assert "not found" not in ran.stderr, ran.stderr
        if shlex.split(commands[index])[0] == "ansible-playbook":
            assert re.search(r"^localhost\s*:.*failed=0", ran.stdout, re.M), ran.stdout[-3000:]
