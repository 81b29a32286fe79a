"""The execution environment: definition, collection-level metadata, and a real ``ansible-builder create``.

Building the image needs podman or docker, which this machine does not have, so the test stops at the
build context and then does, by hand, the steps of the image build that matter to the collection: the
galaxy stage (install the collection tarball from the context with ansible-galaxy), the builder stage
(``ansible-builder introspect`` of the installed collection, which decides what pip and dnf install),
and the final stage's build guard, which must fail when the collection or an SDK is missing.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile

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
TARBALL_IN_CONTEXT = "collections/vibebox-secrets.tar.gz"


def test_definition_is_ansible_builder_v3_with_a_pinned_base_and_the_built_tarball():
    definition = _load("execution-environment.yml")
    assert definition["version"] == 3
    base = definition["images"]["base_image"]["name"]
    tag = base.rsplit("/", 1)[-1]
    assert "@sha256:" in base or (":" in tag and tag.split(":", 1)[1] not in ("", "latest")), (
        f"the base image {base} is not pinned by tag or digest")
    dependencies = definition["dependencies"]
    assert dependencies["ansible_core"]["package_pip"].startswith("ansible-core")
    assert dependencies["ansible_runner"]["package_pip"].startswith("ansible-runner")
    assert os.path.isfile(os.path.join(REPO, dependencies["system"]))
    # the collection comes from the tarball ansible-galaxy builds, never from a copy of the checkout
    ours = [item for item in dependencies["galaxy"]["collections"] if "vibebox" in item["name"]]
    assert ours == [{"name": f"/build/{TARBALL_IN_CONTEXT}", "type": "file"}], ours
    copied = {(entry["src"], entry["dest"]) for entry in definition["additional_build_files"]}
    assert copied == {(".build/ee-collection/vibebox-secrets.tar.gz", os.path.dirname(TARBALL_IN_CONTEXT))}, copied


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
def build_tarball(destination) -> str:
    """``ansible-galaxy collection build`` of this checkout, as make ee does, at a fixed name."""
    destination.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([tool("ansible-galaxy"), "collection", "build", "--force", "--output-path", str(destination), REPO],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    built = [name for name in os.listdir(destination) if name.startswith("vibebox-secrets-") and name.endswith(".tar.gz")]
    assert len(built) == 1, built
    target = destination / "vibebox-secrets.tar.gz"
    os.replace(destination / built[0], target)
    return str(target)


@pytest.fixture(scope="module")
def build_context(tmp_path_factory):
    """``ansible-builder create`` in a copy of the definition with a freshly built tarball beside it."""
    builder = tool("ansible-builder")
    work = tmp_path_factory.mktemp("ee")
    for name in ("execution-environment.yml", "bindep.txt"):
        shutil.copy(os.path.join(REPO, name), work / name)
    build_tarball(work / ".build" / "ee-collection")
    context = work / "context"
    done = subprocess.run(
        [builder, "create", "--file", str(work / "execution-environment.yml"), "--context", str(context),
         "--output-filename", "Containerfile"],
        cwd=work, capture_output=True, text=True, timeout=300, check=False,
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
    tarball = build_context / "_build" / TARBALL_IN_CONTEXT
    assert tarball.is_file(), "the collection tarball is not in the build context"
    with tarfile.open(tarball) as archive:
        members = set(archive.getnames())
    for relative in ("MANIFEST.json", "README.md",
                     "LICENSE", "meta/execution-environment.yml", "meta/ee-requirements.txt",
                     "plugins/modules/secret.py", "plugins/lookup/get.py", "playbooks/rotate.yml"):
        assert relative in members, f"{relative} missing from the collection tarball"
    size = sum(path.stat().st_size for path in build_context.rglob("*") if path.is_file())
    assert size < 20 * 1024 * 1024, f"build context is {size} bytes: something large was copied"


def test_collection_from_context_installs_and_brings_its_requirements(build_context, tmp_path):
    """The galaxy and builder stages of the image build, run here without a container engine."""
    galaxy_tool = tool("ansible-galaxy")
    builder = tool("ansible-builder")
    # the context's requirements.yml, with /build/ (where the image has the context's _build/) made local
    wanted = yaml.safe_load((build_context / "_build" / "requirements.yml").read_text())["collections"]
    ours = [dict(item, name=str(build_context / "_build" / item["name"][len("/build/"):]))
            for item in wanted if item.get("type") == "file"]
    requirements = tmp_path / "requirements.yml"
    requirements.write_text(yaml.safe_dump({"collections": ours}))
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


# --- the build guard ------------------------------------------------------------------------------------
def guard_script(build_context) -> str:
    """The guard's RUN lines of the generated Containerfile, as one shell script."""
    lines = (build_context / "Containerfile").read_text().splitlines()
    runs = [line[len("RUN "):] for line in lines
            if line.startswith("RUN ") and ("vibebox" in line or "import boto3" in line)]
    assert len(runs) >= 3, runs
    assert any("ansible-doc -t lookup" in run for run in runs) and any("import boto3" in run for run in runs)
    return "set -e\n" + "\n".join(runs) + "\n"


def run_guard(build_context, tmp_path, collections: str, extra_env=None):
    script = tmp_path / "guard.sh"
    script.write_text(guard_script(build_context))
    env = {key: value for key, value in os.environ.items() if key != "ANSIBLE_COLLECTIONS_PATH"}
    env.update(ANSIBLE_COLLECTIONS_PATH=collections, PYCMD=sys.executable, HOME=str(tmp_path / "home"),
               PATH=BIN + os.pathsep + env.get("PATH", ""), **(extra_env or {}))
    return subprocess.run(["bash", str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          check=False, env=env)


@pytest.fixture(scope="module")
def installed_from_context(build_context, tmp_path_factory):
    installed = tmp_path_factory.mktemp("ee-installed")
    done = subprocess.run([tool("ansible-galaxy"), "collection", "install", "--no-deps", "-p", str(installed),
                           str(build_context / "_build" / TARBALL_IN_CONTEXT)],
                          capture_output=True, text=True, timeout=300, check=False,
                          env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(installed)))
    assert done.returncode == 0, done.stdout + done.stderr
    return str(installed)


def test_build_guard_passes_when_the_collection_and_every_sdk_are_there(build_context, installed_from_context, tmp_path):
    done = run_guard(build_context, tmp_path, installed_from_context)
    assert done.returncode == 0, done.stdout + done.stderr


def test_build_guard_fails_when_the_collection_is_missing(build_context, tmp_path):
    empty = tmp_path / "no-collections"
    empty.mkdir()
    done = run_guard(build_context, tmp_path, str(empty))
    assert done.returncode != 0
    assert "vibebox.secrets is not installed in the image" in done.stderr, done.stdout + done.stderr


@pytest.mark.parametrize("sdk", ["hvac", "boto3", "psycopg"])
def test_build_guard_fails_when_an_sdk_is_missing(build_context, installed_from_context, tmp_path, sdk):
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / f"{sdk}.py").write_text(f"raise ImportError('No module named {sdk!r}')\n")
    done = run_guard(build_context, tmp_path, installed_from_context, {"PYTHONPATH": str(blocked)})
    assert done.returncode != 0
    assert sdk in done.stderr, done.stderr
