"""A human-robot interaction simulator with causal ground truth (numpy, no I/O).

>>> from causalstream.models.sim import HriSim
>>> ids, adj = HriSim(seed=0).agent_graph()
>>> ids
['robot', 'h1', 'h2', 'h3', 'h4', 'h5']
"""

from causalstream.models.sim.frame import SimFrame
from causalstream.models.sim.hidden import Companion, Group
from causalstream.models.sim.hri import SCENES, HriSim
from causalstream.models.sim.mechanisms import Distractor, Follower, Mechanism, Past, Reactive, Read, Robot
from causalstream.models.sim.scenes import Scene, hri_scene, hri_scenes
from causalstream.models.sim.truth import (
    VariableGraph,
    agent_adjacency,
    hidden_pairs,
    state_parents,
    variable_graph,
)

__all__ = [
    "SCENES",
    "Companion",
    "Distractor",
    "Follower",
    "Group",
    "HriSim",
    "Mechanism",
    "Past",
    "Reactive",
    "Read",
    "Robot",
    "Scene",
    "SimFrame",
    "VariableGraph",
    "agent_adjacency",
    "hidden_pairs",
    "hri_scene",
    "hri_scenes",
    "state_parents",
    "variable_graph",
]
