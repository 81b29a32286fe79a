"""The documentation keeps up with the code.

- docs/configuration.md names every option of core/options.py and every environment variable the
  collection reads (the options' table, the special cases beside it, and the variables plugins read
  directly with os.environ);
- every relative link in README.md and docs/**/*.md points to a file that exists, and a link to a
  heading (``file.md#heading``) to a heading that exists, with GitHub's anchor rules.
"""
from __future__ import annotations

import glob
import os
import re

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import options

from ansible_run import REPO

CONFIGURATION = os.path.join(REPO, "docs", "configuration.md")
PAGES = sorted(glob.glob(os.path.join(REPO, "docs", "**", "*.md"), recursive=True)) + [os.path.join(REPO, "README.md")]
_FENCE = re.compile(r"^(```|~~~).*?^\1\s*$", re.M | re.S)
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?\s*\)")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)
_ENV_READ = (
    re.compile(r"environ(?:\.get)?\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']"),
    re.compile(r"environ\[\s*[\"']([A-Z][A-Z0-9_]*)[\"']\s*\]"),
    re.compile(r"getenv\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']"),
    # module constants naming a variable: ENV_SWITCH = "VIBEBOX_RUN_CACHE", KEY_ENV = "VIBEBOX_BACKUP_KEY"
    re.compile(r"^[A-Z_]*ENV[A-Z_]*\s*=\s*[\"']([A-Z][A-Z0-9_]*)[\"']", re.M),
)


def read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def without_code_blocks(text: str) -> str:
    return _FENCE.sub("", text)


def variables_read_by_plugins() -> set:
    found = set()
    for path in glob.glob(os.path.join(REPO, "plugins", "**", "*.py"), recursive=True):
        source = read(path)
        for pattern in _ENV_READ:
            found.update(pattern.findall(source))
    return found


ENVIRONMENT = sorted(
    {variable for name in options.OPTION_NAMES for variable in options.env_names(name)}
    | set(options.PREFIX_ENV.values())
    | {"SECRET_CACHE_TTL", "ENABLE_SECRET_MANAGER"}
    | variables_read_by_plugins()
)


def test_the_scan_finds_what_plugins_read():
    assert {"VIBEBOX_LOCAL_KEY", "VIBEBOX_AUDIT_ACTOR", "XDG_STATE_HOME", "KUBERNETES_SERVICE_HOST"} <= set(ENVIRONMENT)


@pytest.mark.parametrize("option", options.OPTION_NAMES)
def test_every_option_is_in_the_configuration_reference(option):
    assert f"`{option}`" in read(CONFIGURATION), f"docs/configuration.md does not document option {option}"


@pytest.mark.parametrize("variable", ENVIRONMENT)
def test_every_environment_variable_is_in_the_configuration_reference(variable):
    assert re.search(rf"\b{re.escape(variable)}\b", read(CONFIGURATION)), (
        f"docs/configuration.md does not document the environment variable {variable}"
    )


def anchors(path: str) -> set:
    """GitHub's heading ids: lower case, punctuation dropped, spaces to '-', repeats numbered."""
    seen: dict = {}
    found = set()
    for heading in _HEADING.findall(without_code_blocks(read(path))):
        text = re.sub(r"<[^>]+>", "", heading)
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
        slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    for explicit in re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", read(path)):
        found.add(explicit)
    return found


def links(path: str):
    text = without_code_blocks(read(path))
    text = re.sub(r"`[^`\n]*`", "", text)  # inline code is not a link
    for pattern in (_LINK, _IMAGE):
        for target in pattern.findall(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto: ...
                continue
            yield target


@pytest.mark.parametrize("page", PAGES, ids=lambda path: os.path.relpath(path, REPO))
def test_relative_links_resolve(page):
    broken = []
    for target in links(page):
        location, _sep, anchor = target.partition("#")
        resolved = os.path.normpath(os.path.join(os.path.dirname(page), location)) if location else page
        if not os.path.exists(resolved):
            broken.append(f"{target} (no file {os.path.relpath(resolved, REPO)})")
            continue
        if anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
            broken.append(f"{target} (no heading #{anchor} in {os.path.relpath(resolved, REPO)})")
    assert not broken, f"{os.path.relpath(page, REPO)} has broken links: " + "; ".join(broken)
