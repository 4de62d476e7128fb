"""LPCMCI (latent-confounder PCMCI) on the lagged covariance, through tigramite's own control flow.

LPCMCI (Gerhardus and Runge, 2020) finds lagged and contemporaneous links when hidden
variables may drive the observed ones, and returns a PAG: ``-->``, ``<->`` (a hidden common
cause), ``o->``, ``o-o``, ``x-x``. As for PCMCI+ (pcmciplus.py), tigramite's ``run_lpcmci`` runs
line for line with its CI tests answered by :class:`LPCMCITest` (lpcmci_citest.py) from the window's
lagged covariance, so graph, val and p equal tigramite's. :class:`CovarianceLPCMCI` also replaces
tigramite's graph searches (lpcmci_graph.py, lpcmci_walks.py), sepset votes (lpcmci_votes.py),
ancestral removal phase (lpcmci_ancestral.py), rule APR, ``_sort_search_set`` and, kept while a
variable's link ends stay, ``_get_parents`` / ``_get_a_pds_t`` with equal, faster ones.

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

from causalstream.models.causal.links import LinkAssumptions
from causalstream.models.causal.lpcmci_ancestral import AncestralLPCMCI
from causalstream.models.causal.lpcmci_citest import BudgetExceeded, LPCMCITest
from causalstream.models.causal.parcorr import CovParCorr
from causalstream.models.errors import ParameterError

__all__ = ["PARAMS", "BudgetExceeded", "CovarianceLPCMCI", "check_params", "run_lpcmci"]

_MAX_KEPT = 20_000   # answers kept (CovarianceLPCMCI._parents) within a run before it starts afresh

PARAMS = {"n_preliminary_iterations": 1, "max_cond_px": 0, "max_p_global": math.inf,
          "max_p_non_ancestral": math.inf, "max_q_global": math.inf, "max_pds_set": math.inf}
"""The parameters of tigramite's ``run_lpcmci`` that bound its work, with tigramite's defaults."""



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


class CovarianceLPCMCI(AncestralLPCMCI):
    """tigramite's LPCMCI whose CI tests read the covariance (a :class:`CovarianceCITest`).

    >>> CovarianceLPCMCI(n_vars=3, tau_max=1).N
    3
    """

    def __init__(self, n_vars: int, tau_max: int, var_names: Sequence[str] | None = None) -> None:
        frame = DataFrame(np.zeros((2 * tau_max + n_vars + 2, n_vars)), var_names=list(var_names) if var_names else None)
        super().__init__(dataframe=frame, cond_ind_test=LPCMCITest())

    def _initialize_run_memory(self) -> bool:
        """tigramite's ``_initialize_run_memory`` (the found triples kept, lpcmci_graph.py); known parents forgotten.

        >>> lp = CovarianceLPCMCI(2, 1); lp.tau_max, lp.tau_min, lp.max_cond_px = 1, 0, 0
        >>> lp.update_middle_marks, lp.link_assumptions, lp._parents = True, None, {"k": set()}
        >>> lp._initialize_run_memory(), lp._parents, lp._ends
        (True, {}, [0, 0])
        """
        out = super()._initialize_run_memory()
        self._parents, self._ends = {}, [0] * self.N
        return out

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

    def _write_link(self, A: tuple[int, int], B: tuple[int, int], new_link: str, verbosity: int = 0) -> None:
        """tigramite's ``_write_link``; a change of a link's ends or presence counts a change of the
        ends of the variables whose graph_dict it writes (``_ends``: the keys of the answers kept).

        >>> lp = CovarianceLPCMCI(2, 1); lp.tau_max = 1; lp._ends = [0, 0]
        >>> lp.graph_dict = {0: {(1, 0): "o-o", (1, -1): ""}, 1: {(0, 0): "o-o", (0, -1): ""}}
        >>> lp._write_link((0, 0), (1, 0), "o!o"); lp._ends, lp.graph_dict[1][(0, 0)]
        ([0, 0], 'o!o')
        >>> lp._write_link((0, 0), (1, 0), "-->"); lp._ends, lp.graph_dict[0][(1, 0)]
        ([1, 1], '<--')
        >>> lp._write_link((1, 0), (0, -1), "<->"); lp._ends, lp.graph_dict[1][(0, -1)]
        ([1, 2], '<->')
        """
        old = self._get_link(A, B)
        super()._write_link(A, B, new_link, verbosity)
        if not (old and new_link and old[0] == new_link[0] and old[2] == new_link[2]):
            if len(self._parents) > _MAX_KEPT:
                self._parents = {}
            if A[1] <= B[1]:
                self._ends[B[0]] += 1
            if B[1] <= A[1]:
                self._ends[A[0]] += 1

    def _get_parents(self, A: tuple[int, int], B: tuple[int, int]) -> set:
        """tigramite's ``_get_parents`` (the known parents of A and B), kept while the ends of A's and B's links stay.

        The answer reads only which links into A's and B's variables exist and their left
        marks; middle marks, the frequent writes of the ancestral phase, leave it as it was.
        Callers only read it.

        >>> lp = CovarianceLPCMCI(2, 1); lp.tau_max, lp.parents_of_lagged, lp._ends = 1, True, [0, 0]
        >>> lp.graph_dict = {0: {(1, 0): "<--", (1, -1): "-->"}, 1: {(0, 0): "-->", (0, -1): "o->"}}
        >>> sorted(lp._get_parents((0, 0), (1, 0))), lp._get_parents((0, 0), (1, 0)) is lp._get_parents((0, 0), (1, 0))
        ([(0, 0), (1, -1)], True)
        """
        ends = self._ends
        key = (A, B, ends[A[0]], ends[B[0]])
        got = self._parents.get(key)
        if got is None:   # tigramite's sets, made by the same insertions (from the tails kept per variable)
            bound = -self.tau_max
            if self.parents_of_lagged or A[1] == B[1]:
                lag_a, lag_b = A[1], B[1]
                got = {(var, lag + lag_a) for (var, lag) in self._tails(A[0]) if lag + lag_a >= bound}
                got = got.union({(var, lag + lag_b) for (var, lag) in self._tails(B[0]) if lag + lag_b >= bound})
            else:
                late = B if A[1] < B[1] else A
                got = {(var, lag + late[1]) for (var, lag) in self._tails(late[0]) if lag + late[1] >= bound}
            self._parents[key] = got
        return got

    def _tails(self, var: int) -> list[tuple[int, int]]:
        """The nodes whose link into (var, 0) has a tail there (``-``), in graph_dict's order; kept as :meth:`_get_parents` is.

        >>> lp = CovarianceLPCMCI(2, 1); lp._ends = [0, 0]
        >>> lp.graph_dict = {0: {(1, 0): "<--", (1, -1): "-->"}, 1: {(0, 0): "-->", (0, -1): "o->"}}
        >>> lp._tails(0), lp._tails(1)
        ([(1, -1)], [(0, 0)])
        """
        key = ("tails", var, self._ends[var])
        got = self._parents.get(key)
        if got is None:
            got = self._parents[key] = [node for node, link in self.graph_dict[var].items() if link and link[0] == "-"]
        return got

    def _not_heads(self, var: int) -> list[tuple[int, int]]:
        """The nodes linked into (var, 0) without an arrowhead there (``<``), in graph_dict's order; kept as :meth:`_tails`.

        >>> lp = CovarianceLPCMCI(2, 1); lp._ends = [0, 0]
        >>> lp.graph_dict = {0: {(1, 0): "<--", (1, -1): "-->"}, 1: {(0, 0): "-->", (0, -1): "o->"}}
        >>> lp._not_heads(0), lp._not_heads(1)
        ([(1, -1)], [(0, 0), (0, -1)])
        """
        key = ("not-heads", var, self._ends[var])
        got = self._parents.get(key)
        if got is None:
            got = self._parents[key] = [node for node, link in self.graph_dict[var].items() if link and link[0] != "<"]
        return got

    def _get_a_pds_t(self, A: tuple[int, int], B: tuple[int, int]) -> set:
        """tigramite's ``_get_a_pds_t`` (A's non-future adjacencies but B, not definite non-ancestors), kept while the
        ends of A's variable's links stay: it reads those links' presence and left marks only.

        >>> lp = CovarianceLPCMCI(2, 1); lp.tau_max, lp._ends = 1, [0, 0]
        >>> lp.graph_dict = {0: {(1, 0): "<--", (1, -1): "-->"}, 1: {(0, 0): "-->", (0, -1): "o->"}}
        >>> sorted(lp._get_a_pds_t((1, 0), (0, -1))), lp._get_a_pds_t((0, 0), (1, 0)) is lp._get_a_pds_t((0, 0), (1, 0))
        ([(0, 0)], True)
        """
        key = ("a-pds-t", A, B, self._ends[A[0]])
        got = self._parents.get(key)
        if got is None:   # tigramite's set, made by the same insertions
            lag_a, bound = A[1], -self.tau_max
            got = self._parents[key] = {node for (var, lag) in self._not_heads(A[0])
                                        if (node := (var, lag + lag_a)) != B and lag + lag_a >= bound}
        return got

    def _get_default_and_search_sets(self, A: tuple[int, int], B: tuple[int, int], phase: str) -> tuple[set, set]:
        """tigramite's ``_get_default_and_search_sets``; the ancestral phase's kept as :meth:`_get_parents` is (it
        reads _get_a_pds_t(A, B) and _get_parents(A, B) only).

        (Its callers only read the two sets.)

        >>> lp = CovarianceLPCMCI(2, 1); lp.tau_max, lp.parents_of_lagged, lp._ends = 1, True, [0, 0]
        >>> lp.graph_dict = {0: {(1, 0): "<--", (1, -1): "-->"}, 1: {(0, 0): "-->", (0, -1): "o->"}}
        >>> lp._get_default_and_search_sets((0, 0), (1, 0), "ancestral")
        ({(1, -1)}, set())
        """
        if phase != "ancestral":
            return super()._get_default_and_search_sets(A, B, phase)
        ends = self._ends
        key = ("sets", A, B, ends[A[0]], ends[B[0]])
        got = self._parents.get(key)
        if got is None:
            got = self._parents[key] = super()._get_default_and_search_sets(A, B, phase)
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

    def _apply_new_ancestral_information(self, new_non_ancs: Any, new_ancs: Any) -> bool:
        """tigramite's ``_apply_new_ancestral_information``; with nothing new (most orientation rounds) at once False.

        >>> lp = CovarianceLPCMCI(2, 1)
        >>> lp._apply_new_ancestral_information({0: set(), 1: set()}, None)
        False
        """
        if not any((new_non_ancs or {}).values()) and not any((new_ancs or {}).values()):
            return False   # tigramite's loops would run over empty sets and change nothing
        return super()._apply_new_ancestral_information(new_non_ancs, new_ancs)

    def _sort_search_set(self, search_set: Any, reference_node: tuple[int, int]) -> list:
        """tigramite's ``_sort_search_set``: by |val| of the pair's max-p test, largest first (then by node, descending).

        >>> lp = CovarianceLPCMCI(2, 1); lp.pval_max_val = {0: {(0, -1): float("-inf")}, 1: {(0, 0): -0.5}}
        >>> lp._sort_search_set([(0, -1), (1, 0)], (0, 0))
        [(1, 0), (0, -1)]
        """
        if len(search_set) < 2:   # nothing to order (tigramite reads the one value and sorts it alone)
            return list(search_set)
        vals = self.pval_max_val
        keys = []
        for node in search_set:
            v = vals[reference_node[0]][node] if node[1] < 0 or node[0] < reference_node[0] else vals[node[0]][reference_node]
            keys.append((abs(v) if v != -math.inf else 0, node))
        return [x for _, x in sorted(keys, reverse=True)]

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
