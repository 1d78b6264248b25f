"""The README and docs/ hold together: every relative link resolves (the file exists and, for an
`#anchor`, so does the heading), the README links to every page, and every document a code
comment or deployment file cites is in the repository, with the section it names."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], None
    for line in text.splitlines():
        match = FENCE.match(line)
        if match and (fenced is None or match.group(1) == fenced):
            fenced = match.group(1) if fenced is None else None
            continue
        if fenced is None:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the text as rendered, lowercase, punctuation dropped,
    each space a hyphen (`Render, small (deploy/render-small.yaml)` -> `render-small-deployrender-smallyaml`)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link reads as its text
    text = text.replace("`", "").replace("*", "")
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading's anchor; a repeated one gets -1, -2, … as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose_lines(text):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(text: str) -> list[str]:
    """Targets of inline links, images and reference definitions, outside code."""
    targets = []
    for line in prose_lines(text):
        line = CODE_SPAN.sub("", line)
        targets += INLINE_LINK.findall(line)
        reference = REFERENCE.match(line)
        if reference:
            targets.append(reference.group(1))
    return targets


def broken_links(page: Path, root: Path = REPO) -> list[str]:
    """The relative links of a Markdown page that do not resolve, each with the reason."""
    problems = []
    for target in links(page.read_text(encoding="utf-8")):
        if SCHEME.match(target):
            continue  # a web address, not ours to check here
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.is_relative_to(root.resolve()):
            problems.append(f"{target}: outside the repository")
        elif not resolved.exists():
            problems.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved.read_text(encoding="utf-8")):
            problems.append(f"{target}: no heading with anchor #{anchor}")
    return problems


# Files whose comments may cite documents: source, configuration and deployment files.
SOURCE_SUFFIXES = {".py", ".yml", ".yaml", ".toml", ".ini", ".cfg", ".sql", ".txt", ".mako", ".sh"}
SOURCE_NAMES = {"Dockerfile", "Procfile", "dev", "run", ".env.example"}
SKIP_DIRS = {".git", ".venv", "venv", "__pycache__", "var", "logs", "out", "node_modules",
             ".pytest_cache", ".ruff_cache", ".mypy_cache", ".hypothesis"}
# A cited document: any *.md path, or a *.yml/*.yaml path with a directory (a bare
# `render.yaml` in prose names a deployment file, not a document).
CITED = re.compile(r"(?<![\w./:-])([\w./-]+\.md|[\w.-]*/[\w./-]+\.ya?ml)\b")
# `docs/operations.md, "Alerts"`, also across a line break inside a comment.
CITED_SECTION = re.compile(r"(?<![\w./:-])([\w./-]+\.md),\s*(?:(?:#|--)\s*)?\"([^\"\n]+)\"")


def source_files(root: Path = REPO):
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in relative.parts[:-1]):
            continue
        if path.is_file() and (path.suffix in SOURCE_SUFFIXES or path.name in SOURCE_NAMES):
            yield path


def headings(page: Path) -> set[str]:
    texts = set()
    for line in prose_lines(page.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if match:
            texts |= {match.group(1), match.group(1).replace("`", "")}
    return texts


def uncited(path: Path, root: Path = REPO) -> list[str]:
    """Documents (and sections of them) a file cites that are not in the repository. Paths are
    from the repository's root, as a reader of the comment would look for them."""
    text = path.read_text(encoding="utf-8", errors="replace")
    problems = []
    for cited in sorted(set(CITED.findall(text))):
        target = (root / cited).resolve()
        if not target.is_relative_to(root.resolve()) or not target.is_file():
            problems.append(f"{cited}: not a file of the repository")
    for cited, section in CITED_SECTION.findall(text):
        target = (root / cited).resolve()
        if target.is_relative_to(root.resolve()) and target.is_file() and section not in headings(target):
            problems.append(f'{cited}, "{section}": no such heading')
    return problems


# --- the checkers themselves, on pages made to fail -------------------------------------------

def test_slugs_follow_githubs_rules():
    assert slug("Monitoring: exit codes and alerts") == "monitoring-exit-codes-and-alerts"
    assert slug("What if two beats run?") == "what-if-two-beats-run"
    assert slug("Render, small (deploy/render-small.yaml)") == "render-small-deployrender-smallyaml"
    assert slug("Guarantees, and how they are kept") == "guarantees-and-how-they-are-kept"
    assert slug("The `ra_odds_live` view — in [data](data.md)") == "the-ra_odds_live-view--in-data"
    assert anchors("# Notes\n## Notes\n```\n# not a heading\n```\n## Notes\n") == {"notes", "notes-1", "notes-2"}


def test_the_link_checker_finds_what_is_broken(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("# A page\n\n## Render (render.yaml Blueprint)\n")
    readme = tmp_path / "README.md"
    readme.write_text(
        "# Title\n"
        "[fine](docs/page.md#render-renderyaml-blueprint) [here](#title) [web](https://example.com/x.md)\n"
        "[no file](docs/missing.md) [no heading](docs/page.md#render) [no anchor here](#nowhere)\n"
        "[outside](../elsewhere.md)\n"
        "`[in code](docs/gone.md)`\n"
        "```\n[fenced](docs/gone.md)\n```\n"
        "[ref]: docs/also-missing.md\n")
    assert broken_links(readme, root=tmp_path) == [
        "docs/missing.md: no such file",
        "docs/page.md#render: no heading with anchor #render",
        "#nowhere: no heading with anchor #nowhere",
        "../elsewhere.md: outside the repository",
        "docs/also-missing.md: no such file",
    ]


def test_the_citation_checker_finds_documents_outside_the_repository(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "operations.md").write_text("# Operations\n\n## Alerts\n")
    source = tmp_path / "module.py"
    source.write_text(
        '"""Kept as the old readers expect (' + "legacy-contract" + '.md); see docs/operations.md, "Alerts"\n'
        'and docs/operations.md,\n# "Flower", and the spec ' + "shared/racing-api/openapi" + '.yml.\n'
        'Not a citation: https://example.com/README.md."""\n')
    assert uncited(source, root=tmp_path) == [
        "legacy-contract.md: not a file of the repository",
        "shared/racing-api/openapi.yml: not a file of the repository",
        'docs/operations.md, "Flower": no such heading',
    ]


# --- the repository ---------------------------------------------------------------------------

@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_relative_links_resolve(page):
    assert broken_links(page) == []


def test_the_readme_links_to_every_page_of_docs():
    linked = {(REPO / target.partition("#")[0]).resolve()
              for target in links((REPO / "README.md").read_text(encoding="utf-8")) if not SCHEME.match(target)}
    assert [page.name for page in PAGES[1:] if page.resolve() not in linked] == []


def test_cited_documents_are_in_the_repository():
    here = Path(__file__).resolve()
    problems = {str(path.relative_to(REPO)): found for path in source_files()
                if path.resolve() != here and (found := uncited(path))}
    assert problems == {}


def test_the_readme_stays_a_screen():
    """What a newcomer needs in the first five minutes; the rest belongs in docs/."""
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines: move a chapter to docs/"
