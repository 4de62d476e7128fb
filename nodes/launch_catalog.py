"""Which launch file a name means: a path, or one of the launch files shipped with the package.

The repository's ``launch/`` folder is installed as the data package ``causalstream.launch``
(pyproject.toml), so ``causalstream launch demo`` works after ``pip install .``, outside the
repository, as ``ros2 launch PKG FILE`` does. A path that exists always wins over a shipped name.

>>> [f.name for f in shipped_launch_files()][:1]
['demo']
>>> find_launch_file("demo").name
'demo.yaml'
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from causalstream.nodes.errors import LaunchError

__all__ = ["ShippedLaunchFile", "find_launch_file", "shipped_launch_files"]

PACKAGE = "causalstream.launch"


@dataclass(frozen=True)
class ShippedLaunchFile:
    """A launch file installed with the package: its name, its path, the first line of its header.

    >>> ShippedLaunchFile("x", Path("x.yaml"), "A test").name
    'x'
    """

    name: str
    path: Path
    summary: str


def _summary(path: Path) -> str:
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip().removesuffix(":")
        if text:
            return text
    return ""


def shipped_launch_files() -> list[ShippedLaunchFile]:
    """The shipped launch files, by name (``demo`` for ``demo.yaml``).

    >>> all(f.path.is_file() and f.path.suffix == ".yaml" for f in shipped_launch_files())
    True
    >>> next(f.summary for f in shipped_launch_files() if f.name == "talker")
    'A minimal pipeline that runs with the generic node kinds'
    """
    found = []
    for entry in resources.files(PACKAGE).iterdir():
        path = Path(str(entry))
        if path.suffix == ".yaml" and path.is_file():
            found.append(ShippedLaunchFile(path.stem, path, _summary(path)))
    return sorted(found, key=lambda f: f.name)


def find_launch_file(name: str | Path) -> Path:
    """``name`` if it is a file, else the shipped launch file ``name`` or ``name.yaml``.

    >>> find_launch_file("replay.yaml") == find_launch_file("replay")
    True
    >>> find_launch_file("no/such.yaml")
    Traceback (most recent call last):
    ...
    causalstream.nodes.errors.LaunchError: no/such.yaml: (file): no such launch file (shipped: demo, ...)
    """
    path = Path(name)
    if path.is_file():
        return path
    shipped = shipped_launch_files()
    if path.parent == Path("."):
        for f in shipped:
            if path.name in (f.name, f.path.name):
                return f.path
    names = ", ".join(f.name for f in shipped) or "none"
    raise LaunchError(str(name), None, "(file)", f"no such launch file (shipped: {names})")
