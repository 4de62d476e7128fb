"""Simulator scenes whose prior comes from our causal discovery, as the pipeline has it.

In the running pipeline the predictor gates attention with the latest /causal/graph, which the
discovery node computed over the stream *before* the window being predicted. This builds the
same thing offline for the robustness benchmark: each scene runs models/sim's HriSim at its
native 10 Hz for a burn-in, then ``discover_s`` seconds whose features (speed of the robot,
speed and acceleration of every human, as in launch/demo.yaml) go through WindowedPCMCI
(tau_max 2, alpha 0.001, the demo's settings); the agent-level graph of that result is the
scene's ``prior``. The trajectory window is the 20 frames at 2.5 Hz that follow. The simulator's
own agent graph is kept as ``parents`` to score the prior.
"""

from __future__ import annotations

import numpy as np

from causalstream.models.causal import WindowedPCMCI
from causalstream.models.causal.graph import LaggedGraph
from causalstream.models.features import FeatureExtractor, FeatureSpec
from causalstream.models.sim.hri import HriSim
from causalstream.models.sim.scenes import draw_roles, scene_seed

from synthetic_scenes import Scene

SIM_HZ, STRIDE, STEPS = 10.0, 4, 20  # 10 Hz simulator, every 4th frame: 2.5 Hz windows of 20 frames


def discovered_adjacency(frames: list, ids: list[str], roles: list[str], tau_max: int = 2,
                         alpha: float = 0.001) -> np.ndarray:
    """adj [A, A] in ``ids`` order from WindowedPCMCI's graph, read as the predictor node reads
    /causal/graph (LaggedGraph.agent_adjacency: ``agent.variable`` names, directed links)."""
    humans = tuple(i for i, r in zip(ids, roles) if r != "robot")
    spec = FeatureSpec(robot_variables=("v",), human_variables=("v", "a"), humans=humans)
    x = FeatureExtractor(spec).transform(frames)
    res = WindowedPCMCI(x.shape[1], window=len(x), tau_max=tau_max, alpha_level=alpha).update_many(x).results()
    names, adj = LaggedGraph.from_results(res, spec.names).agent_adjacency()
    order = [names.index(a) for a in ids]
    return adj[np.ix_(order, order)].astype(np.float32)


def discovered_scenes(n: int, seed: int, discover_s: float = 30.0, burn_in_s: float = 5.0,
                      max_humans: int = 6) -> list[Scene]:
    """``n`` scenes (role counts drawn as in models/sim's hri_scenes) with a discovered ``prior``."""
    rng = np.random.default_rng(seed)
    scenes = []
    for k in range(n):
        n_reactive, n_followers, n_distractors = draw_roles(rng, max_humans)
        sim = HriSim(n_reactive=n_reactive, n_followers=n_followers, n_distractors=n_distractors,
                     rate_hz=SIM_HZ, seed=scene_seed(seed, k))
        burn, learn = int(burn_in_s * SIM_HZ), int(discover_s * SIM_HZ)
        frames = sim.run(burn + learn + STEPS * STRIDE)
        ids, truth = sim.agent_graph()
        prior = discovered_adjacency(frames[burn : burn + learn], ids, list(sim.roles))
        window = frames[burn + learn + STRIDE - 1 :: STRIDE]
        positions = np.stack([f.positions() for f in window], axis=1).astype(np.float32)
        scenes.append(Scene(positions=positions, roles=list(sim.roles), parents=truth > 0, prior=prior))
    return scenes
