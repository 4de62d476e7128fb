"""WindowedPCMCI: PCMCI / PCMCI+ over a sliding window, kept up to date sample by sample.

``update(x)`` adds one sample to the lagged covariance (O(D^2), D = N (2 tau_max + 1),
whatever the window) and to the statistics of the chosen CI test (citests.py); ``results()``
runs PC1 + MCI (or PCMCI+) on a snapshot of them. With ``ci_test`` "parcorr" or
"robustparcorr" it returns what tigramite's ``run_pcmci`` / ``run_pcmciplus`` (or, with
``method="lpcmci"``, ``LPCMCI.run_lpcmci``: a PAG, hidden causes as ``<->``; its bounds in
``lpcmci_params``, lpcmci.py) with ``ParCorr()`` / ``RobustParCorr()`` returns on
``DataFrame(X[-window:])``; "rcot" is our
streaming kernel test (rcot.py); "cmiknn" and "gpdc" run tigramite itself on the window.

Missing values (NaN): ``missing="complete"`` is tigramite's ``missing_flag`` (each test drops
the rows where one of its own nodes is missing), but a window with fewer than 3 complete
lagged rows gives an empty graph (status "insufficient", and ``status_reason`` says so).
``missing="testwise"`` never falls back: each test uses the rows where X, Y and Z at their
lags are observed, and a test with too few rows is answered val 0, p 1 (status
"insufficient"). Every result says, per link, what its last test could use (linkstatus.py).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from causalstream.models.causal.batch import BATCH_TESTS, run_tigramite
from causalstream.models.causal.citests import TESTS, make_test
from causalstream.models.causal.lagcov import LaggedCovariance
from causalstream.models.causal.links import LinkAssumptions
from causalstream.models.causal.linkstatus import INSUFFICIENT, TESTED, Ledger, link_report
from causalstream.models.causal.lpcmci import BudgetExceeded, CovarianceLPCMCI, check_params, run_lpcmci
from causalstream.models.causal.masked import MaskedParCorr
from causalstream.models.causal.mci import run_mci
from causalstream.models.causal.pc1 import run_pc1_select
from causalstream.models.causal.pcmciplus import CovariancePCMCI, run_pcmciplus
from causalstream.models.errors import ParameterError

__all__ = ["WindowedPCMCI"]

METHODS = ("pcmci", "pcmciplus", "lpcmci")
MISSING = ("complete", "testwise")
TESTWISE_TESTS = ("parcorr", "robustparcorr")
CI_TESTS = tuple(TESTS) + tuple(name for name in BATCH_TESTS if name not in TESTS)


class WindowedPCMCI:
    """Incremental windowed PCMCI / PCMCI+ (ParCorr and RobustParCorr exact, RCoT streaming).

    ``ci_params`` are the CI test's own settings (for "rcot": ``n_features``, ``seed``,
    ``bandwidth``...); ``results()["ci_settings"]`` gives them back in full.
    ``link_assumptions`` is tigramite's dict ``{j: {(i, -tau): mark}}`` (links.py; build it
    from readable rules with assumptions.compile), for the streaming tests.

    ``missing`` ("complete" | "testwise", see the module docstring; "testwise" for parcorr
    and robustparcorr: rcot's feature moments are kept over complete rows only, so it is
    refused). Whatever the mode, ``results()`` says what each link's last test could use:

    - ``n_eff`` int [N, N, tau_max + 1]: the rows that test used (0 if not tested; a lag-0
      pair: the smaller of its two tests; -1 for the batch tests cmiknn / gpdc, not tracked);
    - ``link_status`` str [N, N, tau_max + 1]: "tested"; "insufficient" (too few rows, df < 1:
      under "testwise" p 1, val 0, graph ""; under "complete" tigramite's p NaN); "deterministic"
      (|partial corr| >= 1 - 1e-9, or X or Y in the span of Z; rcot: left "tested"); "assumed"
      (link_assumptions decided it); "untested" (lag-0 self links, lags < tau_min);
    - ``graph_status``: "ok", "partial" (some links insufficient or deterministic) or
      "insufficient" (no link testable), or "stale" (``method="lpcmci"`` with ``time_budget_ms``: the
      refresh ran past its budget and stopped; the last complete results come back, ``overruns``
      counts such refreshes); ``status_reason``: one line, e.g.
      "b observed in 0 of 500 samples; 14 of 24 links insufficient".

    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(600, 3)); X[1:, 1] += 0.7 * X[:-1, 0]
    >>> m = WindowedPCMCI(n_vars=3, window=500, tau_max=2).update_many(X)
    >>> r = m.results()
    >>> str(r["graph"][0, 1, 1]), r["n_samples"], r["first_index"], r["last_index"]
    ('-->', 500, 100, 599)
    >>> X[:, 2] = np.nan; r = WindowedPCMCI(3, 500, 2, missing="testwise").update_many(X).results()
    >>> str(r["graph"][0, 1, 1]), str(r["link_status"][2, 1, 1]), int(r["n_eff"][0, 1, 1]), r["graph_status"]
    ('-->', 'insufficient', 496, 'partial')
    >>> r["status_reason"]
    '$2$ observed in 0 of 500 samples; 14 of 24 links insufficient'
    """

    def __init__(self, n_vars: int, window: int, tau_max: int, tau_min: int = 0, method: str = "pcmci",
                 pc_alpha: float | None = 0.05, alpha_level: float = 0.05, max_conds_dim: int | None = None,
                 fdr_method: str = "none", var_names: Sequence[str] | None = None, ci_test: str = "parcorr",
                 forgetting: float | None = None, max_conds_py: int | None = None,
                 max_conds_px: int | None = None, ci_params: Mapping[str, Any] | None = None,
                 link_assumptions: Mapping[int, Mapping] | None = None, missing: str = "complete",
                 lpcmci_params: Mapping[str, Any] | None = None, time_budget_ms: float | None = None) -> None:
        self.n_vars = n_vars
        self.window = window
        self.tau_max = tau_max
        self.tau_min = tau_min
        self.method = method
        self.pc_alpha = pc_alpha
        self.alpha_level = alpha_level
        self.max_conds_dim = max_conds_dim
        self.fdr_method = fdr_method
        self.var_names = list(var_names) if var_names is not None else [f"${i}$" for i in range(n_vars)]
        self.ci_test = ci_test
        self.forgetting = forgetting
        self.max_conds_py = max_conds_py
        self.max_conds_px = max_conds_px
        self.ci_params = dict(ci_params or {})
        self.link_assumptions = link_assumptions
        self.missing = missing
        self.lpcmci_params = dict(lpcmci_params or {})
        self.time_budget_ms = time_budget_ms
        self.overruns = 0  # refreshes stopped at time_budget_ms
        self._last: dict[str, Any] | None = None  # the last complete results, for a refresh that overruns
        self._check()
        self.links = None if link_assumptions is None else LinkAssumptions.check(link_assumptions, n_vars, tau_min, tau_max)
        self.cov = LaggedCovariance(n_vars, window, 2 * tau_max, forgetting=forgetting)
        self.test = make_test(ci_test, n_vars, window, 2 * tau_max, **self.ci_params) if ci_test in TESTS else None
        self._plus = CovariancePCMCI(n_vars, tau_max, self.var_names) if method == "pcmciplus" else None
        self._lp = CovarianceLPCMCI(n_vars, tau_max, self.var_names) if method == "lpcmci" else None

    def _check(self) -> None:
        def bad(reason: str) -> ParameterError:
            return ParameterError("WindowedPCMCI", reason)

        if self.n_vars < 1 or self.tau_max < 0 or not 0 <= self.tau_min <= self.tau_max:
            raise bad(f"need n_vars >= 1 and 0 <= tau_min <= tau_max, got {self.n_vars}, {self.tau_min}, {self.tau_max}")
        if self.window <= 2 * self.tau_max + 1:
            raise bad(f"window must exceed 2 * tau_max + 1, got {self.window}")
        if self.method not in METHODS:
            raise bad(f"method must be one of {METHODS}, got {self.method!r}")
        if self.ci_test not in CI_TESTS:
            raise bad(f"ci_test must be one of {CI_TESTS}, got {self.ci_test!r}")
        if self.fdr_method not in ("none", "fdr_bh"):
            raise bad(f"fdr_method must be 'none' or 'fdr_bh', got {self.fdr_method!r}")
        if self.pc_alpha is not None and not 0.0 <= self.pc_alpha <= 1.0:
            raise bad(f"pc_alpha must be in [0, 1] or None, got {self.pc_alpha}")
        if len(self.var_names) != self.n_vars:
            raise bad(f"{len(self.var_names)} var_names for {self.n_vars} variables")
        if self.forgetting is not None and self.ci_test != "parcorr":
            raise bad("forgetting needs ci_test='parcorr' (the other tests see the window only)")
        if self.ci_params and self.ci_test not in TESTS:
            raise bad(f"ci_params are for the streaming tests {tuple(TESTS)}, not {self.ci_test!r}")
        if self.method == "pcmciplus" and (self.max_conds_px is not None or self.max_conds_py is not None):
            raise bad("max_conds_px / max_conds_py are supported for method='pcmci' only")
        if self.method == "lpcmci":
            self._check_lpcmci(bad)
        elif self.lpcmci_params or self.time_budget_ms is not None:
            raise bad(f"lpcmci_params and time_budget_ms are for method='lpcmci', not {self.method!r}")
        if self.link_assumptions is not None and self.ci_test not in TESTS:
            raise bad(f"link_assumptions are for the streaming tests {tuple(TESTS)}, not {self.ci_test!r}")
        if self.missing not in MISSING:
            raise bad(f"missing must be one of {MISSING}, got {self.missing!r}")
        if self.missing == "testwise" and self.ci_test not in TESTWISE_TESTS:
            raise bad(f"missing='testwise' needs ci_test in {TESTWISE_TESTS}, not {self.ci_test!r} "
                      "(its statistics are kept over complete rows only)")
        if self.missing == "testwise" and self.forgetting is not None:
            raise bad("missing='testwise' needs a sliding window, not forgetting (which drops rows with a NaN)")

    def update(self, x: np.ndarray) -> WindowedPCMCI:
        """Add one sample [N] (NaN = missing); returns self.

        >>> WindowedPCMCI(2, 10, 1).update(np.array([0.5, np.nan])).cov.n_missing
        1
        """
        self.cov.update(x)
        if self.test is not None:
            self.test.update(x)
        return self

    def update_many(self, X: np.ndarray) -> WindowedPCMCI:
        """Add a block [T, N] of samples, oldest first; returns self.

        >>> WindowedPCMCI(2, 10, 1).update_many(np.zeros((25, 2))).cov.n_samples
        10
        """
        for x in np.asarray(X, dtype=np.float64).reshape(-1, self.n_vars):
            self.update(x)
        return self

    def reset(self) -> WindowedPCMCI:
        """Empty the window (used after a drift event); returns self.

        >>> WindowedPCMCI(2, 10, 1).update_many(np.zeros((5, 2))).reset().cov.n_samples
        0
        """
        self.cov.reset()
        if self.test is not None:
            self.test.reset()
        self._last = None
        return self

    def snapshot(self) -> WindowedPCMCI:
        """An independent copy of the window (its statistics copied), to refresh elsewhere.

        >>> m = WindowedPCMCI(1, 10, 1).update_many(np.zeros((5, 1)))
        >>> s = m.snapshot(); _ = m.update(np.ones(1)); s.cov.n_samples, m.cov.n_samples
        (5, 6)
        """
        out = copy.copy(self)
        out.cov = self.cov.copy()
        out.test = copy.deepcopy(self.test)
        return out

    def samples(self) -> np.ndarray:
        """The window's samples [T, N], oldest first (NaN kept): what :meth:`restore` takes back.

        >>> WindowedPCMCI(2, 10, 1).update_many(np.arange(30.0).reshape(15, 2)).samples()[0].tolist()
        [10.0, 11.0]
        """
        return self.cov.samples()

    def restore(self, samples: np.ndarray) -> WindowedPCMCI:
        """Empty the window and take back saved samples [T, N] (oldest first, NaN kept); returns self.

        A restored window gives the saved window's graph (val and p to rounding: the saved
        one's sums were kept by sliding, the restored one's are summed afresh).

        >>> X = np.random.default_rng(0).normal(size=(80, 2)); X[1:, 1] += 0.8 * X[:-1, 0]
        >>> m = WindowedPCMCI(2, 60, 1).update_many(X)
        >>> back = WindowedPCMCI(2, 60, 1).restore(m.samples())
        >>> a, b = m.results(), back.results()
        >>> bool((a["graph"] == b["graph"]).all()), bool(np.allclose(a["p_matrix"], b["p_matrix"], atol=1e-10))
        (True, True)
        """
        samples = np.asarray(samples, dtype=np.float64)
        if samples.ndim != 2 or samples.shape[1] != self.n_vars:
            raise ParameterError("WindowedPCMCI.restore", f"samples have shape {samples.shape}, want (T, {self.n_vars})")
        return self.reset().update_many(samples)

    def results(self) -> dict[str, Any]:
        """The graph of the current window, in tigramite's keys, plus window metadata.

        Keys: graph, val_matrix, p_matrix ([N, N, tau_max + 1]; p 1.0 where untested),
        parents (lagged parents from PC1, None for batch tests), var_names, method, ci_test,
        ci_settings (the test's parameters), n_degenerate (tests answered val 0, p 1 because a
        variable was constant or too tied, or the rows too few), tau_min, tau_max, pc_alpha,
        alpha_level, n_samples, n_rows (complete lagged rows), n_missing, first_index,
        last_index (absolute sample indices, -1 when empty), compute_ms, assumed (bool
        [N, N, tau_max + 1], True where a link assumption decided the link: '-->', '<--' or
        'o-o' given, or the link forbidden), missing, and the statuses of the class docstring
        (n_eff, link_status, graph_status, status_reason).

        >>> r = WindowedPCMCI(2, 10, 1).results()
        >>> r["graph"].shape, r["ci_settings"], r["n_degenerate"], r["first_index"], r["graph_status"]
        ((2, 2, 2), {}, 0, -1, 'insufficient')
        >>> r["status_reason"]
        'no lagged row yet: 0 samples, a row needs 3; 6 of 6 links insufficient'
        """
        t0 = time.perf_counter()
        shape = (self.n_vars, self.n_vars, self.tau_max + 1)
        lagged_rows = max(0, self.cov.n_samples - 2 * self.tau_max)
        why = ""
        if lagged_rows == 0:
            why = f"no lagged row yet: {self.cov.n_samples} samples, a row needs {2 * self.tau_max + 1}"
        elif self.missing == "complete" and self.cov.n_rows < 3:
            why = (f"{self.cov.n_rows:g} of {lagged_rows} lagged rows complete, missing='complete' needs 3 "
                   "(missing='testwise' tests each link on its own rows)")
        if why:
            out = self._empty()
            code, n_eff = np.full(shape, INSUFFICIENT, dtype=np.int8), np.zeros(shape, dtype=np.int64)
        elif self.test is None:
            out = run_tigramite(self.cov.samples(), self.ci_test, self.method, self.tau_min, self.tau_max,
                                self.pc_alpha, self.alpha_level, self.max_conds_dim, self.fdr_method, self.var_names)
            out["n_degenerate"] = 0
            code, n_eff = np.full(shape, TESTED, dtype=np.int8), np.full(shape, -1, dtype=np.int64)
        else:
            testwise = self.missing == "testwise"
            # ParCorr's test-wise engine sums each test's own rows through shared masks (masked.py);
            # RobustParCorr ranks per row group already (robust.py)
            masked = testwise and self.ci_test == "parcorr" and self.cov.n_missing > 0   # no NaN: the same rows
            engine = MaskedParCorr.from_lagcov(self.cov, self.n_vars) if masked else self.test.engine(self.cov)
            ledger = Ledger(engine, self.n_vars, self.tau_max, testwise=testwise)
            try:
                out = self._run_streaming(ledger)
            except BudgetExceeded:
                return self._overrun(t0)
            code, n_eff = ledger.code, ledger.n_eff
        out.update(self._metadata())
        observed = (np.count_nonzero(np.isfinite(self.cov.samples()), axis=0) if self.cov.n_missing
                    else np.full(self.n_vars, self.cov.n_samples))
        out.update(link_report(code, n_eff, self.tau_min, out["assumed"], observed, self.var_names,
                               self.cov.n_samples, why))
        out["compute_ms"] = (time.perf_counter() - t0) * 1e3
        if self.time_budget_ms is not None:
            self._last = out
        return out

    def _overrun(self, t0: float) -> dict[str, Any]:
        """A refresh stopped at its budget: the last complete results, graph_status 'stale', never a half-done PAG."""
        self.overruns += 1
        spent = (time.perf_counter() - t0) * 1e3
        why = f"refresh stopped after {spent:.0f} ms, past its time budget of {self.time_budget_ms:g} ms"
        if self._last is None:
            shape = (self.n_vars, self.n_vars, self.tau_max + 1)
            out = self._empty() | self._metadata()
            out.update(n_eff=np.zeros(shape, dtype=np.int64), link_status=np.full(shape, "untested", dtype="<U13"),
                       status_reason=f"{why}; no complete graph yet")
        else:
            out = dict(self._last)
            out.update(overruns=self.overruns, status_reason=f"{why}; the graph of samples "
                       f"{out['first_index']}-{out['last_index']} (its last complete refresh)")
        out.update(graph_status="stale", compute_ms=spent)
        return out

    def _check_lpcmci(self, bad: Callable[[str], ParameterError]) -> None:
        if self.pc_alpha is None:
            raise bad("method='lpcmci' needs a pc_alpha in [0, 1] (tigramite's LPCMCI has no pc_alpha search)")
        if self.fdr_method != "none" or self.max_conds_dim is not None or self.max_conds_px is not None \
                or self.max_conds_py is not None:
            raise bad("method='lpcmci' takes no fdr_method, max_conds_dim or max_conds_px/py: its bounds are lpcmci_params")
        if self.ci_test not in TESTS:
            raise bad(f"method='lpcmci' needs a streaming ci_test {tuple(TESTS)}, not {self.ci_test!r}")
        check_params(self.lpcmci_params)
        if self.time_budget_ms is not None and not self.time_budget_ms > 0:
            raise bad(f"time_budget_ms must be > 0, got {self.time_budget_ms}")

    def _run_streaming(self, engine: Ledger) -> dict[str, Any]:
        if self.method == "lpcmci":
            res = run_lpcmci(self._lp, engine, self.tau_min, self.tau_max, self.pc_alpha,  # pyright: ignore[reportArgumentType]
                             self.links, self.lpcmci_params, self.time_budget_ms)
        elif self.method == "pcmciplus":
            res = run_pcmciplus(self._plus, engine, self.tau_min, self.tau_max, self.pc_alpha,  # pyright: ignore[reportArgumentType]
                                self.max_conds_dim, self.fdr_method, self.links)
            res = {"graph": res["graph"], "val_matrix": res["val_matrix"], "p_matrix": res["p_matrix"],
                   "parents": self._plus.all_lagged_parents}
        else:
            pc = run_pc1_select(engine, self.n_vars, self.tau_min, self.tau_max, self.pc_alpha, self.max_conds_dim,
                                self.links, values=False)   # MCI needs PC1's parents only
            res = run_mci(engine, pc.parents, self.n_vars, self.tau_min, self.tau_max, self.alpha_level,
                          self.fdr_method, self.max_conds_py, self.max_conds_px, self.links)
            res["parents"] = pc.parents
        res["n_degenerate"] = engine.n_degenerate
        return res

    def _empty(self) -> dict[str, Any]:
        shape = (self.n_vars, self.n_vars, self.tau_max + 1)
        return {"graph": np.zeros(shape, dtype="<U3"), "val_matrix": np.zeros(shape), "p_matrix": np.ones(shape),
                "parents": {j: [] for j in range(self.n_vars)}, "n_degenerate": 0}

    def _assumed(self) -> np.ndarray:
        if self.links is None:
            return np.zeros((self.n_vars, self.n_vars, self.tau_max + 1), dtype=bool)
        return self.links.assumed.copy()

    def _metadata(self) -> dict[str, Any]:
        c = self.cov
        settings = self.test.settings() if self.test is not None else {}
        return {"var_names": list(self.var_names), "method": self.method, "ci_test": self.ci_test, "missing": self.missing,
                "ci_settings": settings, "assumed": self._assumed(),
                "tau_min": self.tau_min, "tau_max": self.tau_max, "pc_alpha": self.pc_alpha,
                "alpha_level": self.alpha_level, "n_samples": c.n_samples, "n_rows": c.n_rows,
                "n_missing": c.n_missing, "overruns": self.overruns,
                "first_index": c.n_seen - c.n_samples if c.n_samples else -1,
                "last_index": c.n_seen - 1 if c.n_samples else -1}
