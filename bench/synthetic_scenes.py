"""Synthetic crowd scenes whose causal graph is known, for the trajectory robustness benchmark.

A small explicit generator (models/sim is built in parallel and was not on main when this
was written). Each scene, 20 steps at 2.5 Hz:

- leaders walk at a steady speed and make one turn (30-100 degrees, over 4 steps) at a random
  time during the observed window; nobody acts on them;
- followers each track one leader: they steer towards a point 1.2 m behind it with a lag, so
  their future turn is written in the leader's past, and only there;
- distractors walk independently (steady speed, small noise) through the same area, often
  passing close to the others; they act on nobody and nobody acts on them, and their paths
  are drawn from the observed part of the window only, so they carry nothing of the others'
  future.

So the causal parents of a follower are its leader alone; distractors are non-causal for
every agent. ``Scene.parents[i, j]`` is True when agent i acts on agent j.

>>> scene = make_scene(np.random.default_rng(0))
>>> scene.positions.shape[1:], scene.roles[:1]
((20, 2), ['leader'])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STEPS = 20
OBSERVED = 8
DT = 0.4


@dataclass
class Scene:
    """Positions [A, 20, 2], each agent's role, the true parents [A, A] (i acts on j), and
    optionally an external adjacency prior [A, A] (bench/sim_discovery.py: a discovered graph)."""

    positions: np.ndarray
    roles: list[str]
    parents: np.ndarray
    prior: np.ndarray | None = None


def _leader(rng: np.random.Generator, start: np.ndarray) -> np.ndarray:
    speed = rng.uniform(1.0, 1.6) * DT
    heading = rng.uniform(0, 2 * np.pi)
    turn_at, turn = rng.integers(1, 7), np.deg2rad(rng.uniform(30, 100)) * rng.choice([-1, 1])
    pos = [start]
    for t in range(STEPS - 1):
        if turn_at <= t < turn_at + 4:
            heading += turn / 4
        pos.append(pos[-1] + speed * np.array([np.cos(heading), np.sin(heading)]))
    return np.array(pos)


def _follower(rng: np.random.Generator, leader: np.ndarray) -> np.ndarray:
    lag = int(rng.integers(2, 4))
    heading0 = leader[1] - leader[0]
    side = np.array([-heading0[1], heading0[0]]) / (np.linalg.norm(heading0) + 1e-9)
    pos = [leader[0] - 1.5 * heading0 / (np.linalg.norm(heading0) + 1e-9) * lag + side * rng.uniform(-1, 1)]
    vel = heading0.copy()
    for t in range(STEPS - 1):
        ref = leader[max(t - lag, 0)]
        ref_dir = leader[max(t - lag, 0) + 1] - ref
        goal = ref - 1.2 * ref_dir / (np.linalg.norm(ref_dir) + 1e-9)
        want = (goal - pos[-1]) * 0.5 + ref_dir
        vel = 0.5 * vel + 0.5 * want
        pos.append(pos[-1] + vel)
    return np.array(pos)


def _distractor(rng: np.random.Generator, near: np.ndarray) -> np.ndarray:
    speed = rng.uniform(0.5, 1.6) * DT
    heading = rng.uniform(0, 2 * np.pi)
    middle = near + rng.normal(0, 2.0, 2)  # passes near the group's last observed place at mid-window
    start = middle - speed * (STEPS / 2) * np.array([np.cos(heading), np.sin(heading)])
    steps = speed * np.array([np.cos(heading), np.sin(heading)]) + rng.normal(0, 0.03, (STEPS - 1, 2))
    return np.concatenate([start[None], start + np.cumsum(steps, axis=0)])


def make_scene(rng: np.random.Generator, noise: float = 0.02) -> Scene:
    """One scene: 1-2 leader groups (1-2 followers each) and 2-5 distractors.

    >>> s = make_scene(np.random.default_rng(1))
    >>> bool(s.parents[0, 1]), s.roles[1], bool(s.parents.sum(axis=0).max() <= 1)
    (True, 'follower', True)
    """
    tracks, roles, edges = [], [], []
    for _ in range(rng.integers(1, 3)):
        lead = _leader(rng, rng.uniform(-4, 4, 2))
        li = len(tracks)
        tracks.append(lead)
        roles.append("leader")
        for _ in range(rng.integers(1, 3)):
            edges.append((li, len(tracks)))
            tracks.append(_follower(rng, lead))
            roles.append("follower")
    # where the groups were at the last observed step: a place they will be at later would put
    # their future into the distractors' paths (a non-causal agent that predicts them)
    centre = np.mean([t[OBSERVED - 1] for t in tracks], axis=0)
    for _ in range(rng.integers(2, 6)):
        tracks.append(_distractor(rng, centre))
        roles.append("distractor")
    positions = np.stack(tracks) + rng.normal(0, noise, (len(tracks), STEPS, 2))
    parents = np.zeros((len(tracks), len(tracks)), dtype=bool)
    for i, j in edges:
        parents[i, j] = True
    return Scene(positions=positions.astype(np.float32), roles=roles, parents=parents)


def make_scenes(n: int, seed: int) -> list[Scene]:
    """``n`` scenes from one seed.

    >>> len(make_scenes(3, 0))
    3
    """
    rng = np.random.default_rng(seed)
    return [make_scene(rng) for _ in range(n)]
