"""The repository stands on its own: what a user clones is all there is.

A file that points at something outside the repository (a sibling folder of the development
workplace, a design note that is not shipped) or at a tracker number sends a reader to something they
cannot open: the text has to say the reason itself. The same goes for everything the tests need,
which is why the External Secrets CRDs are vendored under tests/schemas/ with their licence.
"""
from __future__ import annotations

import os
import re
import subprocess

import yaml

from ansible_run import REPO

# Built from pieces so that this file does not name what it looks for.
_OUTSIDE = (
    ("a folder beside the repository", re.compile(r"\.\./" + "shared" + r"\b")),
    ("the development workplace", re.compile("/" + "work" + r"/(?:shared|main|wt-)")),
    ("a design note that is not in the repository", re.compile(r"\b" + "DESIGN" + r"\.md\b")),
    ("a tracker number", re.compile(r"\b" + "issue" + r"s?\s*(?:#\s*)?\d+\b", re.IGNORECASE)),
)


def repository_files():
    """Tracked files plus new files not ignored: what a commit would carry."""
    done = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                          capture_output=True, check=True)
    for relative in sorted(set(done.stdout.decode().split("\0")) - {""}):
        path = os.path.join(REPO, relative)
        if os.path.isfile(path) and not os.path.islink(path):
            yield relative, path


def text_of(path: str):
    with open(path, "rb") as handle:
        data = handle.read()
    if b"\0" in data[:4096]:
        return None
    return data.decode("utf-8", errors="replace")


def test_the_scan_sees_the_repository():
    files = dict(repository_files())
    assert {"galaxy.yml", "README.md", "LICENSE", "Makefile"} <= set(files)
    assert any(name.startswith("tests/schemas/external-secrets/") for name in files)


def test_the_patterns_catch_what_they_are_for():
    samples = {
        "a folder beside the repository": "see ../" + "shared/x.md",
        "the development workplace": "/" + "work/shared/schemas",
        "a design note that is not in the repository": "DESIGN" + ".md 5",
        "a tracker number": "Issue #" + "12, issues " + "3 and 4",
    }
    for reason, pattern in _OUTSIDE:
        assert pattern.search(samples[reason]), reason
    assert not any(pattern.search("tests/issues/handler.py and an issue tracker") for _r, pattern in _OUTSIDE)


def test_no_file_points_outside_the_repository_or_at_a_tracker_number():
    found = []
    for relative, path in repository_files():
        text = text_of(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            for reason, pattern in _OUTSIDE:
                if pattern.search(line):
                    found.append(f"{relative}:{number}: {reason}: {line.strip()[:120]}")
    assert not found, "state the reason itself instead of pointing at it:\n" + "\n".join(found)


def test_everything_the_tests_read_is_inside_the_repository():
    """The vendored CRDs are present, with their source and licence beside them."""
    folder = os.path.join(REPO, "tests", "schemas", "external-secrets")
    for name in ("external-secrets.io_secretstores.yaml", "external-secrets.io_clustersecretstores.yaml",
                 "external-secrets.io_externalsecrets.yaml"):
        with open(os.path.join(folder, name), encoding="utf-8") as handle:
            crd = yaml.safe_load(handle)
        assert crd["kind"] == "CustomResourceDefinition" and crd["spec"]["group"] == "external-secrets.io"
    readme = text_of(os.path.join(folder, "README.md"))
    assert "cc5bfbc2234ace9cb0caff4ea89c435cf517b27b" in readme and "config/crds/bases/" in readme
    assert "Apache License" in readme
    assert "Apache License" in text_of(os.path.join(folder, "LICENSE"))
    assert "Version 2.0" in text_of(os.path.join(folder, "LICENSE"))


def test_licence_file_is_the_full_gpl3_named_in_galaxy_yml():
    with open(os.path.join(REPO, "galaxy.yml"), encoding="utf-8") as handle:
        galaxy = yaml.safe_load(handle)
    assert galaxy["license"] == ["GPL-3.0-or-later"]
    licence = text_of(os.path.join(REPO, "LICENSE"))
    assert licence.lstrip().startswith("GNU GENERAL PUBLIC LICENSE")
    assert "Version 3, 29 June 2007" in licence and "END OF TERMS AND CONDITIONS" in licence
    assert "How to Apply These Terms to Your New Programs" in licence  # the whole text, not a stub
    assert len(licence) > 30000
