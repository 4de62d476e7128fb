"""tigramite's LPCMCI whose sepset majority votes remember their tests while what decides them stays.

tigramite's collider rules ask ``_B_in_SepSet_AC`` / ``_B_not_in_SepSet_AC`` (is B in more / less than
half of the separating sets of A and C?), and answer them by testing A and C given every subset
of A's and C's a-pds-t sets, with their known parents. The same pair is voted on many times
within an orientation phase, with other B or the other question, while its search sets and
known parents stay: those tests and their findings are the same then. The separating
sets the tests found are kept by what decides those tests (the pair shifted to lag 0, its two
search lists in order and depths, the known parents; forgotten when a run starts); a
repeat records its tests on the Ledger again (``LPCMCITest.again``) and counts afresh with the
sepsets known now. Skipped are only ``_update_pval_val_card_dicts`` calls that cannot change
anything: within a run the maximal p-values only grow, and each was already at least the
remembered tests' p-values. A finite ``max_q_global`` (its searches sorted by the changing
p-values) or ``use_a_pds_t_for_majority=False`` go to tigramite's own methods.

>>> from causalstream.models.causal.lpcmci import CovarianceLPCMCI
>>> isinstance(CovarianceLPCMCI(2, 1), VotingLPCMCI)
True
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any

from causalstream.models.causal.lpcmci_walks import WalkLPCMCI

__all__ = ["VotingLPCMCI"]

Node = tuple[int, int]


class VotingLPCMCI(WalkLPCMCI):
    """tigramite's LPCMCI whose sepset votes (``_B_in_SepSet_AC``, ``_B_not_in_SepSet_AC``) remember their tests.

    >>> from causalstream.models.causal.lpcmci import CovarianceLPCMCI
    >>> CovarianceLPCMCI(2, 1)._parents
    {}
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._parents: dict[tuple, Any] = {}   # answers kept while their variables' link ends stay (lpcmci.py), votes' tests too
        self._ends: list[int] = [0] * self.N   # per variable: changes of its links' ends or presence in this run (lpcmci.py's _write_link)

    def _B_not_in_SepSet_AC(self, A: Node, B: Node, C: Node) -> bool:  # noqa: N802  (tigramite's name)
        """tigramite's ``_B_not_in_SepSet_AC``: is B in less than half of the separating sets of A and C?

        >>> import numpy as np
        >>> from causalstream.models.causal.lagcov import LaggedCovariance
        >>> from causalstream.models.causal.lpcmci import CovarianceLPCMCI, run_lpcmci
        >>> from causalstream.models.causal.parcorr import CovParCorr
        >>> X = np.random.default_rng(0).normal(size=(300, 3)); X[:, 2] += X[:, 0] + X[:, 1]
        >>> lp = CovarianceLPCMCI(3, 1); _ = run_lpcmci(lp, CovParCorr(LaggedCovariance(3, 300, 1).update_many(X).stats(), 3), 0, 1, 0.05)
        >>> first = lp._B_not_in_SepSet_AC((0, 0), (2, 0), (1, 0)); n = lp._remembered_votes()
        >>> first, lp._B_not_in_SepSet_AC((1, 0), (2, 0), (0, 0)) == first, n == lp._remembered_votes() >= 1
        (True, True, True)
        """
        if C[1] < A[1] or (C[1] == A[1] and C[0] < A[0]):
            A, C = C, A
        if not self._votes_kept():
            return super()._B_not_in_SepSet_AC(A, B, C)
        n, with_b = self._count(A, B, C)
        return 2 * with_b < n

    def _B_in_SepSet_AC(self, A: Node, B: Node, C: Node) -> bool:  # noqa: N802  (tigramite's name)
        """tigramite's ``_B_in_SepSet_AC``: is B in more than half of the separating sets of A and C?

        With A-B or C-B not a link of middle mark '-', tigramite counts the known sepsets only.

        >>> from causalstream.models.causal.lpcmci import CovarianceLPCMCI
        >>> lp = CovarianceLPCMCI(3, 1); lp.tau_max, lp.max_q_global, lp.use_a_pds_t_for_majority = 1, math.inf, True
        >>> lp.graph_dict = {0: {(1, 0): "o?o", (2, 0): ""}, 1: {(0, 0): "o?o", (2, 0): "o?o"}, 2: {(0, 0): "", (1, 0): "o?o"}}
        >>> lp.sepsets = {0: {}, 1: {}, 2: {(0, 0): {(frozenset({(1, 0)}), "wm")}}}
        >>> lp._B_in_SepSet_AC((0, 0), (1, 0), (2, 0))
        True
        """
        if C[1] < A[1] or (C[1] == A[1] and C[0] < A[0]):
            A, C = C, A
        link_ab, link_cb = self._get_link(A, B), self._get_link(C, B)
        if not link_ab or not link_cb or link_ab[1] != "-" or link_cb[1] != "-" or not self._votes_kept():
            return super()._B_in_SepSet_AC(A, B, C)
        n, with_b = self._count(A, B, C)
        return 2 * with_b > n

    def _get_sepsets(self, A: Node, B: Node) -> set:
        """tigramite's ``_get_sepsets``: the separating sets of A and B (with their status), shifted to A's and B's lags.

        A shift by 0 (one of them at lag 0, most asks) keeps each set as stored: an equal frozenset.

        >>> from causalstream.models.causal.lpcmci import CovarianceLPCMCI
        >>> lp = CovarianceLPCMCI(2, 1); lp.sepsets = {1: {(0, -1): {(frozenset({(1, -1)}), "wm")}}}
        >>> lp._get_sepsets((0, -1), (1, 0)), lp._get_sepsets((1, -1), (0, -2))
        ({(frozenset({(1, -1)}), 'wm')}, {(frozenset({(1, -2)}), 'wm')})
        """
        var_a, lag_a = A
        var_b, lag_b = B
        if lag_a < lag_b:
            stored, lag = self.sepsets[var_b][(var_a, lag_a - lag_b)], lag_b
        elif lag_a > lag_b:
            stored, lag = self.sepsets[var_a][(var_b, lag_b - lag_a)], lag_a
        else:
            stored, lag = self.sepsets[max(var_a, var_b)][(min(var_a, var_b), 0)], lag_a
        if lag == 0:
            return {(Z, status) for (Z, status) in stored}
        return {(frozenset([(var, t + lag) for (var, t) in Z]), status) for (Z, status) in stored}

    def _votes_kept(self) -> bool:
        return math.isinf(self.max_q_global) and bool(self.use_a_pds_t_for_majority)

    def _remembered_votes(self) -> int:
        """How many (A, C) pairs' tests are remembered now."""
        return sum(1 for key in self._parents if key[0] == "votes")

    def _count(self, A: Node, B: Node, C: Node) -> tuple[int, int]:
        """(separating sets of A and C, those holding B): the tests' findings (remembered) and the known sepsets.

        The tests are remembered by what decides them: X and Y (A and C shifted so that C is at
        lag 0), the two search lists in their order, how deep each goes, and the known parents.
        """
        X, Y = (A[0], A[1] - C[1]), (C[0], 0)
        plan = self._plan(A, C)
        key = ("votes", X, Y, tuple(plan[0]), plan[1], tuple(plan[2]), plan[3], frozenset(plan[4]),
               self.cond_ind_test.epoch)
        found = self._parents.get(key)
        if found is None:
            test = self.cond_ind_test
            outer, test.asks = test.asks, []
            try:
                separating = self._test_subsets(X, Y, plan)
            finally:
                asks, test.asks = test.asks, outer
            found = self._parents[key] = (separating, asks)
        else:
            self.cond_ind_test.again(found[1])
        sepsets = found[0].union({Z for (Z, _) in self._get_sepsets(X, Y)})
        b = (B[0], B[1] - C[1])
        return len(sepsets), sum(1 for Z in sepsets if b in Z)

    def _plan(self, A: Node, C: Node) -> tuple[list[Node], int, list[Node], int, set[Node]]:
        """tigramite's plan of a vote's tests (A before C; a-pds-t sets), shifted so that C is at lag 0:
        (A's search list, its depth, C's search list, its depth, the parents every test conditions on)."""
        adj_A = self._get_a_pds_t(A, C).difference({A, C})
        adj_C = self._get_a_pds_t(C, A).difference({A, C})
        Z_add = self._get_parents(A, C).difference({A, C})
        search_A = adj_A.difference(Z_add)
        search_C = adj_C.difference(Z_add)
        if A[1] < C[1]:
            max_p_A = min([len(search_A), self.max_cond_px, self.max_p_global]) + 1
        else:
            max_p_A = min([len(search_A), self.max_p_global]) + 1
        lag = C[1]
        return ([(var, t - lag) for (var, t) in search_A], max_p_A, [(var, t - lag) for (var, t) in search_C],
                min(len(search_C), self.max_p_global) + 1, {(var, t - lag) for (var, t) in Z_add})

    def _test_subsets(self, X: Node, Y: Node, plan: tuple) -> frozenset:
        """tigramite's tests of a vote (max_q_global infinite): the separating sets found."""
        search_A, max_p_A, search_C, max_p_C, Z_add = plan
        found: set = set()
        run_test, alpha, tau_max = self.cond_ind_test.run_test, self.pc_alpha, self.tau_max
        for search, top in ((search_A, max_p_A), (search_C, max_p_C)):
            for p in range(top):
                for Z_raw in combinations(search, p):
                    Z = {node for node in Z_raw if node != X and node != Y}
                    Z = Z.union(Z_add)
                    val, pval, dependent = run_test(X=[X], Y=[Y], Z=list(Z), tau_max=tau_max, alpha_or_thres=alpha)
                    self._update_pval_val_card_dicts(X, Y, pval, val, len(Z))
                    if not dependent:
                        found.add(frozenset(Z))
        return frozenset(found)
