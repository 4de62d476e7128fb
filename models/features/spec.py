"""Which variables of which agents make the feature vector: a fixed list of names.

Two ways to pick humans, both keeping N fixed while people come and go:

- by id (``humans=("h1", "h3")``): names ``h1.v``, ...; an absent human gives NaN;
- by slot (``humans=None``, ``n_nearest=k``): the k humans nearest the robot fill slots
  ``n1 .. nk`` (``slot_prefix``), with hysteresis (see ``slots.py``); empty slots give NaN.

>>> spec = FeatureSpec(robot_variables=("v",), human_variables=("v", "d_robot"), humans=("h1", "h2"))
>>> spec.names
['robot.v', 'h1.v', 'h1.d_robot', 'h2.v', 'h2.d_robot']
>>> FeatureSpec(n_nearest=2).names
['robot.v', 'n1.v', 'n1.d_robot', 'n2.v', 'n2.d_robot']
"""

from __future__ import annotations

from dataclasses import dataclass

from causalstream.models.errors import ParameterError
from causalstream.models.features.variables import variable

__all__ = ["FeatureSpec"]

DIFFERENCE_OF = {"a": "v"}
"""Variables that are another variable's difference over one step (``a`` is ``v``'s): the pair
is deterministic, and CI tests between them (and PCMCI's lag-1 self links) are degenerate."""


@dataclass(frozen=True)
class FeatureSpec:
    """The feature vector's layout: robot variables, then each human (or slot) in order.

    ``hysteresis`` (metres): a slot's occupant is displaced only by a newcomer nearer the
    robot by more than this. ``robot_role`` is the role string that marks the robot.

    >>> FeatureSpec(human_variables=("v", "risk"), humans=("h1",)).names
    ['robot.v', 'h1.v', 'h1.risk']
    >>> FeatureSpec(human_variables=("speed",))
    Traceback (most recent call last):
    ...
    causalstream.models.errors.ParameterError: FeatureSpec: unknown variable 'speed'; known: ...
    """

    robot_variables: tuple[str, ...] = ("v",)
    human_variables: tuple[str, ...] = ("v", "d_robot")
    humans: tuple[str, ...] | None = None
    n_nearest: int = 3
    slot_prefix: str = "n"
    hysteresis: float = 0.5
    robot_role: str = "robot"

    def __post_init__(self) -> None:
        # Lists (from YAML launch params) become tuples, so specs stay hashable and frozen.
        for field in ("robot_variables", "human_variables", "humans"):
            value = getattr(self, field)
            object.__setattr__(self, field, None if value is None else tuple(value))
        for name in self.robot_variables + self.human_variables:
            variable(name)  # raises ParameterError on an unknown name
        if self.n_nearest < 0 or self.hysteresis < 0:
            raise ParameterError(what="FeatureSpec", reason="n_nearest and hysteresis must be >= 0")

    @property
    def slots(self) -> list[str]:
        """Agent names in vector order after the robot: the human ids, or the slot names.

        >>> FeatureSpec(n_nearest=2, slot_prefix="h").slots
        ['h1', 'h2']
        """
        if self.humans is not None:
            return list(self.humans)
        return [f"{self.slot_prefix}{k + 1}" for k in range(self.n_nearest)]

    @property
    def names(self) -> list[str]:
        """``agent.variable`` names, in the order of the feature vector.

        >>> FeatureSpec(robot_variables=(), humans=("h2",), human_variables=("d_goal",)).names
        ['h2.d_goal']
        """
        out = [f"robot.{v}" for v in self.robot_variables]
        for slot in self.slots:
            out += [f"{slot}.{v}" for v in self.human_variables]
        return out

    def deterministic_pairs(self) -> list[tuple[str, str]]:
        """(derived, source) name pairs of one agent where one is the other's difference.

        >>> FeatureSpec(robot_variables=("v", "a"), human_variables=("v",), humans=("h1",)).deterministic_pairs()
        [('robot.a', 'robot.v')]
        """
        names = set(self.names)
        out = []
        for name in self.names:
            agent, _, var = name.partition(".")
            source = DIFFERENCE_OF.get(var)
            if source is not None and f"{agent}.{source}" in names:
                out.append((name, f"{agent}.{source}"))
        return out
