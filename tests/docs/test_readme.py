"""The README is also the package index's long description: no relative links, true versions."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_links_are_absolute_and_docs_links_reach_a_page():
    base = PROJECT["urls"]["Documentation"]
    assert base.endswith("/")
    links = LINK.findall(README)
    assert links, "no links found: the pattern is out of date"
    for link in links:
        assert re.match(r"https?://", link), f"relative link {link!r} breaks on the package index"
        if link.startswith(base):
            page = link[len(base) :].strip("/") or "index"
            assert (ROOT / "docs" / f"{page}.md").is_file(), f"{link}: no docs/{page}.md"
    assert base in README


def _section(title: str) -> str:
    return README.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_supported_versions_match_the_classifiers():
    text = _section("Supported versions").split("\n\n")[0]
    classifiers = PROJECT["classifiers"]
    pythons = {c.rsplit(" ", 1)[1] for c in classifiers if re.search(r"Python :: 3\.\d+$", c)}
    djangos = {c.rsplit(" ", 1)[1] for c in classifiers if re.search(r"Django :: \d+\.\d+$", c)}
    python_text, django_text = text.split("Django", 1)
    assert set(re.findall(r"3\.\d+", python_text)) == pythons
    assert set(re.findall(r"\b\d\.\d\b", django_text.split(" each on ")[0])) == djangos
    assert f"pip install {PROJECT['name']}" in README
