"""The lagged causal graph, in one place: its arrays, its links, its agents and its changes.

A :class:`LaggedGraph` holds tigramite's arrays over named variables: ``marks[i, j, tau]``
is ``"-->"`` when names[i] at lag tau drives names[j] and ``""`` for no link; PCMCI+ also
marks lag-0 pairs ``o-o`` and ``x-x``, and writes ``<--`` at [j, i, 0] for a lag-0 ``-->``
at [i, j, 0]. ``val``, ``p`` and ``stability`` have the same shape [N, N, tau_max + 1].
It converts from and to tigramite's results dict; the CausalGraph message converts in
``causalstream.nodes.graph_msg`` (models never import the bus).

Counting links: a lagged entry is one link. A lag-0 pair i - j is one link, written from
the lower index (``links(mirrors=False)``, what :func:`diff_graphs` and the SHD count);
``links()`` lists every non-empty entry, mirrors included, as the message's ``links()``.
A link whose mark changes counts once in ``removed`` (old mark), once in ``added`` (new
mark), and once in the structural Hamming distance.

LPCMCI's PAG marks (:data:`MARKS` says each in words): ``<->`` a hidden common cause, ``o->``
i causes j or they share a hidden cause, ``o-o`` undecided, ``x-x`` conflicting orientations.

Statuses: ``status`` [N, N, tau_max + 1] holds each link's status name (``results()``'s
``link_status``: "tested", "deterministic", "insufficient", "assumed", "untested"; "" where
unknown), ``n_eff`` the rows its last test used.

Agents: variables are named ``agent.variable``; a ``-->`` from any variable of agent a to
any variable of agent b (at any lag, a != b) means a -> b. Only ``-->`` counts (the
predictor's prior): ``o-o``, ``x-x``, ``o->`` and ``<->`` (a hidden cause, :meth:`LaggedGraph.hidden_causes`)
link no agents, and neither does a deterministic link (a function, not a finding).

>>> marks = np.full((3, 3, 2), "", dtype="<U3"); marks[0, 2, 1] = "-->"
>>> g = LaggedGraph(["robot.v", "h1.v", "h2.v"], marks)
>>> g.links(), g.agent_adjacency()[1].tolist(), g.cross_links()
([('robot.v', 'h2.v', 1, '-->')], [[0, 0, 1], [0, 0, 0], [0, 0, 0]], {('robot', 'h2')})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from causalstream.models.errors import ParameterError

__all__ = ["MARKS", "GraphDiff", "LaggedGraph", "LinkTuple", "agent_of", "diff_graphs", "legend", "links_of"]

LinkTuple = tuple[str, str, int, str]
"""(source, target, lag, mark)."""

MARKS = {
    "-->": "i causes j",
    "<--": "j causes i (a lag-0 mirror)",
    "<->": "hidden common cause",
    "o->": "i causes j or they share a hidden cause",
    "<-o": "j causes i or they share a hidden cause",
    "o-o": "adjacent, direction undecided (either way, or a hidden cause)",
    "x-x": "conflict: the orientation rules disagree",
    "x->": "i causes j; conflict at i",
    "<-x": "j causes i; conflict at i",
}
"""Each mark of tigramite's graphs (PCMCI, PCMCI+, LPCMCI's PAG) in words, for i at lag tau and j."""

PAG_MARKS = ("<->", "o->", "<-o", "o-o", "x-x", "x->", "<-x")
"""The marks a reader may not know: :func:`legend` explains them when a graph has any."""


def legend(marks: np.ndarray) -> list[tuple[str, str]]:
    """(mark, meaning) of every mark in ``marks`` beyond ``-->`` / ``<--``, in :data:`PAG_MARKS` order.

    >>> m = np.array([[["", "<->"]], [["o->", "-->"]]])
    >>> legend(m)
    [('<->', 'hidden common cause'), ('o->', 'i causes j or they share a hidden cause')]
    """
    present = {str(m) for m in np.unique(np.asarray(marks))}
    return [(m, MARKS[m]) for m in PAG_MARKS if m in present]


def agent_of(name: str) -> str:
    """The agent part of ``agent.variable`` (the whole name if there is no dot).

    >>> agent_of("h3.d_goal"), agent_of("temperature")
    ('h3', 'temperature')
    """
    return name.split(".", 1)[0]


def links_of(marks: np.ndarray, var_names: Sequence[str] | None = None, mirrors: bool = False) -> set[LinkTuple]:
    """Every link of a string graph; lag-0 pairs once, from the lower index, unless ``mirrors``.

    >>> g = np.zeros((2, 2, 2), dtype="<U3"); g[0, 1, 1] = "-->"; g[0, 1, 0] = "o-o"; g[1, 0, 0] = "o-o"
    >>> sorted(links_of(g, ["a", "b"]))
    [('a', 'b', 0, 'o-o'), ('a', 'b', 1, '-->')]
    >>> len(links_of(g, ["a", "b"], mirrors=True))
    3
    """
    marks = np.asarray(marks)
    names = list(var_names) if var_names is not None else [str(i) for i in range(marks.shape[0])]
    return {(names[i], names[j], int(tau), str(marks[i, j, tau]))
            for i, j, tau in zip(*np.nonzero(marks != ""))
            if mirrors or tau != 0 or i < j}


@dataclass(frozen=True)
class GraphDiff:
    """Links added and removed (source, target, lag, mark) and the structural Hamming distance.

    >>> GraphDiff().shd, GraphDiff().changed
    (0, False)
    """

    added: list[LinkTuple] = field(default_factory=list)
    removed: list[LinkTuple] = field(default_factory=list)
    shd: int = 0

    @property
    def changed(self) -> bool:
        """True when any link differs.

        >>> GraphDiff(shd=1).changed
        True
        """
        return self.shd > 0


def diff_graphs(previous: np.ndarray | None, current: np.ndarray,
                var_names: Sequence[str] | None = None) -> GraphDiff:
    """Links added and removed from ``previous`` to ``current`` marks and their SHD (None: all added).

    >>> a = np.zeros((2, 2, 2), dtype="<U3"); b = a.copy(); b[0, 1, 1] = "-->"
    >>> d = diff_graphs(a, b, ["x", "y"]); d.added, d.removed, d.shd
    ([('x', 'y', 1, '-->')], [], 1)
    """
    if previous is None:
        new = links_of(current, var_names)
        return GraphDiff(added=sorted(new), removed=[], shd=len(new))
    if np.shape(previous) != np.shape(current):
        raise ParameterError("diff_graphs", f"graph shapes differ: {np.shape(previous)} vs {np.shape(current)}")
    changed = np.asarray(previous) != np.asarray(current)
    if not changed.any():
        return GraphDiff()
    # the links where the marks are equal are in both graphs: only the changed places count
    new = links_of(np.where(changed, current, ""), var_names)
    old = links_of(np.where(changed, previous, ""), var_names)
    added, removed = sorted(new - old), sorted(old - new)
    places = {(s, t, lag) for s, t, lag, _ in added} | {(s, t, lag) for s, t, lag, _ in removed}
    return GraphDiff(added=added, removed=removed, shd=len(places))


def _array(value: Any, shape: tuple[int, ...], what: str, fill: float) -> np.ndarray:
    arr = np.full(shape, fill) if value is None else np.asarray(value, dtype=np.float64)
    if arr.shape != shape:
        raise ParameterError("LaggedGraph", f"{what} has shape {arr.shape}, want {shape}")
    return arr


def _unpickle(names: list[str], marks: list[str], mark_codes: np.ndarray, val: np.ndarray, p: np.ndarray,
              stability: np.ndarray, tau_min: int, status: list[str], status_codes: np.ndarray,
              n_eff: np.ndarray) -> LaggedGraph:
    return LaggedGraph(names, np.asarray(marks, dtype="<U3")[mark_codes], val, p, stability, tau_min,
                       np.asarray(status, dtype="<U13")[status_codes], n_eff)


@dataclass(frozen=True)
class LaggedGraph:
    """Names, marks (a ``<U3`` ndarray [N, N, tau_max + 1]), val, p, stability and statuses of one graph.

    ``val`` defaults to 0, ``p`` to 1 (untested), ``stability`` to 0 (float64); ``status`` to ""
    (unknown; ``<U13`` names), ``n_eff`` to 0 (int64).

    >>> g = LaggedGraph(["a", "b"], np.zeros((2, 2, 3), dtype="<U3"))
    >>> g.tau_max, g.marks.dtype, float(g.p[0, 1, 2])
    (2, dtype('<U3'), 1.0)
    >>> LaggedGraph(["a"], np.zeros((2, 2, 1), dtype="<U3"))
    Traceback (most recent call last):
    ...
    causalstream.models.errors.ParameterError: LaggedGraph: marks have shape (2, 2, 1), want (1, 1, tau_max + 1)
    """

    names: list[str]
    marks: np.ndarray
    val: np.ndarray = None  # type: ignore[assignment]  # filled in __post_init__
    p: np.ndarray = None  # type: ignore[assignment]
    stability: np.ndarray = None  # type: ignore[assignment]
    tau_min: int = 0
    status: np.ndarray = None  # type: ignore[assignment]
    n_eff: np.ndarray = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        n = len(self.names)
        marks = np.asarray(self.marks, dtype="<U3")
        if marks.ndim != 3 or marks.shape[:2] != (n, n) or marks.shape[2] < 1:
            raise ParameterError("LaggedGraph", f"marks have shape {marks.shape}, want ({n}, {n}, tau_max + 1)")
        set_ = object.__setattr__  # frozen: the normalised arrays are set once, here
        set_(self, "names", list(self.names))
        set_(self, "marks", marks)
        set_(self, "val", _array(self.val, marks.shape, "val", 0.0))
        set_(self, "p", _array(self.p, marks.shape, "p", 1.0))
        set_(self, "stability", _array(self.stability, marks.shape, "stability", 0.0))
        status = np.full(marks.shape, "", dtype="<U13") if self.status is None else np.asarray(self.status, dtype="<U13")
        n_eff = np.zeros(marks.shape, dtype=np.int64) if self.n_eff is None else np.asarray(self.n_eff, dtype=np.int64)
        for what, arr in (("status", status), ("n_eff", n_eff)):
            if arr.shape != marks.shape:
                raise ParameterError("LaggedGraph", f"{what} has shape {arr.shape}, want {marks.shape}")
        set_(self, "status", status)
        set_(self, "n_eff", n_eff)

    def __reduce__(self) -> tuple[Any, tuple]:
        """Pickled with marks and statuses as codes into their few distinct names (a Dask worker's
        window graphs go to the client: 39 -> 11 kB a window at N=8, tau_max 3).

        >>> import pickle
        >>> g = LaggedGraph(["a"], np.array([[["", "-->"]]]), status=np.array([[["", "tested"]]]))
        >>> h = pickle.loads(pickle.dumps(g)); h.marks.tolist(), h.status.tolist(), h.status.dtype
        ([[['', '-->']]], [[['', 'tested']]], dtype('<U13'))
        """
        marks, mark_codes = np.unique(self.marks, return_inverse=True)
        status, status_codes = np.unique(self.status, return_inverse=True)
        return _unpickle, (self.names, marks.tolist(), mark_codes.astype(np.min_scalar_type(len(marks))).reshape(self.marks.shape),
                           self.val, self.p, self.stability, self.tau_min, status.tolist(),
                           status_codes.astype(np.min_scalar_type(len(status))).reshape(self.status.shape), self.n_eff)

    @property
    def tau_max(self) -> int:
        """The largest lag the arrays hold.

        >>> LaggedGraph(["a"], np.zeros((1, 1, 2), dtype="<U3")).tau_max
        1
        """
        return self.marks.shape[2] - 1

    @classmethod
    def from_results(cls, results: Mapping[str, Any], names: Sequence[str] | None = None,
                     stability: np.ndarray | None = None) -> LaggedGraph:
        """From tigramite's results dict (``graph``, ``val_matrix``, ``p_matrix``; WindowedPCMCI's too).

        Names: ``names``, else the dict's ``var_names``, else "0", "1", ...; ``link_status`` and
        ``n_eff`` when the dict has them (WindowedPCMCI's).

        >>> r = {"graph": np.array([[["", "-->"]]]), "val_matrix": np.full((1, 1, 2), 0.5),
        ...      "p_matrix": np.zeros((1, 1, 2)), "var_names": ["x"], "tau_min": 1}
        >>> g = LaggedGraph.from_results(r); g.links(), g.tau_min
        ([('x', 'x', 1, '-->')], 1)
        """
        marks = np.asarray(results["graph"], dtype="<U3")
        if names is None:
            names = results.get("var_names")
        if names is None:
            names = [str(i) for i in range(marks.shape[0])]
        return cls(list(names), marks, results.get("val_matrix"), results.get("p_matrix"), stability,
                   tau_min=int(results.get("tau_min", 0)),
                   status=results.get("link_status"),  # pyright: ignore[reportArgumentType]  # None: filled
                   n_eff=results.get("n_eff"))  # pyright: ignore[reportArgumentType]

    def to_results(self) -> dict[str, Any]:
        """Tigramite's keys (``graph``, ``val_matrix``, ``p_matrix``) plus var_names, tau_min, tau_max.

        >>> sorted(LaggedGraph(["a"], np.zeros((1, 1, 1), dtype="<U3")).to_results())
        ['graph', 'p_matrix', 'tau_max', 'tau_min', 'val_matrix', 'var_names']
        """
        return {"graph": self.marks.copy(), "val_matrix": self.val.copy(), "p_matrix": self.p.copy(),
                "var_names": list(self.names), "tau_min": self.tau_min, "tau_max": self.tau_max}

    def links(self, mirrors: bool = True) -> list[LinkTuple]:
        """(source, target, lag, mark) of every non-empty entry, sorted; ``mirrors=False``: lag-0 pairs once.

        >>> m = np.zeros((2, 2, 1), dtype="<U3"); m[0, 1, 0], m[1, 0, 0] = "-->", "<--"
        >>> LaggedGraph(["a", "b"], m).links(), LaggedGraph(["a", "b"], m).links(mirrors=False)
        ([('a', 'b', 0, '-->'), ('b', 'a', 0, '<--')], [('a', 'b', 0, '-->')])
        """
        return sorted(links_of(self.marks, self.names, mirrors=mirrors))

    def diff(self, previous: LaggedGraph | None) -> GraphDiff:
        """What changed from ``previous`` (None: every link is added) to this graph.

        >>> m = np.zeros((2, 2, 2), dtype="<U3"); m[1, 0, 1] = "-->"
        >>> LaggedGraph(["a", "b"], m).diff(None).added
        [('b', 'a', 1, '-->')]
        """
        return diff_graphs(None if previous is None else previous.marks, self.marks, self.names)

    def agents(self) -> list[str]:
        """The agents of the names, in order of first appearance.

        >>> LaggedGraph(["r.v", "h.v", "r.a"], np.zeros((3, 3, 1), dtype="<U3")).agents()
        ['r', 'h']
        """
        return list(dict.fromkeys(agent_of(n) for n in self.names))

    def agent_adjacency(self, agents: Sequence[str] | None = None) -> tuple[list[str], np.ndarray]:
        """``agents`` (default :meth:`agents`) and adj[a, b] = 1 where a ``-->`` goes from a to b, a != b.

        A lag-0 ``<--`` at [i, j] counts as the ``-->`` from j to i it mirrors. Only ``-->``:
        ``<->``, ``o->``, ``o-o``, ``x-x`` count for nothing, nor does a link whose status is
        "deterministic".

        An agent the graph does not name has no links; one of the graph's agents missing from
        ``agents`` is a ParameterError.

        >>> m = np.zeros((2, 2, 2), dtype="<U3"); m[0, 1, 1] = "-->"; m[1, 1, 1] = "-->"
        >>> LaggedGraph(["r.v", "h.v"], m).agent_adjacency(["h", "r", "x"])[1].tolist()
        [[0, 0, 0], [1, 0, 0], [0, 0, 0]]
        >>> st = np.full(m.shape, "tested", dtype="<U13"); st[0, 1, 1] = "deterministic"
        >>> int(LaggedGraph(["r.v", "h.v"], m, status=st).agent_adjacency()[1].sum())
        0
        """
        agents = self.agents() if agents is None else list(agents)
        index = {a: k for k, a in enumerate(agents)}
        missing = sorted({agent_of(n) for n in self.names} - set(index))
        if missing:
            raise ParameterError("agent_adjacency", f"the graph names agents {missing} not in {agents}")
        of = np.array([index[agent_of(n)] for n in self.names], dtype=np.intp)
        adj = np.zeros((len(agents), len(agents)), dtype=np.int64)
        finding = self.status != "deterministic"
        i, j, _ = np.nonzero((self.marks == "-->") & finding)
        adj[of[i], of[j]] = 1
        i, j, _ = np.nonzero((self.marks == "<--") & finding)  # a lag-0 mirror: j drives i
        adj[of[j], of[i]] = 1
        np.fill_diagonal(adj, 0)
        return agents, adj

    def cross_links(self) -> set[tuple[str, str]]:
        """Directed agent pairs (a, b), a != b, that the graph links.

        >>> m = np.zeros((2, 2, 2), dtype="<U3"); m[0, 1, 1] = "-->"
        >>> LaggedGraph(["a.x", "b.x"], m).cross_links()
        {('a', 'b')}
        """
        agents, adj = self.agent_adjacency()
        return {(agents[i], agents[j]) for i, j in zip(*np.nonzero(adj))}

    def hidden_causes(self) -> list[LinkTuple]:
        """The ``<->`` links between variables of two different agents (lag-0 pairs once), sorted.

        >>> m = np.full((3, 3, 2), "", dtype="<U3"); m[0, 1, 0] = m[1, 0, 0] = m[1, 2, 0] = m[2, 1, 0] = "<->"
        >>> LaggedGraph(["r.v", "h1.v", "h1.a"], m).hidden_causes()
        [('r.v', 'h1.v', 0, '<->')]
        """
        return [link for link in self.links(mirrors=False)
                if link[3] == "<->" and agent_of(link[0]) != agent_of(link[1])]

    def with_status(self, status: str) -> list[LinkTuple]:
        """The links (lag-0 pairs once) whose status is ``status``, sorted.

        >>> m = np.full((2, 2, 2), "", dtype="<U3"); m[0, 1, 1] = m[1, 1, 1] = "-->"
        >>> st = np.full(m.shape, "tested", dtype="<U13"); st[0, 1, 1] = "deterministic"
        >>> LaggedGraph(["a", "b"], m, status=st).with_status("deterministic")
        [('a', 'b', 1, '-->')]
        """
        return [link for link in self.links(mirrors=False)
                if self.status[self.names.index(link[0]), self.names.index(link[1]), link[2]] == status]

    def lacking(self) -> list[str]:
        """The variables the window lacks data for: those whose every testable link is "insufficient".

        When no variable is wholly insufficient, those in any insufficient link (a conditioning
        set too wide for the rows, say); [] when no link is insufficient.

        >>> st = np.full((2, 2, 2), "tested", dtype="<U13"); st[1, :, :] = st[:, 1, :] = "insufficient"
        >>> LaggedGraph(["a", "b"], np.full((2, 2, 2), "", dtype="<U3"), status=st).lacking()
        ['b']
        """
        status = self.status
        short = status == "insufficient"
        if not short.any():
            return []
        testable = (status != "untested") & (status != "assumed") & (status != "")
        rows = [(n, np.r_[testable[k].ravel(), testable[:, k].ravel()], np.r_[short[k].ravel(), short[:, k].ravel()])
                for k, n in enumerate(self.names)]
        whole = [n for n, t, s in rows if t.any() and not (t & ~s).any()]
        return whole or [n for n, _, s in rows if s.any()]

    def stable(self, share: float) -> LaggedGraph:
        """This graph with only the links held by at least ``share`` of recent graphs (``stability``).

        >>> m = np.full((1, 1, 2), "-->", dtype="<U3")
        >>> LaggedGraph(["a"], m, stability=np.array([[[0.0, 0.6]]])).stable(0.5).links()
        [('a', 'a', 1, '-->')]
        """
        marks = np.where(self.stability >= share, self.marks, "")
        return LaggedGraph(self.names, marks, self.val, self.p, self.stability, self.tau_min, self.status, self.n_eff)
