"""Ground truth derived from the mechanisms' declared reads, at agent and variable level.

Agent level: a -> b when b's mechanism reads any state of a (a != b). A hidden mechanism (a
driver the simulator never publishes, hidden.py) is no agent: two agents that read it share a
hidden cause (:func:`hidden_pairs`), not a link.

Variable level, for a ``FeatureSpec`` naming humans by id. States are the groups ``pos``,
``vel``, ``goal`` of each agent, and ``speed``, the norm of ``vel``. Their direct parents
are the mechanism's reads (``vel``, ``goal``; ``speed``: its ``speed_reads``, narrow for a
walker: its pace, an AR(1) memory seen as its own last speed, less a slow-down, so a
walker's speed never reads its goal), the agent's own goal (``vel`` <- goal at lag 0,
``goal`` <- goal at lag 1: the goal is the mechanism's own memory) and the kinematics
(``pos`` <- own ``pos`` at lag 1 and own ``vel`` at lag 0). A ``vel`` parent is also a
``speed`` parent (the speed is part of the velocity). A lag-0 parent is unrolled into its
own parents, unless a feature of the spec observes that state whole (``v`` observes the
speed): the truth is a graph over the observed features, and a path through an observed
feature is two of its links, not one. So with ``v`` observed, ``robot.v`` at lag 1 does
not drive ``h4.d_robot``: its effect goes through ``robot.v`` at lag 0. A feature at time
t reads some states at t - l (``Need``). Then ``i`` at lag tau --> ``j`` when the states
that ``j`` needs have among their parents *every* state that ``i`` needs, each at the lag
that tau implies (tau = l_j + m - l_i, m the parent's lag), tau in [0, tau_max]; never
i --> i at lag 0.

Conservative: a link is declared only along declared reads, and only when the source
feature is wholly made of states the mechanism reads. So ``h1.d_robot --> h1.v`` holds for
a reactive human (its speed reads both positions) but ``h4.d_robot --> h4.v`` does not for
a distractor (it never reads the robot). Features that merely share a state (``v`` and
``heading`` both read ``vel``) are not linked: that is a definition, not a mechanism.
The target side is looser: a relational feature such as ``h4.d_robot`` is computed from
the robot's position, so ``robot.v --> h4.d_robot`` is true at variable level even for a
distractor (at lag 0 when ``robot.v`` is observed), and the naming-convention projection
then says robot -> h4. Score agent-level
discovery with features each agent owns (``v``, ``heading``, ``d_goal``, ``a``), or
against ``agent_graph``.

Hidden drivers make the truth an ancestral graph over the observed features: ``i`` at lag tau
``<->`` ``j`` (a hidden common cause, no directed link) when neither drives the other and the
states they need have, among their direct parents (unrolled as above, never through an
observed feature), one hidden state at the same time, or one with its own memory at any two
times (its earlier value then causes its later one). A ``-->`` stays ``-->`` whatever hidden
cause the pair also shares, as in a MAG; two features made of one state (``v`` and ``a`` of
one agent) stay unlinked, as above.

>>> g = VariableGraph(names=["a.v", "b.v"], graph=np.array([[["", "-->"], ["", "-->"]], [["", ""], ["", ""]]]), tau_max=1)
>>> g.links()
[('a.v', 'a.v', 1), ('a.v', 'b.v', 1)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from causalstream.models.causal.graph import LaggedGraph
from causalstream.models.errors import ParameterError
from causalstream.models.features.spec import FeatureSpec
from causalstream.models.features.variables import variable
from causalstream.models.sim.mechanisms import KINEMATICS, PARTS, Mechanism, Read

__all__ = ["VariableGraph", "agent_adjacency", "hidden_pairs", "variable_graph", "state_parents", "split_parts",
           "WHOLE"]

WHOLE = ("speed", "heading")
"""State groups a single feature observes whole (``v`` is the speed, ``heading`` the heading)."""


@dataclass(frozen=True)
class VariableGraph:
    """Tigramite-style truth: ``graph[i, j, tau] == "-->"`` means names[i] at lag tau drives names[j].

    >>> VariableGraph(names=["x"], graph=np.full((1, 1, 2), ""), tau_max=1).agent_adjacency(["x"])
    array([[0]])
    """

    names: list[str]
    graph: np.ndarray
    tau_max: int

    def as_graph(self) -> LaggedGraph:
        """The truth as a :class:`~causalstream.models.causal.graph.LaggedGraph` (val 0, p 1).

        >>> VariableGraph(names=["x"], graph=np.full((1, 1, 2), ""), tau_max=1).as_graph().tau_max
        1
        """
        return LaggedGraph(self.names, self.graph)

    def links(self) -> list[tuple[str, str, int]]:
        """(source, target, lag) of every ``-->`` (lag-0 ``<--`` mirrors are skipped), by lag, then index.

        >>> VariableGraph(names=["x"], graph=np.full((1, 1, 1), ""), tau_max=0).links()
        []
        """
        index = {n: k for k, n in enumerate(self.names)}
        directed = [(s, t, lag) for s, t, lag, mark in self.as_graph().links() if mark == "-->"]
        return sorted(directed, key=lambda link: (link[2], index[link[0]], index[link[1]]))

    def confounded(self) -> list[tuple[str, str, int]]:
        """(source, target, lag) of every ``<->`` (a hidden common cause; lag 0 once, from the lower index).

        >>> g = np.full((2, 2, 1), "<->"); g[0, 0, 0] = g[1, 1, 0] = ""
        >>> VariableGraph(names=["a.v", "b.v"], graph=g, tau_max=0).confounded()
        [('a.v', 'b.v', 0)]
        """
        index = {n: k for k, n in enumerate(self.names)}
        both = [(s, t, lag) for s, t, lag, mark in self.as_graph().links(mirrors=False) if mark == "<->"]
        return sorted(both, key=lambda link: (link[2], index[link[0]], index[link[1]]))

    def agent_adjacency(self, agents: Sequence[str]) -> np.ndarray:
        """Project by the ``agent.variable`` naming: adj[a, b] = 1 if a link goes a -> b, a != b.

        >>> g = VariableGraph(names=["r.v", "h.v"], graph=np.array([[["", ""], ["", "-->"]], [["", ""], ["", "-->"]]]), tau_max=1)
        >>> g.agent_adjacency(["r", "h"]).tolist()
        [[0, 1], [0, 0]]
        """
        return self.as_graph().agent_adjacency(agents)[1]


def agent_adjacency(ids: Sequence[str], mechanisms: Sequence[Mechanism]) -> np.ndarray:
    """adj[a, b] = 1 when mechanism b reads (for its goal or velocity) a state of agent a (a != b).

    >>> from causalstream.models.sim.mechanisms import Distractor
    >>> agent_adjacency(["h1"], [Distractor("h1", np.random.default_rng(0), 0.1, 10.0)]).tolist()
    [[0]]
    """
    ids = list(ids)
    adj = np.zeros((len(ids), len(ids)), dtype=int)
    for mech in mechanisms:
        if mech.agent not in ids:  # a hidden driver: no agent of the graph
            continue
        b = ids.index(mech.agent)
        for read in mech.reads + mech.goal_reads:
            if read.agent in ids:
                a = ids.index(read.agent)
                adj[a, b] = int(a != b) | adj[a, b]
    return adj


def hidden_pairs(ids: Sequence[str], mechanisms: Sequence[Mechanism]) -> list[tuple[str, str]]:
    """Pairs (a, b), a before b in ``ids``, whose mechanisms both read one agent not in ``ids`` (a hidden driver).

    >>> from causalstream.models.sim.hidden import Companion
    >>> pair = [Companion(h, np.random.default_rng(0), 0.1, 10.0, group="g") for h in ("h1", "h2")]
    >>> hidden_pairs(["h1", "h2"], pair)
    [('h1', 'h2')]
    """
    ids = list(ids)
    hidden = {m.agent: {r.agent for r in m.reads + m.goal_reads} - set(ids) for m in mechanisms if m.agent in ids}
    return [(a, b) for k, a in enumerate(ids) for b in ids[k + 1:] if hidden.get(a, set()) & hidden.get(b, set())]


def split_parts(reads: Sequence[Read]) -> set[Read]:
    """Reads with each whole velocity split into its parts (speed and heading).

    >>> sorted(r.group for r in split_parts([Read("a", "vel", 1), Read("a", "pos", 1)]))
    ['heading', 'pos', 'speed']
    """
    out: set[Read] = set()
    for r in reads:
        parts = [g for g, whole in PARTS.items() if whole == r.group] or [r.group]
        out |= {Read(r.agent, g, r.lag) for g in parts}
    return out


def state_parents(mechanisms: Sequence[Mechanism],
                  observed: frozenset[tuple[str, str]] = frozenset()) -> dict[tuple[str, str], set[Read]]:
    """Parents of each state (agent, group), lag-0 parents unrolled into theirs.

    A lag-0 parent that is ``observed`` (a feature is exactly that state, as ``v`` is the
    speed) is not unrolled: the path through it is two links of the observed graph, not one.

    >>> from causalstream.models.sim.mechanisms import Distractor
    >>> p = state_parents([Distractor("h1", np.random.default_rng(0), 0.1, 10.0)])
    >>> sorted((r.group, r.lag) for r in p[("h1", "pos")])
    [('goal', 0), ('goal', 1), ('heading', 0), ('heading', 1), ('pos', 1), ('speed', 0), ('speed', 1)]
    """
    direct: dict[tuple[str, str], set[Read]] = {}
    for mech in mechanisms:
        # The goal is the mechanism's own memory: velocity steers toward this step's goal,
        # which is updated from the last one. Reads of other agents all go through Past.
        direct[(mech.agent, "speed")] = split_parts(mech.speed_reads)
        direct[(mech.agent, "heading")] = split_parts(mech.heading_reads)
        direct[(mech.agent, "goal")] = split_parts(mech.goal_reads) | {Read(mech.agent, "goal", 1)}
        direct[(mech.agent, "pos")] = {Read(mech.agent, r.group, r.lag) for r in KINEMATICS}
    out: dict[tuple[str, str], set[Read]] = {}
    for key, reads in direct.items():
        seen, todo = set(reads), [r for r in reads if r.lag == 0 and (r.agent, r.group) not in observed]
        while todo:
            r = todo.pop()
            for parent in direct[(r.agent, r.group)]:
                if parent not in seen:
                    seen.add(parent)
                    todo += [parent] if parent.lag == 0 and (parent.agent, parent.group) not in observed else []
        out[key] = seen
    return out


def _needs(spec: FeatureSpec, robot: str) -> tuple[list[str], list[set[tuple[str, str, int]]]]:
    """Each feature's name and the (agent, group, lag) states it reads."""
    names, needs = [], []
    for agent, var_names in [(robot, spec.robot_variables)] + [(h, spec.human_variables) for h in spec.slots]:
        for name in var_names:
            names.append(f"{'robot' if agent == robot else agent}.{name}")
            resolve = {"self": agent, "robot": robot}
            reads = [Read(resolve.get(n.who, n.who), n.group, n.lag) for n in variable(name).needs]
            needs.append({(r.agent, r.group, r.lag) for r in split_parts(reads)})
    return names, needs


def variable_graph(ids: Sequence[str], mechanisms: Sequence[Mechanism], spec: FeatureSpec,
                   tau_max: int = 2) -> VariableGraph:
    """The variable-level truth of ``spec``'s features under these mechanisms (see module doc).

    >>> from causalstream.models.sim.mechanisms import Distractor
    >>> spec = FeatureSpec(robot_variables=(), human_variables=("v", "d_goal"), humans=("h1",))
    >>> variable_graph(["h1"], [Distractor("h1", np.random.default_rng(0), 0.1, 10.0)], spec, 1).links()
    [('h1.v', 'h1.d_goal', 0), ('h1.v', 'h1.v', 1), ('h1.d_goal', 'h1.d_goal', 1)]
    """
    if spec.humans is None:
        raise ParameterError(what="ground truth", reason="slot specs (humans=None) change agents over time; name humans by id")
    robot = next((m.agent for m in mechanisms if m.role == "robot"), "robot")
    names, needs = _needs(spec, robot)
    observed = frozenset((a, g) for need in needs if len(need) == 1 for a, g, lag in need if lag == 0 and g in WHOLE)
    parents = state_parents(mechanisms, observed)
    graph = np.full((len(names), len(names), tau_max + 1), "", dtype="<U3")
    for j, target in enumerate(needs):
        # Parents of the states feature j is made of, as (agent, group, lag behind time t of j).
        behind = {(p.agent, p.group, lag_j + p.lag)
                  for agent, group, lag_j in target for p in parents.get((agent, group), set())}
        for i, source in enumerate(needs):
            for tau in range(tau_max + 1):
                if tau == 0 and i == j:
                    continue
                if all((a, g, tau + lag_i) in behind for a, g, lag_i in source):
                    graph[i, j, tau] = "-->"
    lag0 = graph[:, :, 0] == "-->"
    graph[:, :, 0] = np.where(lag0 & lag0.T, "o-o", np.where(lag0, "-->", np.where(lag0.T, "<--", "")))
    _mark_hidden(graph, needs, parents, {m.agent for m in mechanisms if m.hidden})
    return VariableGraph(names=names, graph=graph, tau_max=tau_max)


def _mark_hidden(graph: np.ndarray, needs: list[set[tuple[str, str, int]]],
                 parents: dict[tuple[str, str], set[Read]], hidden: set[str]) -> None:
    """``<->`` where two features share a hidden direct parent (see module doc), in place."""
    if not hidden:
        return
    memory = {key for key, ps in parents.items() if key[0] in hidden and any(p.agent == key[0] and p.lag for p in ps)}
    drivers = [{(p.agent, p.group, lag + p.lag) for agent, group, lag in need for p in parents.get((agent, group), set())
                if p.agent in hidden} for need in needs]
    for j, into_j in enumerate(drivers):
        for i, into_i in enumerate(drivers):
            for tau in range(graph.shape[2]):
                if (tau == 0 and i >= j) or graph[i, j, tau] or (tau == 0 and graph[j, i, 0]):
                    continue
                if {(a, g, lag + tau) for a, g, lag in needs[i]} & needs[j]:  # made of one state: a definition
                    continue
                shared = any((a, g) in memory or (a, g, lag + tau) in into_j
                             for a, g, lag in into_i for a2, g2, _ in into_j if (a, g) == (a2, g2))
                if shared:
                    graph[i, j, tau] = "<->"
                    if tau == 0:
                        graph[j, i, 0] = "<->"
