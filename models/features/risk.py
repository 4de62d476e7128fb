"""Collision risk between a human and the robot, after ROS-Causal's HRSI risk node.

ROS-Causal (Castri et al., 2024) scores a human-robot pair with a collision cone: the cone's
apex is the human A, its base is a segment of half-width ``obstacle_size`` through the robot
B, perpendicular to AB. P = A + v_A is where the human will be in one second. If P lies in
the cone and B is nearer than ``safe_distance``, the pair is on a collision course and

    risk = exp(|v_A| + 1 / ttc + steering),   ttc = |AB| / |v_B - v_A|,

where ``steering`` is the distance from P to the nearer cone edge (how far the human must
swerve); otherwise risk = exp(|v_A|). Written here in vector form over arrays of pairs (the
original uses shapely and line slopes, which break when AB is vertical).

>>> import numpy as np
>>> r = collision_risk(np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]]),
...                    np.array([[3.0, 0.0]]), np.array([[-1.0, 0.0]]))
>>> bool(r[0] > np.exp(1.0))
True
"""

from __future__ import annotations

import numpy as np

__all__ = ["collision_risk", "inverse_ttc"]


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.einsum("...i,...i", p - a, ab) / np.maximum(np.einsum("...i,...i", ab, ab), 1e-12)
    closest = a + np.clip(t, 0.0, 1.0)[..., None] * ab
    return np.linalg.norm(p - closest, axis=-1)


def collision_risk(
    pos: np.ndarray,
    vel: np.ndarray,
    robot_pos: np.ndarray,
    robot_vel: np.ndarray,
    safe_distance: float = 5.0,
    obstacle_size: float = 2.5,
) -> np.ndarray:
    """ROS-Causal's risk of each human (``pos``, ``vel``: [M, 2]) with respect to the robot.

    ``robot_pos`` / ``robot_vel`` broadcast against ``pos``. Returns [M] values >= 1.

    >>> import numpy as np
    >>> away = collision_risk(np.zeros((1, 2)), np.array([[-1.0, 0.0]]), np.array([[3.0, 0.0]]), np.zeros((1, 2)))
    >>> float(away[0]) == float(np.exp(1.0))
    True
    """
    pos, vel = np.atleast_2d(pos), np.atleast_2d(vel)
    ab = robot_pos - pos
    dist = np.linalg.norm(ab, axis=-1)
    normal = np.stack([-ab[..., 1], ab[..., 0]], axis=-1) / np.maximum(dist, 1e-12)[..., None]
    left = robot_pos - obstacle_size * normal
    right = robot_pos + obstacle_size * normal
    ahead = pos + vel
    # P inside triangle (pos, left, right): same side of all three edges.
    s1 = _cross(left - pos, ahead - pos)
    s2 = _cross(right - left, ahead - left)
    s3 = _cross(pos - right, ahead - right)
    inside = ((s1 >= 0) & (s2 >= 0) & (s3 >= 0)) | ((s1 <= 0) & (s2 <= 0) & (s3 <= 0))
    course = inside & (dist < safe_distance) & (dist > 0)
    rel_speed = np.linalg.norm(robot_vel - vel, axis=-1)
    inv_ttc = np.where(course, rel_speed / np.maximum(dist, 1e-12), 0.0)
    steering = np.minimum(_segment_distance(ahead, pos, left), _segment_distance(ahead, pos, right))
    risk = np.linalg.norm(vel, axis=-1) + np.where(course, inv_ttc + steering, 0.0)
    return np.exp(risk)


def inverse_ttc(pos: np.ndarray, vel: np.ndarray, other_pos: np.ndarray, other_vel: np.ndarray) -> np.ndarray:
    """Closing speed over distance (1 / time to collision, 1/s); 0 when the pair separates.

    Finite everywhere, so it suits linear CI tests better than the TTC itself.

    >>> import numpy as np
    >>> inverse_ttc(np.zeros((1, 2)), np.array([[1.0, 0.0]]), np.array([[2.0, 0.0]]), np.zeros((1, 2)))
    array([0.5])
    """
    rel = np.atleast_2d(other_pos) - np.atleast_2d(pos)
    dist = np.linalg.norm(rel, axis=-1)
    closing = -np.einsum("...i,...i", np.atleast_2d(other_vel) - np.atleast_2d(vel), rel) / np.maximum(dist, 1e-12)
    return np.maximum(closing, 0.0) / np.maximum(dist, 1e-12)
