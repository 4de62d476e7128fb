"""tigramite's LPCMCI with its graph reads and searches replaced by equal, faster ones.

tigramite's orientation rules find their triples and quadruples through a numpy string
array of the graph, rebuilt for every search, and read links one ``_get_link`` at a time.
:class:`GraphSearchLPCMCI` keeps each graph_dict's links as lists (:class:`_Adjacency`, once
per graph), searches triples on them, keeps the triples and quadruples found per graph (keyed
by graph_dict's link strings, across refreshes too), and reads and reverses links with a
subtraction and a dict. Every answer is tigramite's, in its order
(tests/test_causal_lpcmci_graph.py pins them against tigramite's own methods).

>>> from causalstream.models.causal.lpcmci import CovarianceLPCMCI
>>> lp = CovarianceLPCMCI(3, 1); lp.tau_max = 1
>>> lp.graph_dict = {0: {(1, 0): "-->"}, 1: {(0, 0): "<--", (2, 0): "<--"}, 2: {(1, 0): "-->"}}
>>> isinstance(lp, GraphSearchLPCMCI), lp._find_triples("*-*", "*-*", "")
(True, [((0, 0), (1, 0), (2, 0)), ((2, 0), (1, 0), (0, 0))])
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from tigramite.lpcmci import LPCMCI

__all__ = ["GraphSearchLPCMCI"]

_MAX_FOUND = 2000  # (graph, patterns) searches kept (GraphSearchLPCMCI._found; ~150 a refresh), then started afresh
_MAX_GRAPHS = 200  # graphs' link lists kept (GraphSearchLPCMCI._graphs, a few kB each at N=8), then started afresh
_REVERSED: dict[str, str] = {}  # link -> tigramite's _reverse_link of it
_MATCHES: dict[tuple[str, str], bool] = {}  # (pattern, link) -> tigramite's _match_link: a pure function of both
_MATCHERS: dict[str, _Matcher] = {}  # pattern -> its links' _match_link (GraphSearchLPCMCI._matching)
_MAX_ROWS = 4_000   # rows of links (and what is kept per row) before starting afresh: larger made long runs slower (GC)
_ROWS: dict[tuple, int] = {}   # a node's links (out, in) -> its number
_ROW_IDS = itertools.count()   # numbers never reused: a row forgotten is a miss, not another row's answer
_AT_ZERO: dict[tuple[int, str], list[tuple[int, int]]] = {}  # (row number, pattern) -> _adjacent_at_zero's answer
_STEPS: dict[tuple, list[tuple]] = {}  # (row number, node, pattern, lag, tau_max) -> GraphSearchLPCMCI._steps' answer
_LINKED: dict[tuple, frozenset] = {}   # (row number, node, pattern, tau_max, N) -> GraphSearchLPCMCI._linked_as' answer


class GraphSearchLPCMCI(LPCMCI):
    """tigramite's LPCMCI whose graph searches (triples, quadruples, adjacencies, links) are ours.

    >>> from causalstream.models.causal.lpcmci import CovarianceLPCMCI
    >>> CovarianceLPCMCI(2, 1)._found
    {}
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._layout: tuple = ()
        self._found: dict[tuple, tuple] = {}
        self._graphs: dict[tuple, _Adjacency] = {}

    def _initialize_run_memory(self) -> bool:
        """tigramite's ``_initialize_run_memory``; the found triples kept while graph_dict's layout stays.

        The triples and quadruples of a graph are a function of its links alone: they are kept,
        across refreshes too, keyed by graph_dict's link strings, while its keys (and N,
        tau_max) are those they were found with.

        >>> from causalstream.models.causal.lpcmci import CovarianceLPCMCI
        >>> lp = CovarianceLPCMCI(2, 1); lp.tau_max, lp.tau_min, lp.max_cond_px = 1, 0, 0
        >>> lp.update_middle_marks, lp.link_assumptions = True, None
        >>> lp._initialize_run_memory(), lp.graph_dict[1]
        (True, {(0, 0): 'o?o', (0, -1): 'oL>', (1, -1): 'oL>'})
        """
        out = super()._initialize_run_memory()
        layout = (self.N, self.tau_max, tuple(tuple(d) for d in self.graph_dict.values()))
        if layout != self._layout:
            self._layout, self._found, self._graphs = layout, {}, {}
        return out

    def _graph_key(self) -> tuple:
        return tuple([link for links in self.graph_dict.values() for link in links.values()])

    def _remember(self, key: tuple, found: list) -> tuple:
        if len(self._found) > _MAX_FOUND:
            self._found.clear()
        self._found[key] = tuple(found)
        return self._found[key]

    def _get_link(self, A: tuple[int, int], B: tuple[int, int]) -> str:
        """tigramite's ``_get_link``: the link from node A to node B ('' beyond tau_max), reversals from memory.

        >>> from causalstream.models.causal.lpcmci import CovarianceLPCMCI
        >>> lp = CovarianceLPCMCI(2, 1); lp.tau_max = 1; lp.graph_dict = {0: {}, 1: {(0, -1): "o->"}}
        >>> lp._get_link((0, -1), (1, 0)), lp._get_link((1, 0), (0, -1)), lp._get_link((1, 0), (0, -2))
        ('o->', '<-o', '')
        """
        lag = A[1] - B[1]
        if lag > self.tau_max or -lag > self.tau_max:
            return ""
        if lag <= 0:
            return self.graph_dict[B[0]][(A[0], lag)]
        return self._reverse_link(self.graph_dict[A[0]][(B[0], -lag)])

    def _reverse_link(self, link: str) -> str:
        """tigramite's ``_reverse_link`` (``<`` and ``>`` swapped, the ends exchanged), each link's once.

        >>> from causalstream.models.causal.lpcmci import CovarianceLPCMCI
        >>> CovarianceLPCMCI(1, 1)._reverse_link("<-x"), CovarianceLPCMCI(1, 1)._reverse_link("")
        ('x->', '')
        """
        got = _REVERSED.get(link)
        if got is None:
            got = _REVERSED[link] = str(super()._reverse_link(link))
        return got

    def _dict2graph(self) -> np.ndarray:
        """tigramite's graph array of ``graph_dict``; its non-empty links per node kept beside it for ``_find_adj``.

        >>> from causalstream.models.causal.lpcmci import CovarianceLPCMCI
        >>> lp = CovarianceLPCMCI(2, 1); lp.tau_max = 1; lp.graph_dict = {0: {(1, -1): "o->"}, 1: {}}
        >>> lp._dict2graph()[1, 0, 1], lp._links[1][1]
        (np.str_('o->'), [(0, 1, 'o->')])
        """
        graph = super()._dict2graph()
        g = graph.tolist()
        n, lags = range(graph.shape[0]), range(graph.shape[2])
        self._links = (graph, [[(k, lag, g[i][k][lag]) for k in n for lag in lags if g[i][k][lag]] for i in n],
                       [[(k, lag, g[k][i][lag]) for k in n for lag in lags if g[k][i][lag]] for i in n])
        return graph

    def _matches(self, pattern: str, link: str) -> bool:
        key = (pattern, link)
        if key not in _MATCHES:
            _MATCHES[key] = bool(self._match_link(pattern, link))
        return _MATCHES[key]

    def _find_adj(self, graph: np.ndarray, node: tuple[int, int], patterns: Any, exclude: Any = None,
                  ignore_time_bounds: bool = True) -> list[tuple[int, int]]:
        """tigramite's ``_find_adj``: the adjacencies of ``node`` matching ``patterns``, in its order.

        >>> from causalstream.models.causal.lpcmci import CovarianceLPCMCI
        >>> lp = CovarianceLPCMCI(2, 1); lp.tau_max = 1
        >>> g = np.array([[["", "-->"], ["o->", ""]], [["<->", ""], ["", ""]]], dtype="U3")
        >>> lp._find_adj(g, (0, 0), "*->")
        [(0, 1), (1, 0)]
        """
        i, lag_i = node
        exclude = [] if exclude is None else exclude
        if type(patterns) is str:  # tigramite's test (a numpy string is iterated, as there)
            patterns = [patterns]
        if getattr(self, "_links", (None,))[0] is not graph:  # not from _dict2graph: list its links here
            g = graph.tolist()
            n, lags = range(graph.shape[0]), range(graph.shape[2])
            out = [(k, lag, g[i][k][lag]) for k in n for lag in lags if g[i][k][lag]]
            into = [(k, lag, g[k][i][lag]) for k in n for lag in lags if g[k][i][lag]]
        else:
            out, into = self._links[1][i], self._links[2][i]
        adj: list[tuple[int, int]] = []
        for forward, links, pats in ((1, out, patterns), (-1, into, [self._reverse_link(p) for p in patterns])):
            for k, lag, link in links:
                if not any(self._matches(p, link) for p in pats):
                    continue
                match = (k, lag_i + forward * lag)
                if match not in adj and match not in exclude and (
                        ignore_time_bounds or -self.tau_max <= match[1] <= 0):
                    adj.append(match)
        return adj

    def _find_triples(self, pattern_ij: str, pattern_jk: str, pattern_ik: str) -> list[tuple]:
        """tigramite's ``_find_triples`` (:meth:`_triples`), found once per graph and patterns.

        >>> from causalstream.models.causal.lpcmci import CovarianceLPCMCI
        >>> lp = CovarianceLPCMCI(3, 1); lp.tau_max = 1
        >>> lp.graph_dict = {0: {(1, 0): "-->"}, 1: {(0, 0): "<--", (2, 0): "<--"}, 2: {(1, 0): "-->"}}
        >>> lp._find_triples("*-*", "*-*", "") == lp._find_triples("*-*", "*-*", "") == lp._triples("*-*", "*-*", "")
        True
        """
        graph = self._graph_key()
        key = (graph, pattern_ij, pattern_jk, pattern_ik)
        found = self._found.get(key)
        if found is None:
            found = self._remember(key, self._triples(pattern_ij, pattern_jk, pattern_ik, graph))
        return list(found)

    def _adjacency(self, key: tuple | None = None) -> _Adjacency:
        """graph_dict's links as lists (:class:`_Adjacency`), built once per graph.

        >>> from causalstream.models.causal.lpcmci import CovarianceLPCMCI
        >>> lp = CovarianceLPCMCI(2, 1); lp.tau_max = 1; lp.graph_dict = {0: {(1, -1): "o->"}, 1: {}}
        >>> lp._adjacency().g[1][0], lp._adjacency().out[1]
        (['', 'o->'], [(0, 1, 'o->')])
        """
        key = self._graph_key() if key is None else key
        adj = self._graphs.get(key)
        if adj is None:
            if len(self._graphs) > _MAX_GRAPHS:
                self._graphs.clear()
            adj = self._graphs[key] = _Adjacency(self.graph_dict, self.N, self.tau_max + 1)
        return adj

    def _matching(self, pattern: str) -> _Matcher:
        """tigramite's ``_match_link(pattern, link)`` for every link, as a dict of links (filled as they come).

        >>> from causalstream.models.causal.lpcmci import CovarianceLPCMCI
        >>> m = CovarianceLPCMCI(1, 1)._matching("o*>"); m["o->"], m["<->"], m[""]
        (True, False, False)
        """
        found = _MATCHERS.get(pattern)
        if found is None:
            found = _MATCHERS[pattern] = _Matcher(pattern, LPCMCI._match_link)
        return found

    def _adjacent_at_zero(self, adj: _Adjacency, j: int, pattern: str) -> list[tuple[int, int]]:
        """tigramite's ``_find_adj(graph, (j, 0), pattern)`` on ``adj``, found once per pattern and links of j.

        The answer reads only j's links (out and in): it is kept for each distinct such row,
        across graphs and refreshes (a rule's write changes one or two rows of a graph).
        """
        key = (adj.rows[j], pattern)
        found = _AT_ZERO.get(key)
        if found is None:
            found = []
            ok, back = self._matching(pattern), self._matching(self._reverse_link(pattern))
            for k, lag, link in adj.out[j]:
                if ok[link] and (k, lag) not in found:
                    found.append((k, lag))
            for k, lag, link in adj.into[j]:
                if back[link] and (k, -lag) not in found:
                    found.append((k, -lag))
            if len(_AT_ZERO) > _MAX_ROWS:
                _AT_ZERO.clear()
            _AT_ZERO[key] = found
        return found

    def _triples(self, pattern_ij: str, pattern_jk: str, pattern_ik: str, graph: tuple | None = None) -> list[tuple]:
        """tigramite's ``_find_triples``, each node's adjacencies found once (at lag 0, then shifted).

        With time bounds ignored, the adjacencies of (j, lag) are those of (j, 0) shifted by
        lag, in the same order; an excluded node is skipped where tigramite skips it. What a
        node's part of the search reads (its adjacencies by pattern, its steps on, the nodes
        linked to it as pattern_ik asks) is kept per row of its links, across graphs: a rule's
        write changes one or two rows. ``graph``: graph_dict's key (its link strings) when the
        caller has it.

        >>> from causalstream.models.causal.lpcmci import CovarianceLPCMCI
        >>> lp = CovarianceLPCMCI(3, 1); lp.tau_max = 1
        >>> lp.graph_dict = {0: {(1, 0): "-->"}, 1: {(0, 0): "<--", (2, 0): "<--"}, 2: {(1, 0): "-->"}}
        >>> lp._triples("*-*", "*-*", "")
        [((0, 0), (1, 0), (2, 0)), ((2, 0), (1, 0), (0, 0))]
        """
        adj, n, tau_max = self._adjacency(graph), self.N, self.tau_max
        rows = adj.rows
        matched: list[tuple] = []
        seen: set[tuple] = set()
        for i in range(n):
            linked = self._linked_as(adj, i, pattern_ik)
            for j, lag_j in self._adjacent_at_zero(adj, i, pattern_ij):
                steps = _STEPS.get((rows[j], j, pattern_jk, lag_j, tau_max))
                if steps is None:
                    steps = self._steps(adj, j, pattern_jk, lag_j)
                for node_k, lag_i, node_j, shifted_k in steps:
                    if node_k in linked:
                        match = ((i, lag_i), node_j, shifted_k)
                        if match not in seen:
                            seen.add(match)
                            matched.append(match)
        return matched

    def _steps(self, adj: _Adjacency, j: int, pattern_jk: str, lag_j: int) -> list[tuple]:
        """The triples' last steps from (j, lag_j): for each k adjacent to it by pattern_jk (in
        ``_adjacent_at_zero``'s order) within tigramite's bounds, (k's node, then the triple's i lag, j and k
        shifted so that its latest node is at lag 0); kept per j, row of its links, pattern and lag_j."""
        tau_max = self.tau_max
        steps = []
        for k, lk in self._adjacent_at_zero(adj, j, pattern_jk):
            lag_k = lk + lag_j
            if not -tau_max <= lag_k <= tau_max:
                continue   # beyond tigramite's _is_match bound
            right = lag_j if lag_j > lag_k else lag_k
            right = right if right > 0 else 0
            left = lag_j if lag_j < lag_k else lag_k
            if (left if left < 0 else 0) - right < -tau_max:
                continue
            steps.append(((k, lag_k), -right, (j, lag_j - right), (k, lag_k - right)))
        if len(_STEPS) > _MAX_ROWS:
            _STEPS.clear()
        _STEPS[(adj.rows[j], j, pattern_jk, lag_j, tau_max)] = steps
        return steps

    def _linked_as(self, adj: _Adjacency, i: int, pattern_ik: str) -> frozenset[tuple[int, int]]:
        """The nodes (k, lag), |lag| <= tau_max, whose link with (i, 0) matches pattern_ik (tigramite's
        ``_is_match``), (i, 0) itself left out; kept per i, row of its links and pattern."""
        key = (adj.rows[i], i, pattern_ik, self.tau_max, self.N)
        got = _LINKED.get(key)
        if got is None:
            g, lags = adj.g, self.tau_max + 1
            ok, back = self._matching(pattern_ik), self._matching(self._reverse_link(pattern_ik))
            got = frozenset([(k, lag) for k in range(self.N) for lag in range(1 - lags, lags)
                             if (k != i or lag != 0) and (ok[g[i][k][lag]] if lag >= 0 else back[g[k][i][-lag]])])
            if len(_LINKED) > _MAX_ROWS:
                _LINKED.clear()
            _LINKED[key] = got
        return got


class _Adjacency:
    """One graph_dict as lists: ``g[i][j][tau]`` (tigramite's graph array), each node's non-empty
    links out (``g[i][k][lag]``) and in (``g[k][i][lag]``) in numpy's nonzero order, and each
    node's row of links (out and in) as a number, the same for equal rows of any graph (the key
    of GraphSearchLPCMCI's ``_adjacent_at_zero``)."""

    __slots__ = ("g", "into", "out", "rows")

    def __init__(self, graph_dict: Mapping[int, Mapping[tuple[int, int], str]], n: int, lags: int) -> None:
        g = [[[""] * lags for _ in range(n)] for _ in range(n)]
        out: list[list[tuple[int, int, str]]] = [[] for _ in range(n)]
        into: list[list[tuple[int, int, str]]] = []
        for j in range(n):   # graph_dict's keys by lag, then node: each k's links out in lag order, as numpy's nonzero
            links_in = []
            for (i, lag), link in graph_dict[j].items():
                g[i][j][-lag] = link
                if link:
                    out[i].append((j, -lag, link))
                    links_in.append((i, -lag, link))
            links_in.sort()
            into.append(links_in)
        self.g, self.out, self.into = g, [sorted(links) for links in out], into
        if len(_ROWS) > _MAX_ROWS:
            _ROWS.clear()
        rows = []
        for j in range(n):
            row = (tuple(self.out[j]), tuple(into[j]))
            got = _ROWS.get(row)
            if got is None:
                got = _ROWS[row] = next(_ROW_IDS)
            rows.append(got)
        self.rows = rows


class _Matcher(dict):
    """link -> tigramite's ``_match_link(pattern, link)`` for one pattern, each link's computed once."""

    __slots__ = ("match", "pattern")

    def __init__(self, pattern: str, match: Callable[..., Any]) -> None:   # tigramite's _match_link (reads no self)
        super().__init__()
        self.pattern, self.match = pattern, match

    def __missing__(self, link: str) -> bool:
        got = self[link] = bool(self.match(None, self.pattern, link))
        return got
