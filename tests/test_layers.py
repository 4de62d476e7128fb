"""Imports flow one way: nodes -> stream, nodes -> models; no function-level imports.

The one allowed crossing: models may import ``causalstream.stream.errors`` for the
root error class (ARCHITECTURE.md, "Errors").
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"stream": "causalstream.stream", "models": "causalstream.models", "nodes": "causalstream.nodes"}
FORBIDDEN = {
    "stream": ("causalstream.nodes", "causalstream.models"),
    "models": ("causalstream.nodes", "causalstream.stream"),
    "nodes": (),
}
ALLOWED = {"models": ("causalstream.stream.errors",)}
BARE = ("stream", "models", "nodes")


def _files() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py"))


def _imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return [node.module]
    return []


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_flow_one_way(path: Path) -> None:
    folder = path.relative_to(ROOT).parts[0]
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        for mod in _imported(node):
            assert mod.split(".")[0] not in BARE, f"{path}: bare import of {mod}"
            if mod.startswith(ALLOWED.get(folder, ("\0",))):
                continue
            assert not mod.startswith(FORBIDDEN[folder]), f"{path}: {folder} must not import {mod}"


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_imports_inside_functions(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                assert not isinstance(node, (ast.Import, ast.ImportFrom)), (
                    f"{path}:{node.lineno}: import inside {fn.name}()"
                )


def test_no_print_in_library_code() -> None:
    offenders = []
    for path in _files():
        if path.name.startswith("cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, "use logging, not print: " + ", ".join(offenders)


def test_cli_and_bus_import_no_heavy_modules() -> None:
    """Every CLI command starts fast: torch, tigramite and matplotlib load only when used."""
    code = (
        "import sys, causalstream.nodes.cli, causalstream.stream; "
        "heavy = [m for m in ('torch', 'tigramite', 'matplotlib', 'onnx') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"imported at CLI start: {res.stdout.strip()} {res.stderr[-500:]}"
