"""PCMCI+ on the lagged covariance, through tigramite's own control flow.

PCMCI+'s contemporaneous phases (skeleton with sepsets, collider orientation with the
'majority' rule, Meek-style rules with conflict resolution) are long and order-sensitive.
Rather than re-write them, we run tigramite's ``PCMCI.run_pcmciplus`` with two plug-ins:

- :class:`CovarianceCITest`, a tigramite ``CondIndTest`` whose ``run_test`` answers from the
  covariance snapshot (a small solve) instead of building a lagged array from the window;
- :class:`CovariancePCMCI`, a ``PCMCI`` whose ``run_pc_stable`` is our batched PC1 and whose
  rule-orientation phase is ours (pcmciplus_rules.py).

The graph logic is then tigramite's, line for line; only the arithmetic moves.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tigramite.data_processing import DataFrame
from tigramite.independence_tests.independence_tests_base import CondIndTest
from tigramite.pcmci import PCMCI

from causalstream.models.causal.links import LinkAssumptions
from causalstream.models.causal.parcorr import CovParCorr
from causalstream.models.causal.pc1 import Node, run_pc1_select
from causalstream.models.causal.pcmciplus_rules import orient_rules
from causalstream.models.errors import ModelError

__all__ = ["CovarianceCITest", "CovariancePCMCI", "run_pcmciplus"]


class CovarianceCITest(CondIndTest):
    """tigramite CI-test plug-in answering ParCorr tests from a :class:`CovParCorr` engine.

    >>> CovarianceCITest().measure
    'par_corr'
    """

    def __init__(self) -> None:
        super().__init__()
        self.engine: CovParCorr | None = None
        self.two_sided = True
        self.residual_based = True
        self._cache: dict[tuple, tuple[float, float]] = {}

    @property
    def measure(self) -> str:
        """The measure name tigramite checks ('par_corr').

        >>> CovarianceCITest().measure
        'par_corr'
        """
        return "par_corr"

    def use(self, engine: CovParCorr) -> None:
        """Point the test at a new covariance snapshot (and forget cached answers).

        >>> t = CovarianceCITest(); t.use(None); t.engine is None
        True
        """
        self.engine = engine
        self._cache = {}

    def get_dependence_measure(self, array: np.ndarray, xyz: np.ndarray, data_type: np.ndarray | None = None) -> float:
        """Not used: tests never build an array here.

        >>> CovarianceCITest().get_dependence_measure(np.zeros((2, 3)), np.array([0, 1]))
        Traceback (most recent call last):
        ...
        causalstream.models.errors.ModelError: CovarianceCITest: answers from the covariance only
        """
        raise ModelError("CovarianceCITest", "answers from the covariance only")

    def run_test(self, X: Sequence[Node], Y: Sequence[Node], Z: Sequence[Node] | None = None, tau_max: int = 0,
                 cut_off: str = "2xtau_max", alpha_or_thres: float | None = None) -> tuple:
        """tigramite's ``run_test`` contract: (val, pval[, dependent]).

        >>> from causalstream.models.causal.lagcov import LaggedCovariance
        >>> t = CovarianceCITest(); t.use(CovParCorr(LaggedCovariance(2, 50, 0).update_many(np.ones((50, 2))).stats(), 2))
        >>> t.run_test([(0, 0)], [(1, 0)], [], alpha_or_thres=0.05)
        (0.0, 1.0, False)
        """
        x, y = (int(X[0][0]), int(X[0][1])), (int(Y[0][0]), int(Y[0][1]))
        z = tuple(self.engine.clean_z(x, y, Z or []))
        key = (frozenset((x, y)), frozenset(z))
        if key not in self._cache:
            self._cache[key] = self.engine.test_one(x, y, z)
        elif hasattr(self.engine, "note"):
            self.engine.note(x, y, z)  # pyright: ignore[reportAttributeAccessIssue, reportOptionalMemberAccess]  # a Ledger (linkstatus.py): this is the link's last test now
        val, pval = self._cache[key]
        if alpha_or_thres is None:
            return val, pval
        return val, pval, bool(pval <= alpha_or_thres)

    def get_model_selection_criterion(self, j: int, parents: Sequence[Node], tau_max: int = 0,
                                      criterion: str = "aic") -> float:
        """AIC of j on its parents, for tigramite's pc_alpha search.

        >>> from causalstream.models.causal.lagcov import LaggedCovariance
        >>> t = CovarianceCITest(); t.use(CovParCorr(LaggedCovariance(1, 50, 0).update_many(np.arange(50.0)[:, None]).stats(), 1))
        >>> round(t.get_model_selection_criterion(0, []), 3)
        197.601
        """
        return self.engine.aic(j, list(parents))


class CovariancePCMCI(PCMCI):
    """tigramite's PCMCI with our batched PC1 as its ``run_pc_stable``.

    >>> CovariancePCMCI(n_vars=2, tau_max=1).N
    2
    """

    def __init__(self, n_vars: int, tau_max: int, var_names: Sequence[str] | None = None) -> None:
        frame = DataFrame(np.zeros((2 * tau_max + n_vars + 2, n_vars)), var_names=list(var_names) if var_names else None)
        super().__init__(dataframe=frame, cond_ind_test=CovarianceCITest())
        self.links: LinkAssumptions | None = None

    def run_pc_stable(self, selected_links: object = None, link_assumptions: object = None, tau_min: int = 1,
                      tau_max: int = 1, save_iterations: bool = False, pc_alpha: float | None = 0.2,
                      max_conds_dim: int | None = None, max_combinations: int = 1) -> dict[int, list[Node]]:
        """Batched PC1 on the covariance; sets ``p_matrix``/``val_matrix`` as tigramite does.

        >>> from causalstream.models.causal.lagcov import LaggedCovariance
        >>> pc = CovariancePCMCI(n_vars=1, tau_max=1)
        >>> x = np.zeros(200); e = np.random.default_rng(0).normal(size=200)
        >>> for t in range(1, 200): x[t] = 0.8 * x[t - 1] + e[t]
        >>> pc.cond_ind_test.use(CovParCorr(LaggedCovariance(1, 200, 2).update_many(x[:, None]).stats(), 1))
        >>> pc.run_pc_stable(tau_max=1, pc_alpha=0.05)
        {0: [(0, -1)]}
        """
        links = None
        if link_assumptions is not None:
            if self.links is None or self.links.links is not link_assumptions:
                self.links = LinkAssumptions.check(link_assumptions, self.N, tau_min, tau_max)
            links = self.links
        res = run_pc1_select(self.cond_ind_test.engine, self.N, tau_min, tau_max, pc_alpha, max_conds_dim, links)
        self.all_parents = res.parents
        self.p_matrix, self.val_matrix = res.p_matrix, res.val_matrix
        return res.parents


    def _pcmciplus_rule_orientation_phase(self, collider_graph: np.ndarray, ambiguous_triples: list,
                                          conflict_resolution: bool) -> np.ndarray:
        """The rule-orientation phase in our code (pcmciplus_rules.py), equal to tigramite's.

        >>> g = np.full((2, 2, 1), "", dtype="<U3"); g[0, 1, 0] = g[1, 0, 0] = "o-o"
        >>> str(CovariancePCMCI(2, 0)._pcmciplus_rule_orientation_phase(g, [], True)[0, 1, 0])
        'o-o'
        """
        return orient_rules(collider_graph, ambiguous_triples, conflict_resolution)


def run_pcmciplus(pcmci: CovariancePCMCI, engine: CovParCorr, tau_min: int, tau_max: int, pc_alpha: float | None,
                  max_conds_dim: int | None = None, fdr_method: str = "none",
                  links: LinkAssumptions | None = None) -> dict[str, np.ndarray]:
    """tigramite's ``run_pcmciplus`` (defaults: majority collider rule, conflict resolution) on ``engine``.

    ``links`` (checked link assumptions) go to tigramite as its ``link_assumptions``: its
    skeleton, collider and orientation phases treat them as tigramite does; our PC1 takes
    the lagged ones.

    >>> from causalstream.models.causal.lagcov import LaggedCovariance
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(300, 2)); X[:, 1] += X[:, 0]
    >>> eng = CovParCorr(LaggedCovariance(2, 300, 2).update_many(X).stats(), 2)
    >>> str(run_pcmciplus(CovariancePCMCI(2, 1), eng, 0, 1, 0.01)["graph"][0, 1, 0])
    'o-o'
    """
    pcmci.cond_ind_test.use(engine)
    pcmci.links = links
    return pcmci.run_pcmciplus(tau_min=tau_min, tau_max=tau_max, pc_alpha=pc_alpha, max_conds_dim=max_conds_dim,
                               fdr_method=fdr_method, link_assumptions=None if links is None else links.links)
