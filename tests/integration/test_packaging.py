"""What a user installing vibebox.secrets relies on, beyond the code: metadata, README, matrix, docsite, changelog.

- galaxy.yml names where to read, file issues and find the code, and leaves development-only files out
  of the tarball (tests/build_install.sh builds one and checks its content);
- the README starts with the two set-up commands, has the install paths, the pip package of every
  provider, the tested versions exactly as the version matrix runs them, and the licence;
- the optional collections the content uses are declared in tests/requirements.yml;
- the version matrix fails with a clear message when a Python it needs is not there;
- the docsite files are what the Markdown guides give; the changelog is current and written for users.
"""
from __future__ import annotations

import glob
import os
import re
import subprocess
import sys

import yaml

from ansible_run import REPO


def read(relative: str) -> str:
    with open(os.path.join(REPO, relative), encoding="utf-8") as handle:
        return handle.read()


def load(relative: str):
    return yaml.safe_load(read(relative))


def matrix_rows():
    return [line.split()[:2] for line in read("tests/matrix/versions.txt").splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def readme_section(title: str) -> str:
    match = re.search(rf"^(#+) {re.escape(title)}\n(.*?)(?=^#{{1,2}} |\Z)", read("README.md"), re.M | re.S)
    assert match, f"README.md has no section '{title}'"
    return match.group(2)


# --- galaxy.yml and meta -----------------------------------------------------------------------------------
def test_galaxy_metadata_points_users_somewhere():
    galaxy = load("galaxy.yml")
    for key in ("repository", "homepage", "documentation", "issues"):
        assert str(galaxy.get(key) or "").startswith("https://"), f"galaxy.yml {key} is not set"
    assert galaxy["dependencies"] == {}, "optional collections are not hard dependencies"
    ignored = set(galaxy["build_ignore"])
    for development_only in (".*", "Makefile", "bench", "hacking", "tests", "extensions/molecule", "requirements-test.txt"):
        assert development_only in ignored, f"galaxy.yml build_ignore does not leave out {development_only}"


def test_requires_ansible_is_the_first_release_of_the_matrix():
    runtime = load("meta/runtime.yml")
    assert runtime["requires_ansible"] == f">={matrix_rows()[0][0]}.0"


# --- README ------------------------------------------------------------------------------------------------
def test_readme_starts_with_the_two_set_up_commands():
    text = read("README.md")
    first_block = re.search(r"^```bash\n(.*?)^```", text, re.M | re.S)
    assert first_block and text.index("## Quick start") < first_block.start()
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines() if line.strip()]
    assert commands == ["make demo", "make test"], commands


def test_readme_tested_versions_are_the_matrix():
    table = re.findall(r"^\| (\d+\.\d+) \| (\d+\.\d+) \|$", readme_section("Tested versions"), re.M)
    assert [list(row) for row in table] == matrix_rows(), table


def test_readme_says_how_to_install_from_galaxy_a_tarball_and_a_checkout():
    install = readme_section("Install")
    assert "requirements.yml" in install and "ansible-galaxy collection install -r requirements.yml" in install
    collections = yaml.safe_load(re.search(r"```yaml\n(.*?)```", install, re.S).group(1))["collections"]
    assert collections[0]["name"] == "vibebox.secrets"
    assert re.search(r"ansible-galaxy collection install vibebox-secrets-[\d.]+\.tar\.gz", install)
    assert "From a checkout" in install and "ANSIBLE_COLLECTIONS_PATH" in install


def provider_packages():
    """pip names the code asks for in ProviderNotInstalled (providers) and the postgres helper."""
    found = set()
    for path in glob.glob(os.path.join(REPO, "plugins", "module_utils", "providers", "*.py")) + \
            [os.path.join(REPO, "plugins", "module_utils", "postgres.py")]:
        with open(path, encoding="utf-8") as handle:
            source = handle.read()
        for value in re.findall(r'^PACKAGE\s*=\s*"([^"]+)"', source, re.M):
            found.update(value.split())
        for literal in re.findall(r'ProviderNotInstalled\(\s*[A-Z_]+\s*,\s*"([^"]+)"', source):
            found.update(literal.split())
    return found


def test_readme_lists_every_providers_pip_package_with_a_minimum_version():
    table = readme_section("Python packages per provider")
    packages = provider_packages()
    assert {"boto3", "hvac", "google-cloud-secret-manager", "kubernetes"} <= packages, packages  # the scan works
    for package in packages:
        row = next((line for line in table.splitlines() if f"`{package}`" in line), None)
        assert row, f"README does not list {package}"
        minimum = row.strip().strip("|").split("|")[-1]
        assert re.search(r"\d+\.\d+", minimum) or "any" in minimum, f"no minimum version for {package}: {row}"


def test_readme_names_the_licence():
    licence = readme_section("Licence")
    assert "GPL-3.0-or-later" in licence and "[LICENSE](LICENSE)" in licence
    assert load("galaxy.yml")["license"] == ["GPL-3.0-or-later"]


# --- optional collections ----------------------------------------------------------------------------------
def collections_used():
    """Collections other than ansible.builtin and this one that playbooks, roles and scenarios call."""
    found = set()
    for folder in ("playbooks", "roles", "extensions"):
        for path in glob.glob(os.path.join(REPO, folder, "**", "*.yml"), recursive=True):
            with open(path, encoding="utf-8") as handle:
                for namespace, name in re.findall(r"^\s*-?\s*([a-z_]+)\.([a-z_]+)\.[a-z_0-9]+:\s*$", handle.read(), re.M):
                    found.add(f"{namespace}.{name}")
    return found - {"ansible.builtin", "vibebox.secrets"}


def test_optional_collections_are_declared_in_tests_requirements():
    declared = {item["name"] for item in load("tests/requirements.yml")["collections"]}
    used = collections_used()
    assert {"awx.awx", "kubernetes.core"} <= used, used  # the scan works
    assert used <= declared, f"used but not declared in tests/requirements.yml: {sorted(used - declared)}"
    fetched = re.findall(r"wanted=\(([^)]*)\)", read("tests/servers/fetch_optional_collections.sh"))[-1].split()
    assert set(fetched) == declared, "make test fetches other collections than tests/requirements.yml declares"


# --- the version matrix ------------------------------------------------------------------------------------
def test_matrix_fails_clearly_when_a_python_is_missing(tmp_path):
    table = tmp_path / "versions.txt"
    table.write_text("# ansible-core python\n2.99  3.99\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYENV", "MATRIX"))}
    env.update(MATRIX_TABLE=str(table), PATH="/usr/bin:/bin")  # no pyenv, no python3.99
    done = subprocess.run(["bash", os.path.join(REPO, "tests", "matrix", "run.sh")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert "ansible-core 2.99 is tested on Python 3.99, which this machine does not have" in done.stderr, done.stderr
    assert "pyenv install 3.99" in done.stderr
    assert not (tmp_path / "venv").exists()


def test_matrix_finds_every_python_it_needs_here():
    """The rows of the table are runnable on this machine, without a fixed path (pyenv or PATH)."""
    script = os.path.join(REPO, "tests", "matrix", "run.sh")
    for release, python in matrix_rows():
        done = subprocess.run(["bash", "-c", f'source <(sed -n "/^python_version_of()/,/^}}/p;/^find_python()/,/^}}/p" {script});'
                               f" find_python {python}"], capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, f"ansible-core {release}: Python {python} not found: {done.stderr}"
        found = done.stdout.strip()
        version = subprocess.run([found, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        assert version == python


# --- docsite and changelog ---------------------------------------------------------------------------------
def test_docsite_pages_are_what_the_guides_give():
    done = subprocess.run([sys.executable, os.path.join(REPO, "hacking", "render_docsite.py"), "--check"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    extra = load("docs/docsite/extra-docs.yml")
    listed = {page for section in extra["sections"] for page in section["toctree"]}
    present = {os.path.basename(path)[:-4] for path in glob.glob(os.path.join(REPO, "docs", "docsite", "rst", "*.rst"))}
    assert listed == present and "overview" in listed
    for page in present:
        assert f".. _ansible_collections.vibebox.secrets.docsite.{page}:" in read(f"docs/docsite/rst/{page}.rst")
    links = load("docs/docsite/links.yml")
    assert links["edit_on_github"]["repository"] in load("galaxy.yml")["repository"]


def test_changelog_is_current_and_has_a_release_summary():
    done = subprocess.run([sys.executable, os.path.join(REPO, "hacking", "update_changelog.py"), "--check"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    version = str(load("galaxy.yml")["version"])
    release = load("changelogs/changelog.yaml")["releases"][version]
    assert release["changes"].get("release_summary"), f"release {version} has no release_summary"
    assert f"v{version}".replace(".", "\\.") in read("CHANGELOG.md")


def test_changelog_is_written_for_users():
    """Release notes say what changed for a user: no source paths, benchmark ratios or tracker numbers."""
    texts = [read(os.path.relpath(path, REPO)) for path in glob.glob(os.path.join(REPO, "changelogs", "fragments", "*.y*ml"))]
    texts.append(read("changelogs/changelog.yaml"))
    for text in texts:
        for line in text.splitlines():
            assert not re.search(r"\b(plugins|hacking|tests|bench)/|\.py\b", line), f"names a source file: {line}"
            assert not re.search(r"\b\d+(\.\d+)?x\b", line), f"a benchmark ratio: {line}"
            assert not re.search(r"\bissues?\s*#?\d+", line, re.I), f"a tracker number: {line}"
