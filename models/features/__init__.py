"""Features: per-agent variables (speed, distances, ROS-Causal risk ...) from agent frames.

Numpy in, numpy out; no I/O. A :class:`FeatureSpec` fixes the names (``agent.variable``),
a :class:`FeatureExtractor` fills them frame by frame, NaN where an agent is missing.

>>> from causalstream.models.features import FeatureSpec, FeatureExtractor
>>> FeatureExtractor(FeatureSpec(humans=("h1",))).names
['robot.v', 'h1.v', 'h1.d_robot']
"""

from causalstream.models.features.extractor import AgentArrays, FeatureExtractor
from causalstream.models.features.risk import collision_risk, inverse_ttc
from causalstream.models.features.slots import NearestSlots
from causalstream.models.features.spec import FeatureSpec
from causalstream.models.features.variables import VARIABLES, Need, Variable, variable

__all__ = [
    "AgentArrays",
    "FeatureExtractor",
    "FeatureSpec",
    "NearestSlots",
    "Need",
    "VARIABLES",
    "Variable",
    "collision_risk",
    "inverse_ttc",
    "variable",
]
