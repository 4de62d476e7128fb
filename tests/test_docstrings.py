"""Every public name carries a runnable example: run them all, as STYLE.md says.

Walks causalstream.stream, .nodes and .models by their own ``__path__`` (not the folders,
which would import them a second time as top-level packages).
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

PACKAGES = ["causalstream.stream", "causalstream.models", "causalstream.nodes"]


def _modules() -> list[str]:
    names = []
    for pkg_name in PACKAGES:
        pkg = importlib.import_module(pkg_name)
        names.append(pkg_name)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=pkg_name + "."):
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_doctests(name: str) -> None:
    try:
        module = importlib.import_module(name)
    except ImportError as exc:  # optional extra (torch) not installed
        pytest.skip(f"{name}: {exc}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"


def test_every_public_name_has_an_example() -> None:
    missing = []
    for name in _modules():
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        finder = doctest.DocTestFinder(recurse=False)
        if name.rsplit(".", 1)[-1].startswith("cli"):
            # CLI command docstrings are their --help text; the module docstring carries
            # the example (it runs the group's --help through typer's CliRunner).
            if not any(t.examples for t in finder.find(module, name)):
                missing.append(name)
            continue
        public = getattr(module, "__all__", None)
        for attr, obj in vars(module).items():
            if attr.startswith("_") or getattr(obj, "__module__", None) != name:
                continue
            if public is not None and attr not in public:
                continue
            if not (isinstance(obj, type) or callable(obj)):
                continue
            tests = finder.find(obj, f"{name}.{attr}", module=module)
            if not any(t.examples for t in tests):
                missing.append(f"{name}.{attr}")
    assert not missing, "public names without a runnable example: " + ", ".join(missing)
