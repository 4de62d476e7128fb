"""PCMCI+ on the lagged covariance: tigramite's phases in our code, tigramite's flow as fallback.

At a float ``pc_alpha``, :func:`run_direct` runs PCMCI+'s four phases, each equal to
tigramite 5.2.10.1's: our batched PC1 (pc1.py), the MCI skeleton (pcmciplus_skeleton.py), the
collider phase (pcmciplus_colliders.py), both asked in batches and replayed in tigramite's
order (pcmciplus_ask.py), and the rule orientation (pcmciplus_rules.py).

Everything else (pc_alpha None or a list: tigramite's AIC search over alphas;
``reset_lagged_links``) runs tigramite's ``PCMCI.run_pcmciplus`` with plug-ins:

- :class:`CovarianceCITest`, a tigramite ``CondIndTest`` whose ``run_test`` answers from the
  covariance snapshot (a small solve) instead of building a lagged array from the window;
- :class:`CovariancePCMCI`, a ``PCMCI`` whose ``run_pc_stable`` is our batched PC1 and whose
  rule-orientation phase is ours.
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
from causalstream.models.causal.pcmciplus_ask import Asker
from causalstream.models.causal.pcmciplus_colliders import collider_phase
from causalstream.models.causal.pcmciplus_rules import orient_rules
from causalstream.models.causal.pcmciplus_skeleton import skeleton_phase
from causalstream.models.errors import ModelError, ParameterError

__all__ = ["CovarianceCITest", "CovariancePCMCI", "run_direct", "run_pcmciplus"]


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
        self._default: dict[tuple[int, int], LinkAssumptions] = {}

    def default_links(self, tau_min: int, tau_max: int) -> LinkAssumptions:
        """Every link from tau_min to tau_max (LinkAssumptions.default), made once: its arrays are cached.

        >>> pc = CovariancePCMCI(n_vars=2, tau_max=1); pc.default_links(0, 1) is pc.default_links(0, 1)
        True
        """
        got = self._default.get((tau_min, tau_max))
        if got is None:
            got = self._default[(tau_min, tau_max)] = LinkAssumptions.default(self.N, tau_min, tau_max)
        return got

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


def run_pcmciplus(pcmci: CovariancePCMCI, engine: CovParCorr, tau_min: int, tau_max: int,
                  pc_alpha: float | Sequence[float] | None,
                  max_conds_dim: int | None = None, fdr_method: str = "none",
                  links: LinkAssumptions | None = None, contemp_collider_rule: str | None = "majority",
                  conflict_resolution: bool = True, reset_lagged_links: bool = False, max_conds_py: int | None = None,
                  max_conds_px: int | None = None, max_conds_px_lagged: int | None = None) -> dict[str, np.ndarray]:
    """tigramite's ``run_pcmciplus`` on ``engine``: tigramite's results dict, equal to its own.

    A float ``pc_alpha`` runs every phase in our code (:func:`run_direct`); pc_alpha None or a
    list (tigramite's AIC search over alphas) and ``reset_lagged_links`` run tigramite's control
    flow on :class:`CovariancePCMCI` (our PC1, CI test and rule phase plugged in). ``links``
    (checked link assumptions) are treated as tigramite treats its ``link_assumptions``.

    >>> from causalstream.models.causal.lagcov import LaggedCovariance
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(300, 2)); X[:, 1] += X[:, 0]
    >>> eng = CovParCorr(LaggedCovariance(2, 300, 2).update_many(X).stats(), 2)
    >>> str(run_pcmciplus(CovariancePCMCI(2, 1), eng, 0, 1, 0.01)["graph"][0, 1, 0])
    'o-o'
    >>> str(run_pcmciplus(CovariancePCMCI(2, 1), eng, 0, 1, [0.01])["graph"][0, 1, 0])
    'o-o'
    """
    if isinstance(pc_alpha, (int, float, np.floating)) and not isinstance(pc_alpha, bool) and not reset_lagged_links:
        return run_direct(pcmci, engine, tau_min, tau_max, float(pc_alpha), max_conds_dim, fdr_method, links,
                          contemp_collider_rule, conflict_resolution, max_conds_py, max_conds_px, max_conds_px_lagged)
    pcmci.cond_ind_test.use(engine)
    pcmci.links = links
    return pcmci.run_pcmciplus(tau_min=tau_min, tau_max=tau_max, pc_alpha=pc_alpha,  # pyright: ignore[reportArgumentType]  # None / a list: tigramite's alpha search
                               max_conds_dim=max_conds_dim, fdr_method=fdr_method,
                               link_assumptions=None if links is None else links.links,
                               contemp_collider_rule=contemp_collider_rule or "none", conflict_resolution=conflict_resolution,
                               reset_lagged_links=reset_lagged_links, max_conds_py=max_conds_py,
                               max_conds_px=max_conds_px, max_conds_px_lagged=max_conds_px_lagged)


def run_direct(pcmci: CovariancePCMCI, engine: CovParCorr, tau_min: int, tau_max: int, pc_alpha: float,
               max_conds_dim: int | None = None, fdr_method: str = "none", links: LinkAssumptions | None = None,
               contemp_collider_rule: str | None = "majority", conflict_resolution: bool = True,
               max_conds_py: int | None = None, max_conds_px: int | None = None,
               max_conds_px_lagged: int | None = None) -> dict[str, np.ndarray]:
    """PCMCI+ at one pc_alpha in our code: PC1, skeleton, colliders, rules (tigramite's phases, in order).

    Sets ``pcmci.all_lagged_parents`` (and PC1's ``p_matrix`` / ``val_matrix``) as tigramite's
    run_pcmciplus does; returns its dict (graph, p_matrix, val_matrix, sepsets,
    ambiguous_triples, conf_matrix None).

    >>> from causalstream.models.causal.lagcov import LaggedCovariance
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(300, 3)); X[:, 1] += X[:, 0] + X[:, 2]
    >>> eng = CovParCorr(LaggedCovariance(3, 300, 2).update_many(X).stats(), 3)
    >>> res = run_direct(CovariancePCMCI(3, 1), eng, 0, 1, 0.01)
    >>> res["graph"][:, :, 0].tolist(), res["ambiguous_triples"]
    ([['', '-->', ''], ['<--', '', '<--'], ['', '-->', '']], [])
    """
    n = pcmci.N
    if not 0.0 <= pc_alpha <= 1.0:
        raise ParameterError("PCMCI+", f"pc_alpha must be in [0, 1], got {pc_alpha}")
    if not 0 <= tau_min <= tau_max:
        raise ParameterError("PCMCI+", f"need 0 <= tau_min <= tau_max, got {tau_min}, {tau_max}")
    pc = run_pc1_select(engine, n, tau_min, tau_max, pc_alpha, max_conds_dim, links)
    pcmci.all_parents, pcmci.p_matrix, pcmci.val_matrix = pc.parents, pc.p_matrix, pc.val_matrix
    full = links if links is not None else pcmci.default_links(tau_min, tau_max)
    cap = n * (tau_max - tau_min + 1)      # tigramite's default max_conds_py / px
    py = cap if max_conds_py is None else max_conds_py
    px = cap if max_conds_px is None else max_conds_px
    if py < 0 or px < 0:
        raise ParameterError("PCMCI+", "max_conds_py / max_conds_px must be >= 0")
    asker = Asker(engine, n, tau_max, pc_alpha, pc.parents, py, px, max_conds_px_lagged)
    sk = skeleton_phase(asker, full, pc.parents, tau_min, tau_max, max_conds_dim, fdr_method,
                        pc.p_matrix.copy(), pc.val_matrix.copy(), contemp_collider_rule)
    col = collider_phase(asker, sk.graph, sk.sepsets, contemp_collider_rule, conflict_resolution)
    graph = orient_rules(col.graph, col.ambiguous, conflict_resolution)
    pcmci.all_lagged_parents = pc.parents
    return {"graph": graph, "p_matrix": sk.p_matrix, "val_matrix": sk.val_matrix, "sepsets": col.sepsets,
            "ambiguous_triples": col.ambiguous, "conf_matrix": None}
