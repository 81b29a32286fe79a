"""The execution environment: definition, collection-level metadata, and a real ``ansible-builder create``.

Building the image needs podman or docker, which this machine does not have, so the test stops at the
build context and then does, by hand, the two steps of the image build that matter to the collection:
the galaxy stage (install the collection from the context with ansible-galaxy) and the builder stage
(``ansible-builder introspect`` of the installed collection, which decides what pip and dnf install).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
import yaml

from ansible_run import BIN, REPO

PROVIDERS_DIR = os.path.join(REPO, "plugins", "module_utils", "providers")
#: what ships with ansible-core itself and so is never listed for an EE
BUNDLED_WITH_ANSIBLE_CORE = {"cryptography"}
#: the collection's non-provider Python requirements (module postgres_rotate)
OTHER_REQUIREMENTS = {"psycopg"}
_PIN = re.compile(r"(==|!=|<=|>=|~=|<|>|===|@)")


def _load(path: str):
    with open(os.path.join(REPO, path), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _requirement_lines(path: str):
    with open(os.path.join(REPO, path), encoding="utf-8") as handle:
        return [line.strip() for line in handle if line.strip() and not line.lstrip().startswith("#")]


def _project_name(requirement: str) -> str:
    return re.split(r"[\[<>=!~;@\s]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def provider_packages():
    """pip names the providers ask for in ProviderNotInstalled, read from their source."""
    found = set()
    for filename in sorted(os.listdir(PROVIDERS_DIR)):
        if not filename.endswith(".py"):
            continue
        with open(os.path.join(PROVIDERS_DIR, filename), encoding="utf-8") as handle:
            source = handle.read()
        constant = re.search(r'^PACKAGE\s*=\s*"([^"]+)"', source, re.M)
        for argument in re.findall(r"ProviderNotInstalled\(\s*PROVIDER\s*,\s*([^,)]+)", source):
            argument = argument.strip()
            if argument == "PACKAGE":
                assert constant, f"{filename} raises ProviderNotInstalled(PROVIDER, PACKAGE) without a PACKAGE"
                found.update(constant.group(1).split())
            else:
                found.update(argument.strip("\"'").split())
    return found


def tool(name: str) -> str:
    """A tool from the test environment; missing means requirements-test.txt lacks it (a failure in CI)."""
    path = os.path.join(BIN, name)
    if not os.path.exists(path):
        path = shutil.which(name) or ""
    if not path:
        message = f"{name} is not installed in the test environment (requirements-test.txt)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


# --- the definition files -----------------------------------------------------------------------------
def test_definition_is_ansible_builder_v3():
    definition = _load("execution-environment.yml")
    assert definition["version"] == 3
    assert definition["images"]["base_image"]["name"]
    dependencies = definition["dependencies"]
    assert dependencies["ansible_core"]["package_pip"].startswith("ansible-core")
    assert dependencies["ansible_runner"]["package_pip"].startswith("ansible-runner")
    assert os.path.isfile(os.path.join(REPO, dependencies["system"]))
    # the collection itself comes from this checkout, copied into the context by additional_build_files
    local = [item for item in dependencies["galaxy"]["collections"] if item.get("type") == "dir"]
    assert len(local) == 1
    copied = {entry["src"] for entry in definition["additional_build_files"]}
    galaxy = _load("galaxy.yml")
    assert galaxy["readme"] in copied and "galaxy.yml" in copied
    for folder in ("plugins", "roles", "playbooks", "meta"):
        assert folder in copied, f"{folder}/ is not copied into the build context"
    for entry in definition["additional_build_files"]:
        assert f"/build/{entry['dest']}".startswith(local[0]["name"]), entry


def test_collection_metadata_lists_every_provider_sdk_without_pins():
    meta = _load("meta/execution-environment.yml")
    python_file = meta["dependencies"]["python"]
    system_file = meta["dependencies"]["system"]
    assert python_file == "meta/ee-requirements.txt" and system_file == "meta/ee-bindep.txt"
    requirements = _requirement_lines(python_file)
    names = {_project_name(line) for line in requirements}
    for line in requirements:
        assert not _PIN.search(line), f"pinned requirement in {python_file}: {line}"
    assert not names & {"ansible", "ansible-core", "ansible-base"}, "ansible-core belongs to the EE definition"
    wanted = {name.lower() for name in provider_packages()} - BUNDLED_WITH_ANSIBLE_CORE
    assert {"boto3", "hvac", "kubernetes", "google-cloud-secret-manager"} <= wanted, wanted  # the scan works
    assert wanted | OTHER_REQUIREMENTS <= names, f"missing from {python_file}: {sorted(wanted | OTHER_REQUIREMENTS - names)}"
    bindep = _requirement_lines(system_file)
    assert bindep and all("[" in line and "platform:rpm" in line for line in bindep), bindep
    for line in bindep:
        assert not _PIN.search(line.split("[", 1)[0]), f"pinned package in {system_file}: {line}"


# --- ansible-builder ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def build_context(tmp_path_factory):
    builder = tool("ansible-builder")
    context = tmp_path_factory.mktemp("ee") / "context"
    done = subprocess.run(
        [builder, "create", "--file", os.path.join(REPO, "execution-environment.yml"), "--context", str(context),
         "--output-filename", "Containerfile"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return context


def test_create_writes_containerfile_and_requirements(build_context):
    containerfile = (build_context / "Containerfile").read_text()
    definition = _load("execution-environment.yml")
    assert definition["images"]["base_image"]["name"] in containerfile
    assert definition["dependencies"]["python_interpreter"]["python_path"] in containerfile
    assert "ansible-galaxy collection install" in containerfile
    assert "introspect" in containerfile  # the builder stage reads the collections' own requirements
    galaxy = yaml.safe_load((build_context / "_build" / "requirements.yml").read_text())
    assert galaxy == definition["dependencies"]["galaxy"]
    assert _requirement_lines(os.path.join(build_context, "_build", "bindep.txt")) == _requirement_lines("bindep.txt")
    copied = build_context / "_build" / "collections" / "vibebox.secrets"
    for relative in ("galaxy.yml", "README.md", "meta/execution-environment.yml", "meta/ee-requirements.txt",
                     "plugins/modules/secret.py", "plugins/lookup/get.py", "playbooks/rotate.yml"):
        assert (copied / relative).is_file(), f"{relative} missing from the build context"
    size = sum(path.stat().st_size for path in build_context.rglob("*") if path.is_file())
    assert size < 20 * 1024 * 1024, f"build context is {size} bytes: something large was copied"


def test_collection_from_context_installs_and_brings_its_requirements(build_context, tmp_path):
    """The galaxy and builder stages of the image build, run here without a container engine."""
    galaxy_tool = tool("ansible-galaxy")
    builder = tool("ansible-builder")
    source = build_context / "_build" / "collections" / "vibebox.secrets"
    requirements = tmp_path / "requirements.yml"
    requirements.write_text(yaml.safe_dump({"collections": [{"name": str(source), "type": "dir"}]}))
    installed = tmp_path / "collections"
    # as in the image: nothing else on the collections path (the checkout is on it in tests)
    env = {key: value for key, value in os.environ.items() if key != "ANSIBLE_COLLECTIONS_PATH"}
    env["ANSIBLE_COLLECTIONS_PATH"] = str(installed)
    done = subprocess.run(
        [galaxy_tool, "collection", "install", "--no-deps", "--force", "-r", str(requirements), "-p", str(installed)],
        capture_output=True, text=True, timeout=300, check=False, env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    root = installed / "ansible_collections" / "vibebox" / "secrets"
    assert (root / "MANIFEST.json").is_file()
    assert (root / "meta" / "ee-requirements.txt").is_file(), "build_ignore drops the EE requirements"

    done = subprocess.run([builder, "introspect", "--sanitize", str(installed)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    found = yaml.safe_load(done.stdout.split("---", 1)[1] if "---" in done.stdout else done.stdout)
    python = {_project_name(line) for line in found["python"]}
    system = {line.split()[0] for line in found["system"]}
    assert {_project_name(line) for line in _requirement_lines("meta/ee-requirements.txt")} <= python
    assert not python & {"ansible", "ansible-core"}
    assert {line.split()[0] for line in _requirement_lines("meta/ee-bindep.txt")} <= system
