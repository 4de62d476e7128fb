"""WindowedPCMCI equals tigramite (run_pcmci / run_pcmciplus with ParCorr) on the same window.

The contract of issue 5: for random windows of tigramite's toy models (N in {3, 5, 8, 12},
tau_max in {1, 3, 5}, lagged and contemporaneous links, Gaussian and Weibull noise), after
the window has slid, the graph strings are identical and |val|, |p| differ by <= 1e-8.
Each configuration checks two or three windows along one slide, with both methods: 66 windows.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from causal_toys import assert_same, tigramite_run, toy_data  # noqa: E402

from causalstream.models.causal import WindowedPCMCI  # noqa: E402

WINDOW = {3: 150, 5: 180, 8: 200, 12: 200}
CHECKS = {3: 3, 5: 3, 8: 3, 12: 2}
CASES = [(n, tau, noise) for n in (3, 5, 8, 12) for tau in (1, 3, 5) for noise in ("gaussian", "weibull")]


@pytest.mark.parametrize(("n_vars", "tau_max", "noise"), CASES, ids=[f"N{n}-tau{t}-{z}" for n, t, z in CASES])
def test_sliding_windows_equal_tigramite(n_vars: int, tau_max: int, noise: str) -> None:
    seed = 100 * n_vars + 10 * tau_max + (noise == "weibull")
    W = WINDOW[n_vars]
    data, _ = toy_data(n_vars, tau_max, T=W + 3 * 37, seed=seed, noise=noise)
    rng = np.random.default_rng(seed)
    pcmci = WindowedPCMCI(n_vars, W, tau_max, method="pcmci", pc_alpha=0.1, alpha_level=0.05)
    plus = WindowedPCMCI(n_vars, W, tau_max, method="pcmciplus", pc_alpha=0.05)
    end = W + int(rng.integers(5, 30))
    pcmci.update_many(data[:end])
    plus.update_many(data[:end])
    for _ in range(CHECKS[n_vars]):
        window = data[end - W:end]
        assert_same(pcmci.results(), tigramite_run(window, "pcmci", tau_max, pc_alpha=0.1, alpha_level=0.05))
        assert_same(plus.results(), tigramite_run(window, "pcmciplus", tau_max, pc_alpha=0.05))
        step = int(rng.integers(1, 30))
        for x in data[end:end + step]:  # one sample at a time: the streaming path
            pcmci.update(x)
            plus.update(x)
        end += step
