"""tigramite's LPCMCI ancestral removal phase (its Algorithm S2) as our own loop, in tigramite's order.

tigramite walks the pairs of each lag group with ``itertools.product`` and asks, per pair,
``_is_smaller``, ``_get_link`` and its search sets through method calls. :class:`AncestralLPCMCI`
lists each group's pairs once per layout (the order and skips of tigramite's walk do not
depend on the graph), reads the link from graph_dict, and runs the same steps otherwise:
the same middle marks, sorts, tests (same X, Y, Z, in the same order), sepsets, removals at
the group's end, orientation phases and final marks. Verbose runs go to tigramite's own method.
The end-to-end tests against tigramite (tests/test_causal_lpcmci.py) pin it.

>>> from causalstream.models.causal.lpcmci import CovarianceLPCMCI
>>> lp = CovarianceLPCMCI(2, 1); lp.tau_max, lp.auto_first = 1, True
>>> lp._pair_groups()
[[((0, -1), (0, 0)), ((1, -1), (1, 0))], [((0, 0), (1, 0))], [((0, -1), (1, 0)), ((1, -1), (0, 0))]]
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any

from causalstream.models.causal.lpcmci_votes import VotingLPCMCI

__all__ = ["AncestralLPCMCI"]

Node = tuple[int, int]


class AncestralLPCMCI(VotingLPCMCI):
    """tigramite's LPCMCI whose ancestral removal phase is our loop.

    >>> from causalstream.models.causal.lpcmci import CovarianceLPCMCI
    >>> issubclass(CovarianceLPCMCI, AncestralLPCMCI)
    True
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._groups: dict[tuple, list[list[tuple[Node, Node]]]] = {}

    def _pair_groups(self) -> list[list[tuple[Node, Node]]]:
        """The (X, Y) pairs of each of tigramite's lag groups, after its skips that do not read the graph."""
        key = (self.N, self.tau_max, bool(self.auto_first))
        got = self._groups.get(key)
        if got is None:
            n, tau_max, groups = self.N, self.tau_max, []
            if self.auto_first:   # the autodependencies first: ((var, lag), (var, 0))
                groups.append([((i, lag), (i, 0)) for i in range(n) for lag in range(-tau_max, 0)])
            for tau in range(tau_max + 1):
                pairs = []
                for i in range(n):
                    for j in range(n):
                        X, Y = (i, -tau), (j, 0)
                        if self.auto_first and i == j:
                            continue
                        if (X[1] == 0 and i == j) or self._is_smaller(Y, X):
                            continue
                        pairs.append((X, Y))
                groups.append(pairs)
            got = self._groups[key] = groups
        return got

    def _run_ancestral_removal_phase(self, prelim: bool = False) -> bool:
        """tigramite's ``_run_ancestral_removal_phase`` (Algorithm S2), step for step.

        >>> import numpy as np
        >>> from causalstream.models.causal.lagcov import LaggedCovariance
        >>> from causalstream.models.causal.lpcmci import CovarianceLPCMCI, run_lpcmci
        >>> from causalstream.models.causal.parcorr import CovParCorr
        >>> X = np.random.default_rng(0).normal(size=(300, 2)); X[1:, 1] += X[:-1, 0]
        >>> g = run_lpcmci(CovarianceLPCMCI(2, 1), CovParCorr(LaggedCovariance(2, 300, 1).update_many(X).stats(), 2), 0, 1, 0.05)["graph"]
        >>> str(g[0, 1, 1])   # as tigramite's: 0 causes 1, or a hidden variable drives both
        'o->'
        """
        if self.verbosity >= 1:
            return super()._run_ancestral_removal_phase(prelim)
        p_pc = 0
        while_broken = False
        gd, test = self.graph_dict, self.cond_ind_test
        sort = self.break_once_separated or not math.isinf(self.max_q_global)
        while True:
            if p_pc > self.max_p_global:
                while_broken = True
                break
            has_converged = True
            any_removal = False
            lagged_x = self.max_cond_px > 0 and self.max_cond_px >= p_pc
            for pairs in self._pair_groups():
                to_remove: dict[int, dict[Node, bool]] = {j: {} for j in range(self.N)}
                for X, Y in pairs:
                    link = gd[Y[0]][X]   # _get_link(X, Y): Y at lag 0, X not after it
                    if link == "" or link[1] == "-":
                        continue
                    test_Y = link[1] not in ("R", "!")
                    test_X = link[1] not in ("L", "!") and (X[1] == 0 or lagged_x)
                    sides = []   # (tested end, other end, its middle mark, default, search): Y's first
                    for A, B, mark, tested in ((Y, X, "R", test_Y), (X, Y, "L", test_X)):
                        if not tested:
                            continue
                        S_default, S_search = self._get_default_and_search_sets(A, B, "ancestral")
                        if len(S_search) < p_pc:
                            self._apply_middle_mark(X, Y, mark)
                        else:
                            has_converged = False
                        sides.append([A, S_default, S_search])
                    if sort:   # both sorted before either is tested (the tests change the values sorted by)
                        for side in sides:
                            side[2] = self._sort_search_set(side[2], side[0])
                    for _, S_default, S_search in sides:
                        self._test_pair(X, Y, S_search, S_default, p_pc, to_remove, test)
                for j in range(self.N):
                    for (i, lag_i) in to_remove[j]:
                        any_removal = True
                        self._write_link((i, lag_i), (j, 0), "", verbosity=self.verbosity)
            if any_removal:
                only_lagged = self.orient_contemp != 2
                any_update = self._run_orientation_phase(rule_list=self._rules_prelim, only_lagged=only_lagged)
                if any_update:
                    if self.max_cond_px == 0 and self.update_middle_marks:
                        self._update_middle_marks()
                    p_pc = 0
                else:
                    p_pc = p_pc + 1
            elif has_converged:
                break
            else:
                p_pc = p_pc + 1
        self._mark_tested(while_broken)
        if not prelim or self.prelim_with_collider_rules:
            if not prelim:
                self.no_apr = self.no_apr - 1
            any_update = self._run_orientation_phase(rule_list=self._rules_all, only_lagged=False)
        else:
            only_lagged = not self.orient_contemp >= 1
            any_update = self._run_orientation_phase(rule_list=self._rules_prelim_final, only_lagged=only_lagged)
        if self.max_cond_px == 0 and self.update_middle_marks and any_update:
            self._update_middle_marks()
        return True

    def _test_pair(self, X: Node, Y: Node, search: Any, default: set, p_pc: int, to_remove: dict, test: Any) -> None:
        """One direction of a pair's tests at p_pc: X and Y given the default set and each p_pc of the search set."""
        q_count = 0
        for S_pc in combinations(search, p_pc):
            q_count = q_count + 1
            if q_count > self.max_q_global:
                break
            Z = set(S_pc)
            Z = Z.union(default)
            val, pval, dependent = test.run_test(X=[X], Y=[Y], Z=list(Z), tau_max=self.tau_max,
                                                 alpha_or_thres=self.pc_alpha)
            self._update_pval_val_card_dicts(X, Y, pval, val, len(Z))
            if not dependent:
                to_remove[Y[0]][X] = True
                self._save_sepset(X, Y, (frozenset(Z), "wm"))
                if self.break_once_separated:
                    break

    def _mark_tested(self, while_broken: bool) -> None:
        """tigramite's end of the test phase: every link's middle mark '!' unless it is '-' (with its checks)."""
        for j in range(self.N):
            for (i, lag_i) in self.graph_dict[j].keys():
                X, Y = (i, lag_i), (j, 0)
                if self._is_smaller(Y, X):
                    continue
                link = self._get_link(X, Y)
                if len(link) > 0:
                    if not while_broken:
                        assert link[1] != "?"
                        assert link[1] != "L"
                        assert ((link[1] != "R") or (lag_i < 0 and (self.max_cond_px > 0 or not self.update_middle_marks))
                                or (self.no_apr != 0))
                    if link[1] not in ["-", "!"]:
                        self._write_link(X, Y, link[0] + "!" + link[2])
