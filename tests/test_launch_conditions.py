"""``if:`` / ``unless:`` on nodes and includes, as in ROS 2.

The values are read after ``$(arg ...)`` substitution; true, false, 1 and 0 in any case
(and YAML's booleans) are conditions, anything else is a ``FILE:LINE: FIELD`` error (the
CLI's exit status 2 for these is in test_launch_bad.py's corpus).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from causalstream.nodes.errors import LaunchError
from causalstream.nodes.launch_file import load_launch
from causalstream.nodes.runner import parse_assignments

from support import ROOT

TOP = """\
args:
  live: {default: true}
  quiet: {default: false}
include:
  - {file: extra.yaml, if: $(arg quiet)}
  - {file: chat.yaml, unless: $(arg quiet), namespace: robot1}
nodes:
  - {name: source, kind: talker, if: $(arg live)}
  - {name: source, kind: listener, unless: $(arg live)}
  - {name: relay, kind: relay, if: "$(arg live)"}
"""
CHAT = """\
nodes:
  - {name: talker, kind: talker}
  - {name: listener, kind: listener, if: "0"}
"""


def _plan(tmp_path: Path, *assignments: str) -> list[tuple[str, str]]:
    (tmp_path / "top.yaml").write_text(TOP)
    (tmp_path / "chat.yaml").write_text(CHAT)
    plan = load_launch(tmp_path / "top.yaml", parse_assignments(list(assignments), ":=", what="launch"))
    return [(n.qualified_name, n.kind) for n in plan.nodes]


def test_if_and_unless_pick_nodes_and_includes(tmp_path: Path) -> None:
    # extra.yaml does not exist: a false `if` leaves the include unread
    assert _plan(tmp_path) == [("/robot1/talker", "talker"), ("/source", "talker"), ("/relay", "relay")]
    assert _plan(tmp_path, "live:=false") == [("/robot1/talker", "talker"), ("/source", "listener")]


@pytest.mark.parametrize("value", ["True", "TRUE", "1", "true"])
def test_every_spelling_of_true(tmp_path: Path, value: str) -> None:
    assert _plan(tmp_path, f"live:={value}")[1:] == [("/source", "talker"), ("/relay", "relay")]


@pytest.mark.parametrize("value", ["False", "FALSE", "0", "false"])
def test_every_spelling_of_false(tmp_path: Path, value: str) -> None:
    assert _plan(tmp_path, f"live:={value}")[1:] == [("/source", "listener")]


def test_a_true_include_condition_reads_the_file(tmp_path: Path) -> None:
    with pytest.raises(LaunchError) as err:
        _plan(tmp_path, "quiet:=1")
    assert err.value.field == "include[0].file" and err.value.line == 5 and "no such file" in err.value.reason


def test_a_left_out_node_is_not_checked(tmp_path: Path) -> None:
    (tmp_path / "f.yaml").write_text("nodes:\n  - {name: a, kind: no_such_kind, if: false, params: {x: 1}}\n"
                                     "  - {name: a, kind: talker}\n")
    assert [n.kind for n in load_launch(tmp_path / "f.yaml").nodes] == ["talker"]


@pytest.mark.parametrize(("value", "field"), [("yes please", "nodes[0].if"), ("2", "nodes[0].if"),
                                              ("", "nodes[0].if"), ("1.0", "nodes[0].if")])
def test_a_bad_condition_names_the_line(tmp_path: Path, value: str, field: str) -> None:
    (tmp_path / "f.yaml").write_text("args: {flag: 1}\nnodes:\n  - name: a\n    kind: talker\n"
                                     "    if: $(arg flag)\n")
    with pytest.raises(LaunchError) as err:
        load_launch(tmp_path / "f.yaml", {"flag": value})
    assert (err.value.line, err.value.field) == (5, field)
    assert "is not a condition (true, false, 1 or 0)" in err.value.reason


def test_if_and_unless_together_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "f.yaml").write_text("include:\n  - file: x.yaml\n    if: true\n    unless: true\n")
    with pytest.raises(LaunchError) as err:
        load_launch(tmp_path / "f.yaml")
    assert (err.value.line, err.value.field) == (4, "include[0].unless") and "not both" in err.value.reason


def test_the_demo_records_only_when_asked() -> None:
    for value, recorder in (("false", False), ("true", True), ("1", True), ("0", False)):
        plan = load_launch(ROOT / "launch" / "demo.yaml", parse_assignments([f"record:={value}"], ":=", what="launch"))
        assert [n.kind for n in plan.nodes] == ["recorder"] * recorder + ["sim", "features", "discovery", "predictor"]
