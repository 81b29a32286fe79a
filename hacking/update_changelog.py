"""Rebuild the release galaxy.yml names from the fragments in changelogs/fragments, and write CHANGELOG.md.

Why: until a release is tagged, its notes should be exactly what the fragments say now, including
fragments edited or added since the last run. ``antsibull-changelog release`` only ever adds to a
release it already knows, so this drops that release from changelogs/changelog.yaml first (keeping its
date), then lets antsibull-changelog add it again from every fragment (``keep_fragments: true`` keeps
them in the repository) and render CHANGELOG.md. Released versions before it are never touched.

    python hacking/update_changelog.py           # make changelog
    python hacking/update_changelog.py --check   # fail if changelog.yaml or CHANGELOG.md lag the fragments

``--check`` is cheap (no plugin scan): the release must list exactly the fragment files present, and
CHANGELOG.md must be what ``antsibull-changelog generate`` writes from changelog.yaml.
"""
from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import sys
import tempfile
from typing import List

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHANGELOGS = os.path.join(ROOT, "changelogs")
CHANGES = os.path.join(CHANGELOGS, "changelog.yaml")
FRAGMENTS = os.path.join(CHANGELOGS, "fragments")
BIN = os.path.dirname(sys.executable)


def galaxy_version() -> str:
    with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        return str(yaml.safe_load(handle)["version"])


def fragment_names() -> List[str]:
    return sorted(name for name in os.listdir(FRAGMENTS) if name.endswith((".yml", ".yaml")))


def antsibull(*args: str, cwd: str = ROOT) -> None:
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    subprocess.run([os.path.join(BIN, "antsibull-changelog"), *args], cwd=cwd, env=env, check=True)


def check() -> int:
    version = galaxy_version()
    with open(CHANGES, encoding="utf-8") as handle:
        release = (yaml.safe_load(handle).get("releases") or {}).get(version) or {}
    listed = sorted(release.get("fragments") or [])
    if listed != fragment_names():
        print(f"changelogs/changelog.yaml: release {version} lists {listed}, the fragments are {fragment_names()}"
              " (run make changelog)")
        return 1
    with tempfile.TemporaryDirectory() as work:
        for name in ("galaxy.yml", "CHANGELOG.md"):
            shutil.copy(os.path.join(ROOT, name), os.path.join(work, name))
        shutil.copytree(CHANGELOGS, os.path.join(work, "changelogs"),
                        ignore=shutil.ignore_patterns(".plugin-cache.yaml"))
        antsibull("generate", cwd=work)
        with open(os.path.join(work, "CHANGELOG.md"), encoding="utf-8") as handle:
            wanted = handle.read()
    with open(os.path.join(ROOT, "CHANGELOG.md"), encoding="utf-8") as handle:
        if handle.read() != wanted:
            print("CHANGELOG.md is not what changelogs/changelog.yaml gives (run make changelog)")
            return 1
    print(f"changelog current: release {version} from {len(listed)} fragments")
    return 0


def update() -> int:
    version = galaxy_version()
    with open(CHANGES, encoding="utf-8") as handle:
        changes = yaml.safe_load(handle) or {}
    releases = changes.get("releases") or {}
    date = str((releases.pop(version, None) or {}).get("release_date") or datetime.date.today().isoformat())
    changes["releases"] = releases
    with open(CHANGES, "w", encoding="utf-8") as handle:
        handle.write("---\n" + yaml.safe_dump(changes, sort_keys=False, default_flow_style=False))
    try:
        antsibull("release", "--version", version, "--date", date, "--reload-plugins")
        antsibull("generate")
    finally:
        cache = os.path.join(CHANGELOGS, ".plugin-cache.yaml")
        if os.path.exists(cache):
            os.remove(cache)
    return check()


if __name__ == "__main__":
    sys.exit(check() if "--check" in sys.argv[1:] else update())
