"""LPCMCI (latent-confounder PCMCI) on the lagged covariance, through tigramite's own control flow.

LPCMCI (Gerhardus and Runge, 2020) finds lagged and contemporaneous links when hidden
variables may drive the observed ones, and returns a PAG: ``-->``, ``<->`` (a hidden common
cause), ``o->``, ``o-o``, ``x-x``. As for PCMCI+ (pcmciplus.py), tigramite's ``run_lpcmci`` runs
line for line with its CI tests answered by :class:`LPCMCITest` (lpcmci_citest.py) from the window's
lagged covariance, so graph, val and p equal tigramite's. :class:`CovarianceLPCMCI` also replaces
tigramite's ``_find_adj`` (where its orientation rules spend most of their time) with one
that returns the same adjacencies, in the same order, without numpy per cell.

>>> import numpy as np
>>> from causalstream.models.causal.lagcov import LaggedCovariance
>>> from causalstream.models.causal.parcorr import CovParCorr
>>> rng = np.random.default_rng(0); h = rng.normal(size=600)
>>> X = np.c_[h + 0.5 * rng.normal(size=600), h + 0.5 * rng.normal(size=600)]  # one hidden driver of both
>>> eng = CovParCorr(LaggedCovariance(2, 600, 2).update_many(X).stats(), 2)
>>> str(run_lpcmci(CovarianceLPCMCI(2, 1), eng, 0, 1, 0.05)["graph"][0, 1, 0])
'o-o'
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from tigramite.data_processing import DataFrame
from tigramite.lpcmci import LPCMCI

from causalstream.models.causal.links import LinkAssumptions
from causalstream.models.causal.lpcmci_citest import BudgetExceeded, LPCMCITest
from causalstream.models.causal.parcorr import CovParCorr
from causalstream.models.errors import ParameterError

__all__ = ["PARAMS", "BudgetExceeded", "CovarianceLPCMCI", "check_params", "run_lpcmci"]

PARAMS = {"n_preliminary_iterations": 1, "max_cond_px": 0, "max_p_global": math.inf,
          "max_p_non_ancestral": math.inf, "max_q_global": math.inf, "max_pds_set": math.inf}
"""The parameters of tigramite's ``run_lpcmci`` that bound its work, with tigramite's defaults."""

_MAX_FOUND = 20000  # graphs' triples/quadruples kept (CovarianceLPCMCI._found), then started afresh
_REVERSED: dict[str, str] = {}  # link -> tigramite's _reverse_link of it
_MATCHES: dict[tuple[str, str], bool] = {}  # (pattern, link) -> tigramite's _match_link: a pure function of both


def check_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """``params`` completed with :data:`PARAMS`' defaults; an unknown name or a bad value is a ParameterError.

    >>> check_params({"max_p_global": 2})["max_p_global"]
    2
    >>> check_params({"max_pds": 1})
    Traceback (most recent call last):
    ...
    causalstream.models.errors.ParameterError: WindowedPCMCI: unknown LPCMCI parameter 'max_pds' (known: n_preliminary_iterations, max_cond_px, max_p_global, max_p_non_ancestral, max_q_global, max_pds_set)
    """
    out = dict(PARAMS)
    for name, value in (params or {}).items():
        if name not in PARAMS:
            raise ParameterError("WindowedPCMCI", f"unknown LPCMCI parameter {name!r} (known: {', '.join(PARAMS)})")
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 and (
            value == math.inf or float(value).is_integer())
        if not ok:
            raise ParameterError("WindowedPCMCI", f"LPCMCI parameter {name} must be an integer >= 0 or inf, got {value!r}")
        out[name] = value if value == math.inf else int(value)
    return out


class CovarianceLPCMCI(LPCMCI):
    """tigramite's LPCMCI whose CI tests read the covariance (a :class:`CovarianceCITest`).

    >>> CovarianceLPCMCI(n_vars=3, tau_max=1).N
    3
    """

    def __init__(self, n_vars: int, tau_max: int, var_names: Sequence[str] | None = None) -> None:
        frame = DataFrame(np.zeros((2 * tau_max + n_vars + 2, n_vars)), var_names=list(var_names) if var_names else None)
        super().__init__(dataframe=frame, cond_ind_test=LPCMCITest())
        self._layout: tuple = ()
        self._found: dict[tuple, tuple] = {}
        self._graphs: dict[tuple, _Adjacency] = {}
        self._parents: dict[tuple, set] = {}   # _get_parents' / _get_a_pds_t's answers while no link end changes

    def _initialize_run_memory(self) -> bool:
        """tigramite's ``_initialize_run_memory``; the found triples kept while graph_dict's layout stays.

        The triples and quadruples of a graph are a function of its links alone: they are kept,
        across refreshes too, keyed by graph_dict's link strings, while its keys (and N,
        tau_max) are those they were found with.

        >>> lp = CovarianceLPCMCI(2, 1); lp.tau_max, lp.tau_min, lp.max_cond_px = 1, 0, 0
        >>> lp.update_middle_marks, lp.link_assumptions = True, None
        >>> lp._initialize_run_memory(), lp.graph_dict[1]
        (True, {(0, 0): 'o?o', (0, -1): 'oL>', (1, -1): 'oL>'})
        """
        out = super()._initialize_run_memory()
        self._parents = {}
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

    def _apply_rule(self, rule: Any, only_lagged: bool) -> Any:
        """tigramite's ``_apply_rule``, after a look at the deadline (orientation runs no tests).

        >>> lp = CovarianceLPCMCI(1, 1); lp.cond_ind_test.deadline = 0.0
        >>> lp._apply_rule("APR", False)
        Traceback (most recent call last):
        ...
        causalstream.models.causal.lpcmci_citest.BudgetExceeded: 0.0
        """
        if time.perf_counter() > self.cond_ind_test.deadline:
            raise BudgetExceeded(self.cond_ind_test.deadline)
        return super()._apply_rule(rule, only_lagged)

    def _get_link(self, A: tuple[int, int], B: tuple[int, int]) -> str:
        """tigramite's ``_get_link``: the link from node A to node B ('' beyond tau_max), reversals from memory.

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

        >>> CovarianceLPCMCI(1, 1)._reverse_link("<-x"), CovarianceLPCMCI(1, 1)._reverse_link("")
        ('x->', '')
        """
        got = _REVERSED.get(link)
        if got is None:
            got = _REVERSED[link] = str(super()._reverse_link(link))
        return got

    def _write_link(self, A: tuple[int, int], B: tuple[int, int], new_link: str, verbosity: int = 0) -> None:
        """tigramite's ``_write_link``; a change of a link's ends or presence forgets the known parents.

        >>> lp = CovarianceLPCMCI(2, 1); lp.tau_max = 1; lp._parents = {"k": set()}
        >>> lp.graph_dict = {0: {(1, 0): "o-o"}, 1: {(0, 0): "o-o"}}
        >>> lp._write_link((0, 0), (1, 0), "o!o"); len(lp._parents), lp.graph_dict[1][(0, 0)]
        (1, 'o!o')
        >>> lp._write_link((0, 0), (1, 0), "-->"); len(lp._parents), lp.graph_dict[0][(1, 0)]
        (0, '<--')
        """
        old = self._get_link(A, B)
        super()._write_link(A, B, new_link, verbosity)
        if not (old and new_link and old[0] == new_link[0] and old[2] == new_link[2]):
            self._parents = {}

    def _get_parents(self, A: tuple[int, int], B: tuple[int, int]) -> set:
        """tigramite's ``_get_parents`` (the known parents of A and B), kept while no link end changes.

        The answer reads only which links exist and their left marks; middle marks, the
        frequent writes of the ancestral phase, leave it as it was. Callers only read it.

        >>> lp = CovarianceLPCMCI(2, 1); lp.tau_max, lp.parents_of_lagged = 1, True
        >>> lp.graph_dict = {0: {(1, 0): "<--", (1, -1): "-->"}, 1: {(0, 0): "-->", (0, -1): "o->"}}
        >>> sorted(lp._get_parents((0, 0), (1, 0))), lp._get_parents((0, 0), (1, 0)) is lp._get_parents((0, 0), (1, 0))
        ([(0, 0), (1, -1)], True)
        """
        key = (A, B)
        got = self._parents.get(key)
        if got is None:
            got = self._parents[key] = super()._get_parents(A, B)
        return got

    def _get_a_pds_t(self, A: tuple[int, int], B: tuple[int, int]) -> set:
        """tigramite's ``_get_a_pds_t`` (A's non-future adjacencies but B, not definite non-ancestors), kept as
        :meth:`_get_parents` is: it reads which links exist and their left marks only.

        >>> lp = CovarianceLPCMCI(2, 1); lp.tau_max = 1
        >>> lp.graph_dict = {0: {(1, 0): "<--", (1, -1): "-->"}, 1: {(0, 0): "-->", (0, -1): "o->"}}
        >>> sorted(lp._get_a_pds_t((1, 0), (0, -1))), lp._get_a_pds_t((0, 0), (1, 0)) is lp._get_a_pds_t((0, 0), (1, 0))
        ([(0, 0)], True)
        """
        key = ("a-pds-t", A, B)
        got = self._parents.get(key)
        if got is None:
            got = self._parents[key] = super()._get_a_pds_t(A, B)
        return got

    def _apply_APR(self, only_lagged: bool) -> list:  # noqa: N802  (tigramite's name)
        """tigramite's rule APR: each ``-!>`` (or ``-R>`` from the smaller node, ``-L>`` from the larger) becomes ``-->``.

        A link from (i, lag) to (j, 0) is graph_dict[j][(i, lag)] itself, so it is read there.

        >>> lp = CovarianceLPCMCI(2, 1); lp.no_apr = 0
        >>> lp.graph_dict = {0: {(1, 0): "<L-", (0, -1): "-R>", (1, -1): ""}, 1: {(0, 0): "-L>", (0, -1): "-!>", (1, -1): "o!>"}}
        >>> lp._apply_APR(False), lp._apply_APR(True)
        ([((0, 0, -1), '-->'), ((0, 1, -1), '-->')], [((0, 0, -1), '-->'), ((0, 1, -1), '-->')])
        """
        out: list = []
        if self.no_apr > 0:
            return out
        for j in range(self.N):
            for (i, lag_i), link in self.graph_dict[j].items():
                if (only_lagged and lag_i == 0) or not link or link[0] != "-" or link[2] != ">":
                    continue
                mid = link[1]
                if mid == "!" or (mid == "R" and (lag_i < 0 or i < j)) or (mid == "L" and lag_i == 0 and j < i):
                    out.append(((i, j, lag_i), "-->"))
        return out

    def _sort_search_set(self, search_set: Any, reference_node: tuple[int, int]) -> list:
        """tigramite's ``_sort_search_set``: by |val| of the pair's max-p test, largest first (then by node, descending).

        >>> lp = CovarianceLPCMCI(2, 1); lp.pval_max_val = {0: {(0, -1): float("-inf")}, 1: {(0, 0): -0.5}}
        >>> lp._sort_search_set([(0, -1), (1, 0)], (0, 0))
        [(1, 0), (0, -1)]
        """
        vals = self.pval_max_val
        keys = []
        for node in search_set:
            v = vals[reference_node[0]][node] if node[1] < 0 or node[0] < reference_node[0] else vals[node[0]][reference_node]
            keys.append((abs(v) if v != -math.inf else 0, node))
        return [x for _, x in sorted(keys, reverse=True)]

    def _dict2graph(self) -> np.ndarray:
        """tigramite's graph array of ``graph_dict``; its non-empty links per node kept beside it for ``_find_adj``.

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

        >>> lp = CovarianceLPCMCI(3, 1); lp.tau_max = 1
        >>> lp.graph_dict = {0: {(1, 0): "-->"}, 1: {(0, 0): "<--", (2, 0): "<--"}, 2: {(1, 0): "-->"}}
        >>> lp._find_triples("*-*", "*-*", "") == lp._find_triples("*-*", "*-*", "") == lp._triples("*-*", "*-*", "")
        True
        """
        key = (self._graph_key(), pattern_ij, pattern_jk, pattern_ik)
        found = self._found.get(key)
        if found is None:
            found = self._remember(key, self._triples(pattern_ij, pattern_jk, pattern_ik))
        return list(found)

    def _find_quadruples(self, pattern_ij: str, pattern_jk: str, pattern_ik: str, pattern_il: str, pattern_jl: str,
                         pattern_kl: str) -> list[tuple]:
        """tigramite's ``_find_quadruples``, found once per graph and patterns.

        >>> lp = CovarianceLPCMCI(2, 0); lp.tau_max = 0; lp.graph_dict = {0: {(1, 0): "o-o"}, 1: {(0, 0): "o-o"}}
        >>> lp._find_quadruples("**>", "<**", "", "+*o", "o*+", "+*o")
        []
        """
        patterns = (pattern_ij, pattern_jk, pattern_ik, pattern_il, pattern_jl, pattern_kl)
        key = (self._graph_key(), "quadruples", *patterns)
        found = self._found.get(key)
        if found is None:
            found = self._remember(key, super()._find_quadruples(*patterns))
        return list(found)

    def _adjacency(self) -> _Adjacency:
        """graph_dict's links as lists (:class:`_Adjacency`), built once per graph.

        >>> lp = CovarianceLPCMCI(2, 1); lp.tau_max = 1; lp.graph_dict = {0: {(1, -1): "o->"}, 1: {}}
        >>> lp._adjacency().g[1][0], lp._adjacency().out[1]
        (['', 'o->'], [(0, 1, 'o->')])
        """
        key = self._graph_key()
        adj = self._graphs.get(key)
        if adj is None:
            if len(self._graphs) > _MAX_FOUND:
                self._graphs.clear()
            adj = self._graphs[key] = _Adjacency(self.graph_dict, self.N, self.tau_max + 1)
        return adj

    def _adjacent_at_zero(self, adj: _Adjacency, j: int, pattern: str) -> list[tuple[int, int]]:
        """tigramite's ``_find_adj(graph, (j, 0), pattern)`` on ``adj``, found once per graph."""
        found = adj.at_zero.get((j, pattern))
        if found is None:
            found, back = [], self._reverse_link(pattern)
            for k, lag, link in adj.out[j]:
                if self._matches(pattern, link) and (k, lag) not in found:
                    found.append((k, lag))
            for k, lag, link in adj.into[j]:
                if self._matches(back, link) and (k, -lag) not in found:
                    found.append((k, -lag))
            adj.at_zero[(j, pattern)] = found
        return found

    def _triples(self, pattern_ij: str, pattern_jk: str, pattern_ik: str) -> list[tuple]:
        """tigramite's ``_find_triples``, each node's adjacencies found once (at lag 0, then shifted).

        With time bounds ignored, the adjacencies of (j, lag) are those of (j, 0) shifted by
        lag, in the same order; an excluded node is skipped where tigramite skips it.

        >>> lp = CovarianceLPCMCI(3, 1); lp.tau_max = 1
        >>> lp.graph_dict = {0: {(1, 0): "-->"}, 1: {(0, 0): "<--", (2, 0): "<--"}, 2: {(1, 0): "-->"}}
        >>> lp._triples("*-*", "*-*", "")
        [((0, 0), (1, 0), (2, 0)), ((2, 0), (1, 0), (0, 0))]
        """
        adj = self._adjacency()
        g, lags, tau_max = adj.g, self.tau_max + 1, self.tau_max
        back_ik = self._reverse_link(pattern_ik)
        matched: list[tuple] = []
        seen: set[tuple] = set()
        from_j = [self._adjacent_at_zero(adj, j, pattern_jk) for j in range(self.N)]
        for i in range(self.N):
            for j, lag_j in self._adjacent_at_zero(adj, i, pattern_ij):
                for k, lk in from_j[j]:
                    lag_k = lk + lag_j
                    if (k == i and lag_k == 0) or abs(lag_k) >= lags:   # excluded / tigramite's _is_match bound
                        continue
                    if not (self._matches(pattern_ik, g[i][k][lag_k]) if lag_k >= 0
                            else self._matches(back_ik, g[k][i][-lag_k])):
                        continue
                    right = max(0, lag_j, lag_k)
                    match = ((i, -right), (j, lag_j - right), (k, lag_k - right))
                    if match not in seen and -tau_max <= min(-right, lag_j - right, lag_k - right) <= 0:
                        seen.add(match)
                        matched.append(match)
        return matched


class _Adjacency:
    """One graph_dict as lists: ``g[i][j][tau]`` (tigramite's graph array), each node's non-empty
    links out (``g[i][k][lag]``) and in (``g[k][i][lag]``) in numpy's nonzero order, and its
    adjacencies at lag 0 by pattern (filled by ``CovarianceLPCMCI._adjacent_at_zero``)."""

    __slots__ = ("at_zero", "g", "into", "out")

    def __init__(self, graph_dict: Mapping[int, Mapping[tuple[int, int], str]], n: int, lags: int) -> None:
        g = [[[""] * lags for _ in range(n)] for _ in range(n)]
        for j, links in graph_dict.items():
            for (i, lag), link in links.items():
                g[i][j][-lag] = link
        nodes = range(n)
        self.g = g
        self.out = [[(k, lag, g[i][k][lag]) for k in nodes for lag in range(lags) if g[i][k][lag]] for i in nodes]
        self.into = [[(k, lag, g[k][i][lag]) for k in nodes for lag in range(lags) if g[k][i][lag]] for i in nodes]
        self.at_zero: dict[tuple[int, str], list[tuple[int, int]]] = {}


def run_lpcmci(lp: CovarianceLPCMCI, engine: CovParCorr, tau_min: int, tau_max: int, pc_alpha: float,
               links: LinkAssumptions | None = None, params: Mapping[str, Any] | None = None,
               budget_ms: float | None = None) -> dict[str, Any]:
    """tigramite's ``run_lpcmci`` on ``engine``: graph (PAG marks), val_matrix, p_matrix, and lagged parents.

    ``params`` are :data:`PARAMS` (checked); ``links`` go to tigramite as its link_assumptions.
    A value tigramite refuses is a ParameterError naming its reason. A run still going after
    ``budget_ms`` stops at its next test or rule with :class:`BudgetExceeded`.

    >>> from causalstream.models.causal.lagcov import LaggedCovariance
    >>> eng = CovParCorr(LaggedCovariance(1, 100, 2).update_many(np.arange(100.0)[:, None] % 7).stats(), 1)
    >>> sorted(run_lpcmci(CovarianceLPCMCI(1, 1), eng, 0, 1, 0.05))
    ['graph', 'p_matrix', 'parents', 'val_matrix']
    """
    lp.cond_ind_test.use(engine)
    lp.cond_ind_test.deadline = math.inf if budget_ms is None else time.perf_counter() + budget_ms / 1e3
    try:
        res = lp.run_lpcmci(link_assumptions=None if links is None else links.links, tau_min=tau_min,
                            tau_max=tau_max, pc_alpha=pc_alpha, **check_params(params))
    except ValueError as exc:
        raise ParameterError("WindowedPCMCI", f"LPCMCI refused the settings: {exc}") from None
    graph = res["graph"]
    parents = {j: [(int(i), -int(t) - 1) for i, t in zip(*np.nonzero(graph[:, j, 1:] == "-->"))]
               for j in range(graph.shape[0])}
    return {"graph": graph, "val_matrix": res["val_matrix"], "p_matrix": res["p_matrix"], "parents": parents}
