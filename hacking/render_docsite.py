"""Write the collection's docsite pages (docs/docsite/rst/*.rst and extra-docs.yml) from the Markdown guides.

Why: the Markdown pages in docs/ are what people read on the repository and what the tests check
(links, configuration reference); the Ansible docsite (antsibull-docs) renders a collection's extra
documentation from reStructuredText listed in docs/docsite/extra-docs.yml. Writing the RST by hand
would give two copies that drift, so the Markdown stays the source and this script derives the rest:
one page per guide, a label per page (``ansible_collections.vibebox.secrets.docsite.<page>``) and per
heading that a link points at, links between guides as ``:ref:``, links to other repository files as
links to the repository, GitHub tables as list-tables, fenced code as code-blocks.

    python hacking/render_docsite.py          # rewrite docs/docsite/rst and extra-docs.yml
    python hacking/render_docsite.py --check  # fail if they are not what the Markdown gives

It handles the Markdown the guides use (CommonMark plus tables); anything else fails loudly, naming the
page, so that a guide never renders silently wrong.
"""
from __future__ import annotations

import os
import re
import sys
from typing import Dict, List, Optional, Sequence, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
DOCSITE = os.path.join(DOCS, "docsite")
RST_DIR = os.path.join(DOCSITE, "rst")
LABEL_PREFIX = "ansible_collections.vibebox.secrets.docsite."
REPOSITORY_URL = "https://github.com/vibebox/vibebox.secrets"
BRANCH = "main"

#: the docsite's sections and the guides in each, in reading order (every docs/**/*.md page must be listed)
SECTIONS: Sequence[Tuple[str, Sequence[str]]] = (
    ("Guides", ("index.md", "architecture.md", "providers.md", "providers/kubernetes.md", "providers/vault.md",
                "providers/vault-logins.md", "configuration.md",
                "references.md", "caching.md", "run-cache.md", "audit-log.md", "compliance.md", "security.md")),
    ("Runbooks", ("migration.md", "rotation.md", "status-page.md", "awx.md", "external-secrets.md", "troubleshooting.md",
                  "disaster-recovery.md")),
    ("Development", ("testing.md", "faults.md")),
)
HEADING_MARKS = "=-^\"~'"
#: characters that may stand before (after) inline markup in RST without an escaped space
_OPEN_OK = set(" \t\n'\"([{<-/:")
_CLOSE_OK = set(" \t\n'\")]}>-/:.,;!?\\")
#: fenced-code languages Pygments knows, as the docsite highlights them; anything else is plain text.
#: Shell examples are "shell" (the same lexer as bash): the docsite's linter runs ``bash -n`` on "bash"
#: blocks, and examples with <placeholders> are not meant to parse.
LANGUAGES = {"bash": "shell", "sh": "shell", "shell": "shell", "console": "console", "yaml": "yaml", "yml": "yaml",
             "json": "json", "ini": "ini", "python": "python", "sql": "sql", "hcl": "hcl", "text": "text",
             "jinja": "jinja", "diff": "diff"}


def code_language(info: str, body: str) -> str:
    """The code-block language; JSON and YAML only when the block is one valid document (the docsite's
    linter parses them), else what highlights the same without the check."""
    language = LANGUAGES.get(info, "text")
    if language == "json":
        import json

        try:
            json.loads(body)
        except ValueError:
            return "text"  # JSON lines, or JSON with placeholders
    elif language == "yaml":
        import yaml

        try:
            yaml.safe_load(body)
        except yaml.YAMLError:
            return "yaml+jinja"  # several documents, or placeholders
    elif language == "python":
        try:
            compile(body, "<docs>", "exec")
        except SyntaxError:
            return "text"
    return language


class RenderError(Exception):
    pass


def page_name(relative: str) -> str:
    """docs-relative Markdown path -> RST page name: providers/kubernetes.md -> providers_kubernetes.

    docs/index.md becomes ``overview``: on the docsite the collection's own index page is the index.
    """
    if relative == "index.md":
        return "overview"
    return re.sub(r"[^a-z0-9_]", "_", relative[:-3].lower())


def page_label(relative: str, anchor: Optional[str] = None) -> str:
    label = LABEL_PREFIX + page_name(relative)
    return f"{label}.{anchor}" if anchor else label


def slug(text: str, seen: Dict[str, int]) -> str:
    """GitHub's heading ids, so that the Markdown's #anchors keep working on the docsite."""
    text = re.sub(r"<[^>]+>", "", text)
    value = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
    count = seen.get(value, 0)
    seen[value] = count + 1
    return value if count == 0 else f"{value}-{count}"


def escape(text: str) -> str:
    text = text.replace("\\", "\\\\")
    text = re.sub(r"([*`|])", r"\\\1", text)
    text = re.sub(r"(?<=\w)_(?=\W|$)", r"\\_", text)  # word_ would be a reference
    return text


class Page:
    def __init__(self, relative: str, renderer: "Site") -> None:
        self.relative = relative
        self.site = renderer
        with open(os.path.join(DOCS, relative), encoding="utf-8") as handle:
            self.source = handle.read()
        self.tree = renderer.parse(self.source)
        self.anchors: Dict[str, str] = {}  # slug -> heading text
        self.title = ""
        seen: Dict[str, int] = {}
        for node in self.tree.walk():
            if node.type == "heading":
                self.anchors[slug(self.plain(node), seen)] = self.plain(node)
                self.title = self.title or self.plain(node).strip()
        self.wanted_anchors: set = set()

    def fail(self, message: str, node=None) -> RenderError:
        line = f":{node.map[0] + 1}" if node is not None and node.map else ""
        return RenderError(f"docs/{self.relative}{line}: {message}")

    # --- inline -------------------------------------------------------------------------------------
    def plain(self, node) -> str:
        """The text of a node without markup (for headings and :ref: titles)."""
        parts = []
        for child in node.walk():
            if child.type in ("text", "code_inline", "html_inline"):
                parts.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                parts.append(" ")
        return "".join(parts)

    def link_target(self, href: str, node) -> Tuple[str, str]:
        """('ref', label) or ('url', address) for a Markdown link."""
        if re.match(r"^[a-z][a-z0-9+.-]*:", href, re.I):
            return "url", href
        location, _sep, anchor = href.partition("#")
        if not location:
            if anchor not in self.anchors:
                raise self.fail(f"link to #{anchor}, which is not a heading of this page", node)
            self.wanted_anchors.add(anchor)
            return "ref", page_label(self.relative, anchor)
        target = os.path.normpath(os.path.join(os.path.dirname(self.relative), location))
        if target.endswith(".md") and not target.startswith(".."):
            other = self.site.pages.get(target)
            if other is None:
                raise self.fail(f"link to docs/{target}, which is not a page of the docsite (SECTIONS)", node)
            if anchor:
                if anchor not in other.anchors:
                    raise self.fail(f"link to {target}#{anchor}, which is not a heading there", node)
                other.wanted_anchors.add(anchor)
                return "ref", page_label(target, anchor)
            return "page", target
        repository_path = os.path.normpath(os.path.join("docs", os.path.dirname(self.relative), location))
        if repository_path.startswith(".."):
            raise self.fail(f"link to {href}, outside the repository", node)
        if not os.path.exists(os.path.join(ROOT, repository_path)):
            raise self.fail(f"link to {href}, which does not exist", node)
        kind = "tree" if os.path.isdir(os.path.join(ROOT, repository_path)) else "blob"
        return "url", f"{REPOSITORY_URL}/{kind}/{BRANCH}/{repository_path}" + (f"#{anchor}" if anchor else "")

    def inline_pieces(self, node) -> List[Tuple[bool, str]]:
        """(is_markup, text) pieces of an inline container."""
        pieces: List[Tuple[bool, str]] = []
        for child in node.children:
            kind = child.type
            if kind == "text":
                pieces.append((False, escape(child.content)))
            elif kind == "html_inline":
                pieces.append((False, escape(child.content)))
            elif kind in ("softbreak", "hardbreak"):
                pieces.append((False, " "))
            elif kind == "code_inline":
                if "``" in child.content or not child.content.strip():
                    raise self.fail(f"inline code that RST cannot hold: {child.content!r}", node)
                pieces.append((True, f"``{child.content}``"))
            elif kind in ("strong", "em"):
                text = escape(self.plain(child)).strip()
                mark = "**" if kind == "strong" else "*"
                pieces.append((True, f"{mark}{text}{mark}"))
            elif kind == "link":
                href = child.attrs.get("href", "")
                title = self.plain(child).strip() or href
                target_kind, target = self.link_target(href, node)
                if target_kind == "page":
                    # a link titled with the file name ("[migration.md](migration.md)") shows the page's title
                    if title.endswith(".md"):
                        title = self.site.pages[target].title
                    target_kind, target = "ref", page_label(target)
                title = title.replace("<", "\\<").replace("`", "\\`")
                if target_kind == "ref":
                    pieces.append((True, f":ref:`{title} <{target}>`"))
                else:
                    pieces.append((True, f"`{title} <{target}>`__"))
            elif kind == "image":
                # the docsite carries only RST pages: an image becomes a link to the file in the repository
                title = (self.plain(child).strip() or child.attrs.get("alt") or "image").replace("<", "\\<").replace("`", "\\`")
                target_kind, target = self.link_target(child.attrs.get("src", ""), node)
                if target_kind != "url":
                    raise self.fail("an image must be a file of the repository", node)
                pieces.append((True, f"`{title} (image) <{target}>`__"))
            else:
                raise self.fail(f"inline {kind} is not handled", node)
        return pieces

    def inline(self, node) -> str:
        pieces = self.inline_pieces(node)
        out = ""
        for index, (markup, text) in enumerate(pieces):
            if markup:
                if out and out[-1] not in _OPEN_OK:
                    out += "\\ "
                out += text
                following = pieces[index + 1][1] if index + 1 < len(pieces) else ""
                if following and following[0] not in _CLOSE_OK:
                    out += "\\ "
            else:
                out += text
        return out.strip()

    # --- blocks -------------------------------------------------------------------------------------
    def blocks(self, nodes, first_heading_seen: List[bool]) -> List[str]:
        lines: List[str] = []
        for node in nodes:
            lines.extend(self.block(node, first_heading_seen))
        return lines

    def block(self, node, first_heading_seen: List[bool]) -> List[str]:
        kind = node.type
        if kind == "heading":
            level = int(node.tag[1])
            text = escape(self.plain(node)).strip()
            out: List[str] = []
            seen: Dict[str, int] = self._heading_slugs
            anchor = slug(self.plain(node), seen)
            if not first_heading_seen[0]:
                if level != 1:
                    raise self.fail("the page must start with a level-1 heading", node)
                first_heading_seen[0] = True
                out += [f".. _{page_label(self.relative)}:", ""]
                mark = HEADING_MARKS[0]
                return out + [text, mark * max(len(text), 3), ""]
            if level == 1:
                raise self.fail("a second level-1 heading (the page title must be the only one)", node)
            if anchor in self.wanted_anchors:
                out += [f".. _{page_label(self.relative, anchor)}:", ""]
            mark = HEADING_MARKS[min(level - 1, len(HEADING_MARKS) - 1)]
            return out + [text, mark * max(len(text), 3), ""]
        if kind == "paragraph":
            return [self.inline(node.children[0]) if node.children else "", ""]
        if kind == "inline":
            return [self.inline(node), ""]
        if kind in ("fence", "code_block"):
            info = (node.info or "").strip().split()[0].lower() if kind == "fence" and node.info else ""
            language = code_language(info, node.content)
            body = node.content.rstrip("\n").split("\n")
            return [f".. code-block:: {language}", ""] + [("   " + line).rstrip() for line in body] + [""]
        if kind in ("bullet_list", "ordered_list"):
            out = []
            for number, item in enumerate(node.children, start=1):
                marker = "- " if kind == "bullet_list" else f"{number}. "
                inner = self.blocks(item.children, first_heading_seen)
                while inner and inner[-1] == "":
                    inner.pop()
                pad = " " * len(marker)
                for index, line in enumerate(inner):
                    out.append((marker if index == 0 else pad) + line if line else "")
                if any(child.type not in ("paragraph",) for child in item.children) or len(item.children) > 1:
                    out.append("")
            return out + [""]
        if kind == "blockquote":
            inner = self.blocks(node.children, first_heading_seen)
            return [("   " + line) if line else "" for line in inner] + [""]
        if kind == "table":
            return self.table(node)
        if kind == "hr":
            return ["----", ""]
        if kind == "html_block":
            raise self.fail("raw HTML blocks are not rendered to the docsite", node)
        raise self.fail(f"block {kind} is not handled", node)

    def table(self, node) -> List[str]:
        rows: List[List[str]] = []
        header_rows = 0
        for section in node.children:
            for row in section.children:
                cells = [self.inline(cell.children[0]) if cell.children else "" for cell in row.children]
                rows.append(cells)
                if section.type == "thead":
                    header_rows += 1
        width = max(len(row) for row in rows)
        out = [".. list-table::", f"   :header-rows: {header_rows}", ""]
        for row in rows:
            row = row + [""] * (width - len(row))
            for index, cell in enumerate(row):
                marker = "   * - " if index == 0 else "     - "
                out.append((marker + cell).rstrip())
        return out + [""]

    def render(self) -> str:
        self._heading_slugs: Dict[str, int] = {}
        lines = [f".. Generated from docs/{self.relative} by hacking/render_docsite.py: edit the Markdown, then"
                 " run make docs.", ""]
        lines += self.blocks(self.tree.children, [False])
        text = "\n".join(lines)
        text = re.sub(r"\n{3,}", "\n\n", text).strip("\n") + "\n"
        return text


class Site:
    def __init__(self) -> None:
        from markdown_it import MarkdownIt

        self._markdown = MarkdownIt("commonmark").enable("table")
        listed = [page for _title, pages in SECTIONS for page in pages]
        found = sorted(os.path.relpath(os.path.join(folder, name), DOCS)
                       for folder, _dirs, files in os.walk(DOCS) if not folder.startswith(DOCSITE)
                       for name in files if name.endswith(".md"))
        missing = sorted(set(found) - set(listed))
        if missing:
            raise RenderError(f"docs pages not in any docsite section (SECTIONS in {__file__}): {missing}")
        gone = sorted(set(listed) - set(found))
        if gone:
            raise RenderError(f"SECTIONS lists pages that do not exist: {gone}")
        self.pages: Dict[str, Page] = {relative: Page(relative, self) for relative in listed}

    def parse(self, text: str):
        from markdown_it.tree import SyntaxTreeNode

        return SyntaxTreeNode(self._markdown.parse(text))

    def render(self) -> Dict[str, str]:
        """Relative path under docs/docsite -> content."""
        # first pass collects which headings links point at; the second writes labels for them
        for page in self.pages.values():
            page.render()
        files = {f"rst/{page_name(relative)}.rst": page.render() for relative, page in self.pages.items()}
        lines = ["---", "# Generated by hacking/render_docsite.py from its SECTIONS: the guides of docs/, rendered as",
                 "# docs/docsite/rst/. Edit the Markdown and SECTIONS, then run make docs.", "sections:"]
        for title, pages in SECTIONS:
            lines += [f"  - title: {title}", "    toctree:"]
            lines += [f"      - {page_name(relative)}" for relative in pages]
        files["extra-docs.yml"] = "\n".join(lines) + "\n"
        return files


def main(argv: List[str]) -> int:
    check = "--check" in argv
    try:
        wanted = Site().render()
    except RenderError as error:
        print(f"render_docsite: {error}", file=sys.stderr)
        return 1
    present = {f"rst/{name}" for name in os.listdir(RST_DIR) if name.endswith(".rst")} if os.path.isdir(RST_DIR) else set()
    stale = sorted(present - set(wanted))
    differ = []
    for relative, content in sorted(wanted.items()):
        path = os.path.join(DOCSITE, relative)
        current = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if current != content:
            differ.append(relative)
    if not differ and not stale:
        print("docsite pages current")
        return 0
    if check:
        print("docs/docsite is out of date (run make docs): " + ", ".join(differ + stale))
        return 1
    os.makedirs(RST_DIR, exist_ok=True)
    for relative in differ:
        with open(os.path.join(DOCSITE, relative), "w", encoding="utf-8") as handle:
            handle.write(wanted[relative])
    for relative in stale:
        os.remove(os.path.join(DOCSITE, relative))
    print(f"rendered {len(differ)} file(s) under docs/docsite, removed {len(stale)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
