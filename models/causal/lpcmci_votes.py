"""tigramite's LPCMCI whose sepset majority votes remember their tests while the graph's link ends stay.

tigramite's collider rules ask ``_B_in_SepSet_AC`` / ``_B_not_in_SepSet_AC`` (is B in more / less than
half of the separating sets of A and C?), and answer them by testing A and C given every subset
of A's and C's a-pds-t sets, with their known parents. The same pair is voted on many times
within an orientation phase, with other B or the other question, on a graph whose links' ends
and presence have not changed: those tests and their findings are the same then. The separating
sets the tests found are kept per (A, C) in the memory that ``_get_parents`` keeps (lpcmci.py:
while no write changes the ends or presence of a link into A's or C's variable; a run starts afresh); a
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

    def _votes_kept(self) -> bool:
        return math.isinf(self.max_q_global) and bool(self.use_a_pds_t_for_majority)

    def _remembered_votes(self) -> int:
        """How many (A, C) pairs' tests are remembered now."""
        return sum(1 for key in self._parents if key[0] == "votes")

    def _count(self, A: Node, B: Node, C: Node) -> tuple[int, int]:
        """(separating sets of A and C, those holding B): the tests' findings (remembered) and the known sepsets."""
        X, Y = (A[0], A[1] - C[1]), (C[0], 0)
        key = ("votes", A, C, self._ends[A[0]], self._ends[C[0]], self.cond_ind_test.epoch)
        found = self._parents.get(key)
        if found is None:
            test = self.cond_ind_test
            outer, test.asks = test.asks, []
            try:
                separating = self._test_subsets(A, C, X, Y)
            finally:
                asks, test.asks = test.asks, outer
            found = self._parents[key] = (separating, asks)
        else:
            self.cond_ind_test.again(found[1])
        sepsets = found[0].union({Z for (Z, _) in self._get_sepsets(X, Y)})
        b = (B[0], B[1] - C[1])
        return len(sepsets), sum(1 for Z in sepsets if b in Z)

    def _test_subsets(self, A: Node, C: Node, X: Node, Y: Node) -> frozenset:
        """tigramite's tests of a vote (A before C; max_q_global infinite; a-pds-t sets): the separating sets found."""
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
        search_A = [(var, t - lag) for (var, t) in search_A]
        search_C = [(var, t - lag) for (var, t) in search_C]
        Z_add = {(var, t - lag) for (var, t) in Z_add}
        found: set = set()
        run_test, alpha, tau_max = self.cond_ind_test.run_test, self.pc_alpha, self.tau_max
        for search, top in ((search_A, max_p_A), (search_C, min(len(search_C), self.max_p_global) + 1)):
            for p in range(top):
                for Z_raw in combinations(search, p):
                    Z = {node for node in Z_raw if node != X and node != Y}
                    Z = Z.union(Z_add)
                    val, pval, dependent = run_test(X=[X], Y=[Y], Z=list(Z), tau_max=tau_max, alpha_or_thres=alpha)
                    self._update_pval_val_card_dicts(X, Y, pval, val, len(Z))
                    if not dependent:
                        found.add(frozenset(Z))
        return frozenset(found)
