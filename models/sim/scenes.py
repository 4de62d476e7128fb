"""Trajectory scenes for predictor benchmarks: positions at 2.5 Hz plus who influences whom.

The simulator runs at ``sim_rate_hz`` (10 Hz, where its dynamics are tuned) and every
``sim_rate_hz / rate_hz``-th frame is kept, the ETH/UCY rate. The adjacency is the
simulator's agent graph, so a predictor's causal gate can be scored against the agents
that truly matter (distractors: none).

>>> scene = hri_scene(n_frames=20, seed=0)
>>> scene.positions.shape, scene.adjacency.shape
((6, 20, 2), (6, 6))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from causalstream.models.errors import ParameterError
from causalstream.models.sim.hri import HriSim

__all__ = ["Scene", "draw_roles", "hri_scene", "hri_scenes", "scene_seed"]


@dataclass(frozen=True)
class Scene:
    """``positions`` [A, T, 2] (m), ``adjacency`` [A, A] (adj[a, b] = 1: a influences b).

    >>> Scene(ids=["robot"], roles=["robot"], positions=np.zeros((1, 3, 2)), adjacency=np.zeros((1, 1)), rate_hz=2.5).rate_hz
    2.5
    """

    ids: list[str]
    roles: list[str]
    positions: np.ndarray
    adjacency: np.ndarray
    rate_hz: float


def hri_scene(n_frames: int, seed: int = 0, n_reactive: int = 2, n_followers: int = 1, n_distractors: int = 2,
              rate_hz: float = 2.5, sim_rate_hz: float = 10.0, burn_in_s: float = 5.0) -> Scene:
    """One scene of ``n_frames`` frames at ``rate_hz``, after ``burn_in_s`` of warm-up.

    >>> hri_scene(4, n_reactive=1, n_followers=0, n_distractors=0).ids
    ['robot', 'h1']
    """
    stride = sim_rate_hz / rate_hz
    if stride < 1 or abs(stride - round(stride)) > 1e-9:
        raise ParameterError(what="hri_scene", reason=f"sim_rate_hz / rate_hz must be a whole number >= 1, got {stride}")
    sim = HriSim(n_reactive=n_reactive, n_followers=n_followers, n_distractors=n_distractors,
                 rate_hz=sim_rate_hz, seed=seed)
    burn = int(round(burn_in_s * sim_rate_hz))
    frames = sim.run(burn + n_frames * int(round(stride)))[burn + int(round(stride)) - 1::int(round(stride))]
    positions = np.stack([f.positions() for f in frames], axis=1)
    ids, adjacency = sim.agent_graph()
    return Scene(ids=ids, roles=list(sim.roles), positions=positions, adjacency=adjacency, rate_hz=rate_hz)


def hri_scenes(n_scenes: int, n_frames: int = 20, seed: int = 0, max_humans: int = 6) -> list[Scene]:
    """``n_scenes`` scenes with varied numbers of each role (1..``max_humans`` humans).

    >>> [len(s.ids) for s in hri_scenes(3, n_frames=4)]
    [7, 3, 3]
    """
    rng = np.random.default_rng(seed)
    scenes = []
    for k in range(n_scenes):
        n_reactive, n_followers, n_distractors = draw_roles(rng, max_humans)
        scenes.append(hri_scene(n_frames, seed=scene_seed(seed, k), n_reactive=n_reactive,
                                n_followers=n_followers, n_distractors=n_distractors))
    return scenes


def draw_roles(rng: np.random.Generator, max_humans: int = 6) -> tuple[int, int, int]:
    """(n_reactive, n_followers, n_distractors) for one scene: 1..max_humans humans in all.

    >>> draw_roles(np.random.default_rng(0))
    (3, 2, 1)
    """
    n_reactive = int(rng.integers(1, max(2, max_humans // 2 + 1)))
    n_followers = int(rng.integers(0, max_humans - n_reactive + 1))
    n_distractors = int(rng.integers(0, max_humans - n_reactive - n_followers + 1))
    return n_reactive, n_followers, n_distractors


def scene_seed(seed: int, k: int) -> int:
    """The simulator seed of the k-th scene of a set drawn with ``seed``.

    >>> scene_seed(1, 2)
    100005
    """
    return seed * 100_003 + k
