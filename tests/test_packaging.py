"""What ``pip install .`` ships: every module, the weights' neighbours, the launch files.

The wheel is built from a copy of the sources (``pip wheel --no-deps --no-build-isolation``,
a few seconds, no network), so a package folder missing from pyproject's ``packages`` list
fails here instead of on a user's machine. The shipped launch files are found by name
from outside the repository, through importlib.resources.
"""

from __future__ import annotations

import ast
import doctest
import re
import shutil
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

import tomllib

from causalstream.nodes.launch_catalog import shipped_launch_files

from support import ROOT, run_cli

BENCH = re.compile(r"\bbench\b")
FOLDERS = {"stream": "causalstream/stream", "models": "causalstream/models", "nodes": "causalstream/nodes",
           "launch": "causalstream/launch"}


def _wheel_names(tmp_path: Path) -> set[str]:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for folder in FOLDERS:
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path / "wheel"
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                          str(src), "-w", str(out)], capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stdout + res.stderr
    (wheel,) = out.glob("causalstream-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


def test_every_package_folder_is_listed_in_pyproject() -> None:
    """A folder with an __init__.py that pyproject's ``packages`` leaves out is missing from ``pip install .``
    (and, under the strict editable install, from the venv too)."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {"causalstream." + ".".join(init.parent.relative_to(ROOT).parts)
               for folder in FOLDERS for init in (ROOT / folder).rglob("__init__.py")}
    assert folders <= listed, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(folders - listed)}"


def test_the_wheel_ships_every_module_and_launch_file(tmp_path: Path) -> None:
    names = _wheel_names(tmp_path)
    wanted = {f"{FOLDERS[folder]}/{p.relative_to(ROOT / folder).as_posix()}"
              for folder in FOLDERS for pattern in ("*.py", "*.yaml") for p in (ROOT / folder).rglob(pattern)}
    assert wanted <= names, f"missing from the wheel (a package not in pyproject's list?): {sorted(wanted - names)}"
    assert {f"causalstream/launch/{n}" for n in ("demo.yaml", "replay.yaml", "talker.yaml", "foxglove_layout.json")} <= names
    assert not any(n.startswith(("causalstream/launch/demo_record", "tests/", "bench/")) for n in names)


def _code_strings(path: Path) -> list[tuple[int, str]]:
    """String literals of a module outside its docstrings, plus the code of its doctest examples."""
    tree = ast.parse(path.read_text())
    docs = {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docs:
                out.append((node.lineno, node.value))
            else:
                out.extend((node.lineno, ex.source) for ex in doctest.DocTestParser().get_examples(node.value))
    return out


def test_no_package_code_refers_to_the_repositorys_bench_folder() -> None:
    """bench/ is not installed: code and examples that read it would fail outside the repository."""
    found = [f"{p.relative_to(ROOT)}:{line}: {text.strip()[:60]!r}"
             for folder in ("stream", "models", "nodes") for p in sorted((ROOT / folder).rglob("*.py"))
             for line, text in _code_strings(p) if BENCH.search(text)]
    assert not found, "\n".join(found)


def test_the_installed_package_holds_the_launch_files() -> None:
    installed = sorted(p.name for p in resources.files("causalstream.launch").iterdir() if p.name.endswith(".yaml"))
    assert installed == sorted(p.name for p in (ROOT / "launch").glob("*.yaml")) and "demo.yaml" in installed
    assert [f.name for f in shipped_launch_files()] == [Path(n).stem for n in installed]


def test_launch_by_name_outside_the_repository(tmp_path: Path) -> None:
    listed = run_cli("launch", "--list", cwd=tmp_path)
    assert listed.returncode == 0 and all(n in listed.stdout for n in ("demo", "replay", "talker")), listed.stderr
    demo = run_cli("launch", "demo", "--check", "record:=true", cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert "launch/demo.yaml: 5 node(s)" in demo.stdout and "/recorder (recorder)" in demo.stdout
    talker = run_cli("launch", "talker.yaml", "--check", cwd=tmp_path)
    assert talker.returncode == 0 and "launch/talker.yaml: 3 node(s)" in talker.stdout, talker.stderr
    missing = run_cli("launch", "demo_record_True", "--check", cwd=tmp_path)
    assert missing.returncode == 2 and "no such launch file (shipped: demo, " in missing.stderr


def test_a_file_in_the_working_directory_wins_over_a_shipped_name(tmp_path: Path) -> None:
    (tmp_path / "demo.yaml").write_text("nodes:\n  - {name: mine, kind: talker}\n")
    res = run_cli("launch", "demo.yaml", "--check", cwd=tmp_path)
    assert res.returncode == 0 and "1 node(s)" in res.stdout and "/mine (talker)" in res.stdout, res.stderr
