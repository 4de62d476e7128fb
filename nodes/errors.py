"""Errors of the nodes package (launcher, node runtime, CLI).

>>> str(LaunchError(path="demo.yaml", line=12, field="nodes[2].kind", reason="unknown node kind 'simm'"))
"demo.yaml:12: nodes[2].kind: unknown node kind 'simm'"
"""

from __future__ import annotations

from causalstream.stream.errors import CausalstreamError

__all__ = ["CausalstreamError", "CommandError", "LaunchError", "NodeError", "StateFileError", "UnknownKindError"]


class LaunchError(CausalstreamError):
    """A launch file is invalid; names the file, line and field.

    >>> LaunchError(path="a.yaml", line=None, field="args", reason="x").line is None
    True
    """

    def __init__(self, path: str, line: int | None, field: str, reason: str) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.reason = reason
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {field}: {reason}")


class NodeError(CausalstreamError):
    """A node could not be created, configured or run.

    >>> str(NodeError(node="disc", reason="unknown parameter 'windo'"))
    "node disc: unknown parameter 'windo'"
    """

    def __init__(self, node: str, reason: str) -> None:
        self.node = node
        self.reason = reason
        super().__init__(f"node {node}: {reason}")


class UnknownKindError(CausalstreamError):
    """A node kind that is neither registered nor importable as ``package.module:Class``.

    >>> str(UnknownKindError(kind="simm", reason="not registered (known: relay, talker)"))
    "node kind 'simm': not registered (known: relay, talker)"
    """

    def __init__(self, kind: str, reason: str) -> None:
        self.kind = kind
        self.reason = reason
        super().__init__(f"node kind {kind!r}: {reason}")


class CommandError(CausalstreamError):
    """A CLI command cannot proceed: bad option value, missing optional extra.

    >>> str(CommandError(command="model train", reason="unknown test scene 'zara3'"))
    "model train: unknown test scene 'zara3'"
    """

    def __init__(self, command: str, reason: str) -> None:
        self.command = command
        self.reason = reason
        super().__init__(f"{command}: {reason}")


class StateFileError(CausalstreamError):
    """A node's state file cannot be used: not a state file, or written with other parameters.

    >>> str(StateFileError(path="disc.npz", reason="written with window=300, this node has window=200"))
    'state file disc.npz: written with window=300, this node has window=200'
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"state file {path}: {reason}")
