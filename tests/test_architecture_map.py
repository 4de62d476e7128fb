"""ARCHITECTURE.md is a map of the tree: it cannot go stale silently.

Every module file under stream/, models/, nodes/ and launch/ has exactly one line in the map
(a list item starting with its path in backticks), the map has no line for a module that is
gone, every repository path it names exists, and it stays short.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAP = ROOT / "ARCHITECTURE.md"
PACKAGES = ("stream", "models", "nodes", "launch")
MAX_LINES = 260

MODULE_LINE = re.compile(r"^- `((?:stream|models|nodes|launch)/[\w/]+\.py)`")
# A repository path: a top-level folder, then at least one more part (no globs, no braces).
PATH = re.compile(r"(?<![\w./-])((?:stream|models|nodes|launch|tests|bench)/[\w./-]*[\w/])")


def _text() -> str:
    return MAP.read_text()


def _modules() -> set[str]:
    return {str(p.relative_to(ROOT)) for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
            if "__pycache__" not in p.parts}


def _module_lines() -> Counter[str]:
    return Counter(m.group(1) for line in _text().splitlines() if (m := MODULE_LINE.match(line)))


def test_every_module_has_one_line() -> None:
    lines = _module_lines()
    missing = sorted(_modules() - set(lines))
    assert not missing, f"modules with no line in ARCHITECTURE.md: {missing}"
    twice = sorted(m for m, n in lines.items() if n > 1)
    assert not twice, f"modules with more than one line in ARCHITECTURE.md: {twice}"


def test_no_line_for_a_module_that_is_gone() -> None:
    gone = sorted(set(_module_lines()) - _modules())
    assert not gone, f"ARCHITECTURE.md describes modules that do not exist: {gone}"


def test_every_named_path_exists() -> None:
    named = {m.group(1).rstrip(".") for m in PATH.finditer(_text())}
    assert len(named) > 100, "the path pattern found almost nothing: is it still the map?"
    stale = sorted(p for p in named if not (ROOT / p).exists())
    assert not stale, f"ARCHITECTURE.md names paths that do not exist: {stale}"


def test_the_map_is_short() -> None:
    n = len(_text().splitlines())
    assert n <= MAX_LINES, f"ARCHITECTURE.md has {n} lines; the map stays under {MAX_LINES} (history: bench/NOTES.md)"


def test_links_to_the_notes() -> None:
    assert "bench/NOTES.md" in _text()
    assert (ROOT / "bench" / "NOTES.md").is_file()
