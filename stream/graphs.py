"""Reading CausalGraph messages: agent-level adjacency and graph differences.

Variables are named ``agent.variable``; a link from any variable of agent a to any
variable of agent b (at any lag, a != b) means a -> b at the agent level.

>>> import numpy as np
>>> from causalstream.stream.messages import CausalGraph
>>> marks = np.full((3, 3, 2), "", dtype=object)
>>> marks[0, 2, 1] = "-->"
>>> g = CausalGraph(names=["robot.v", "h1.v", "h2.v"], tau_max=1, graph=marks.tolist(),
...                 val=np.zeros((3, 3, 2)), p=np.ones((3, 3, 2)))
>>> agents, adj = agent_adjacency(g)
>>> agents, adj.tolist()
(['robot', 'h1', 'h2'], [[0, 0, 1], [0, 0, 0], [0, 0, 0]])
"""

from __future__ import annotations

import numpy as np

from causalstream.stream.messages import CausalGraph

__all__ = ["agent_of", "agent_adjacency", "cross_links"]


def agent_of(name: str) -> str:
    """The agent part of ``agent.variable`` (the whole name if there is no dot).

    >>> agent_of("h3.d_goal"), agent_of("temperature")
    ('h3', 'temperature')
    """
    return name.split(".", 1)[0]


def agent_adjacency(graph: CausalGraph, directed_only: bool = True) -> tuple[list[str], np.ndarray]:
    """Agents (in order of first appearance) and adj[a, b] = 1 where a drives b.

    Only ``-->`` marks count when ``directed_only``; otherwise any mark (``o-o``, ``x-x``)
    links both ways.

    >>> g = CausalGraph(names=["a.x"], tau_max=0, graph=[[[""]]], val=np.zeros((1, 1, 1)), p=np.ones((1, 1, 1)))
    >>> agent_adjacency(g)[1].tolist()
    [[0]]
    """
    agents: list[str] = []
    for n in graph.names:
        if agent_of(n) not in agents:
            agents.append(agent_of(n))
    index = {a: k for k, a in enumerate(agents)}
    adj = np.zeros((len(agents), len(agents)), dtype=np.int64)
    for src, dst, _lag, mark in graph.links():
        a, b = index[agent_of(src)], index[agent_of(dst)]
        if a == b:
            continue
        if mark == "-->":
            adj[a, b] = 1
        elif mark == "<--":
            adj[b, a] = 1
        elif not directed_only:
            adj[a, b] = adj[b, a] = 1
    return agents, adj


def cross_links(graph: CausalGraph) -> set[tuple[str, str]]:
    """Directed agent pairs (a, b), a != b, that the graph links.

    >>> g = CausalGraph(names=["a.x", "b.x"], tau_max=1, graph=[[["", ""], ["", "-->"]], [["", ""], ["", ""]]],
    ...                 val=np.zeros((2, 2, 2)), p=np.ones((2, 2, 2)))
    >>> cross_links(g)
    {('a', 'b')}
    """
    agents, adj = agent_adjacency(graph)
    return {(agents[i], agents[j]) for i, j in zip(*np.nonzero(adj))}
