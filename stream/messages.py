"""Typed messages, one struct per topic type (see the topic table in README.md).

Every message is a ``msgspec.Struct``; numpy array fields travel as raw bytes
(``causalstream.stream.codec``). ``__post_init__`` checks shapes, so a payload that
decodes but does not hold together is rejected like any bad frame.

>>> import numpy as np
>>> f = Features(stamp_ns=1, names=["robot.v", "h1.v"], values=np.array([0.5, np.nan]))
>>> f.values.shape
(2,)
>>> Features(stamp_ns=1, names=["a"], values=np.zeros(2))
Traceback (most recent call last):
...
ValueError: Features: 1 names but 2 values
"""

from __future__ import annotations

import msgspec
import numpy as np

__all__ = [
    "MESSAGE_TYPES",
    "AgentStates",
    "BusStats",
    "CausalEvent",
    "CausalGraph",
    "Clock",
    "EVENT_KINDS",
    "Features",
    "LINK_STATUSES",
    "Link",
    "LogLine",
    "Message",
    "NodeStatus",
    "Predictions",
    "TopicStats",
]


def _need(cond: bool, owner: str, what: str, *args: object) -> None:
    # ``what`` is a format string, filled in only on failure: validation runs on every decode.
    if not cond:
        raise ValueError(f"{owner}: " + what.format(*args))


_F64 = np.dtype(np.float64)


def _f64(a: np.ndarray) -> np.ndarray:
    # ``dtype is _F64`` first: the identity test is what keeps validation cheap on every decode
    if type(a) is np.ndarray and (a.dtype is _F64 or a.dtype == _F64):
        return a
    return np.asarray(a, dtype=np.float64)


def _coded(name: str, value: np.ndarray, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    # CausalGraph's integer arrays: empty (an older log) or the graph's shape; codes in range
    arr = value if type(value) is np.ndarray and value.dtype == dtype else np.asarray(value, dtype=dtype)
    _need(arr.shape in ((0,), shape), "CausalGraph", "{} has shape {}, want {} or (0,)", name, arr.shape, shape)
    if name == "link_status" and arr.size:
        _need(0 <= int(arr.min()) and int(arr.max()) < len(LINK_STATUSES), "CausalGraph",
              "link_status codes must be 0..{}", len(LINK_STATUSES) - 1)
    return arr


def _shaped(owner: str, name: str, value: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    arr = _f64(value)
    _need(arr.shape == shape, owner, "{} has shape {}, want {}", name, arr.shape, shape)
    return arr


class Message(msgspec.Struct, kw_only=True):
    """Base of every bus message: ``stamp_ns`` is the time the data refers to.

    >>> Clock(stamp_ns=5).stamp_ns
    5
    """

    stamp_ns: int = 0


class Clock(Message, kw_only=True):
    """Simulated time, published on ``/clock`` by ``bag play --clock`` and simulators.

    >>> Clock(stamp_ns=1_000_000_000).stamp_ns / 1e9
    1.0
    """


class AgentStates(Message, kw_only=True):
    """One frame of agents: ids, roles and kinematics, all arrays of length A.

    ``goal`` is [A, 2] (NaN where unknown); ``heading`` in radians.

    >>> s = AgentStates(stamp_ns=0, ids=["robot", "h1"], roles=["robot", "human"],
    ...                 x=np.zeros(2), y=np.ones(2), vx=np.zeros(2), vy=np.zeros(2))
    >>> s.heading.shape, s.goal.shape
    ((2,), (2, 2))
    """

    frame_id: str = "world"
    ids: list[str]
    roles: list[str]
    x: np.ndarray
    y: np.ndarray
    vx: np.ndarray
    vy: np.ndarray
    heading: np.ndarray | None = None
    goal: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.ids)
        _need(len(self.roles) == n, "AgentStates", "{} ids but {} roles", n, len(self.roles))
        one = (n,)
        x, y, vx, vy, heading, goal = self.x, self.y, self.vx, self.vy, self.heading, self.goal
        # what a decoder made (float64 arrays of the right shapes) passes one test, not six calls
        if not (type(x) is type(y) is type(vx) is type(vy) is type(heading) is type(goal) is np.ndarray
                and x.dtype is y.dtype is vx.dtype is vy.dtype is heading.dtype is goal.dtype is _F64
                and x.shape == y.shape == vx.shape == vy.shape == heading.shape == one and goal.shape == (n, 2)):
            self.x = _shaped("AgentStates", "x", x, one)
            self.y = _shaped("AgentStates", "y", y, one)
            self.vx = _shaped("AgentStates", "vx", vx, one)
            self.vy = _shaped("AgentStates", "vy", vy, one)
            if heading is None:
                heading = np.arctan2(self.vy, self.vx)
            self.heading = _shaped("AgentStates", "heading", heading, one)
            if goal is None:
                goal = np.full((n, 2), np.nan)
            self.goal = _shaped("AgentStates", "goal", goal, (n, 2))


class Features(Message, kw_only=True):
    """One sample of N named variables (``agent.variable``); NaN marks a missing value.

    >>> Features(names=["x"], values=np.array([1.0])).values.dtype
    dtype('float64')
    """

    names: list[str]
    values: np.ndarray

    def __post_init__(self) -> None:
        self.values = _f64(self.values)
        _need(self.values.ndim == 1, "Features", "values must be 1-d, got shape {}", self.values.shape)
        _need(len(self.names) == self.values.shape[0], "Features", "{} names but {} values",
              len(self.names), self.values.shape[0])


LINK_STATUSES = ("untested", "tested", "deterministic", "insufficient", "assumed")
"""CausalGraph.link_status codes by index: 0 untested (lag-0 self links, lags < tau_min, links no
test reached), 1 tested, 2 deterministic (|partial corr| >= 1 - 1e-9 or X or Y a function of Z: not
a finding), 3 insufficient (too few rows to test), 4 assumed (link_assumptions decided it)."""


class CausalGraph(Message, kw_only=True):
    """A lagged causal graph in tigramite's convention, and what it knows.

    ``graph[i][j][tau]`` is ``"-->"`` when variable i at lag tau drives j, ``""`` for no link;
    PCMCI+ also marks ``o-o``, ``x-x`` and ``<--`` at lag 0; LPCMCI's PAG marks ``<->`` (a hidden
    common cause), ``o->`` (i causes j, or they share a hidden cause), ``o-o`` and ``x-x``
    (conflict). ``val``, ``p`` and ``stability`` are [N, N, tau_max + 1]; ``p`` is 1.0 where
    untested. ``ci_settings`` are the CI test's own parameters (RCoT's features and seed: what
    reproduces the graph); ``n_degenerate`` counts the tests answered "independent" (val 0, p 1)
    because a variable was constant, too tied, or the rows too few.

    Statuses (empty arrays and ``graph_status ""`` in logs older than them): ``link_status``
    int8 [N, N, tau_max + 1], codes into :data:`LINK_STATUSES`; ``n_eff`` int32, the rows each
    link's last test used (0 untested, -1 not tracked: cmiknn / gpdc); ``graph_status`` "ok",
    "partial" (some links insufficient or deterministic), "insufficient" (no link testable: an
    empty graph that is not a finding) or "stale" (the refresh ran past its time budget: the
    last complete graph again); ``status_reason`` says why in one line.

    >>> g = CausalGraph(names=["a", "b"], tau_max=1, graph=[[["", ""], ["", "-->"]], [["", ""], ["", ""]]],
    ...                 val=np.zeros((2, 2, 2)), p=np.ones((2, 2, 2)))
    >>> g.links(), g.link_status.shape, g.graph_status
    ([('a', 'b', 1, '-->')], (0,), '')
    >>> g.link_status = np.ones((2, 2, 2), np.int8); str(g.statuses()[0, 1, 1])
    'tested'
    """

    names: list[str]
    tau_min: int = 0
    tau_max: int
    graph: list[list[list[str]]]
    val: np.ndarray
    p: np.ndarray
    stability: np.ndarray | None = None
    method: str = "pcmci"
    ci_test: str = "ParCorr"
    ci_settings: dict[str, bool | int | float | str | list[float]] = {}
    n_degenerate: int = 0
    alpha: float = 0.05
    window_start_ns: int = 0
    window_end_ns: int = 0
    n_samples: int = 0
    n_missing: int = 0
    seq: int = 0
    compute_ms: float = 0.0
    flags: list[str] = []
    link_status: np.ndarray = msgspec.field(default_factory=lambda: np.zeros(0, np.int8))  # codes, LINK_STATUSES
    n_eff: np.ndarray = msgspec.field(default_factory=lambda: np.zeros(0, np.int32))
    graph_status: str = ""
    status_reason: str = ""

    def __post_init__(self) -> None:
        n, lags = len(self.names), self.tau_max + 1
        want = (n, n, lags)
        gshape = (len(self.graph), len(self.graph[0]) if self.graph else 0,
                  len(self.graph[0][0]) if self.graph and self.graph[0] else 0)
        _need(n == 0 or gshape == want, "CausalGraph", "graph has shape {}, want {}", gshape, want)
        _need(all(len(r) == n and all(len(c) == lags for c in r) for r in self.graph),
              "CausalGraph", "graph is ragged")
        self.val = _shaped("CausalGraph", "val", self.val, want)
        self.p = _shaped("CausalGraph", "p", self.p, want)
        if self.stability is None:
            self.stability = np.zeros(want)
        self.stability = _shaped("CausalGraph", "stability", self.stability, want)
        self.link_status = _coded("link_status", self.link_status, np.int8, want)
        self.n_eff = _coded("n_eff", self.n_eff, np.int32, want)

    def statuses(self) -> np.ndarray:
        """``link_status`` as names (``<U13`` [N, N, tau_max + 1]); all "" in an older log.

        >>> CausalGraph(names=["a"], tau_max=0, graph=[[[""]]], val=np.zeros((1, 1, 1)), p=np.ones((1, 1, 1))).statuses()
        array([[['']]], dtype='<U13')
        """
        if self.link_status.size == 0:
            return np.full(self.val.shape, "", dtype="<U13")
        return np.array(LINK_STATUSES, dtype="<U13")[self.link_status]

    def links(self) -> list[tuple[str, str, int, str]]:
        """Every non-empty entry as (source, target, lag, mark), sorted.

        The message's own reading, for the stream side (log tables), which may not import
        models; everything else reads ``causalstream.nodes.graph_msg.graph_of(msg)``, a
        ``LaggedGraph`` (tests/test_graph.py keeps the two equal).

        >>> CausalGraph(names=[], tau_max=0, graph=[], val=np.zeros((0, 0, 1)), p=np.ones((0, 0, 1))).links()
        []
        """
        out = []
        for i, row in enumerate(self.graph):
            for j, cell in enumerate(row):
                for tau, mark in enumerate(cell):
                    if mark:
                        out.append((self.names[i], self.names[j], tau, mark))
        return sorted(out)


class Link(msgspec.Struct, frozen=True):
    """One directed lagged link of a graph diff.

    >>> Link("a", "b", 1, "-->")
    Link(source='a', target='b', lag=1, mark='-->')
    """

    source: str
    target: str
    lag: int
    mark: str = "-->"


EVENT_KINDS = ("graph_changed", "drift", "insufficient_data", "deterministic", "hidden_cause", "stale")
"""CausalEvent kinds: ``graph_changed`` (links added / removed, SHD); ``drift`` (a variable's
residuals drifted); ``insufficient_data`` (a window lacks data: graph insufficient, or partial with
insufficient links; ``variables`` are those whose links could not be tested, ``detail`` the reason;
sent when that picture changes, not every refresh); ``deterministic`` (a link whose test is
deterministic, in ``added``: sent once per link); ``hidden_cause`` (a ``<->`` between two agents'
variables appeared, in ``added``); ``stale`` (a refresh ran past its time budget)."""


class CausalEvent(Message, kw_only=True):
    """A change in the causal picture; ``kind`` is one of :data:`EVENT_KINDS`.

    >>> CausalEvent(kind="drift", variable="h1.v").shd, CausalEvent(kind="insufficient_data").variables
    (0, [])
    """

    kind: str
    added: list[Link] = []
    removed: list[Link] = []
    shd: int = 0
    graph_seq: int = 0
    variable: str = ""
    detail: str = ""
    variables: list[str] = []


class Predictions(Message, kw_only=True):
    """Per-agent multimodal trajectories: [A, K, H, 2] and probabilities [A, K].

    >>> p = Predictions(agent_ids=["h1"], trajectories=np.zeros((1, 3, 12, 2)), probabilities=np.ones((1, 3)) / 3)
    >>> p.trajectories.shape, p.shift_score.shape, p.fallback_policy  # no shift score: an older log
    ((1, 3, 12, 2), (0,), '')
    """

    agent_ids: list[str]
    trajectories: np.ndarray
    probabilities: np.ndarray
    model_id: str = ""
    latency_ms: float = 0.0
    # Shift (models/trajectory/shift.py); the defaults keep older logs decoding: no score.
    shift_score: np.ndarray = msgspec.field(default_factory=lambda: np.zeros(0, np.float32))  # [A] or []
    scene_shift: float = 1.0  # the running scene score the fallback read
    fallback_weight: np.ndarray = msgspec.field(default_factory=lambda: np.zeros(0, np.float32))  # [A]: CV's share
    fallback_policy: str = ""  # off | blend | replace, "" when no score was computed

    def __post_init__(self) -> None:
        a = len(self.agent_ids)
        t, pr = np.asarray(self.trajectories), np.asarray(self.probabilities)
        _need(t.ndim == 4 and t.shape[0] == a and t.shape[3] == 2, "Predictions",
              "trajectories have shape {}, want ({}, K, H, 2)", t.shape, a)
        _need(pr.shape == t.shape[:2], "Predictions", "probabilities have shape {}, want {}", pr.shape, t.shape[:2])
        s, w = np.asarray(self.shift_score), np.asarray(self.fallback_weight)
        for name, v in (("shift_score", s), ("fallback_weight", w)):
            _need(v.shape in ((0,), (a,)), "Predictions", "{} has shape {}, want ({},) or (0,)", name, v.shape, a)
        self.trajectories, self.probabilities, self.shift_score, self.fallback_weight = t, pr, s, w


class NodeStatus(Message, kw_only=True):
    """Heartbeat of a node: who it is, its state and counters (in, out, gaps, bad, ...).

    ``name`` is fully qualified (``/robot1/talker``); ``params`` holds the node's effective
    parameters, each value JSON-encoded, so ``node list`` and tests can see what a launch
    file's args and includes produced.

    >>> NodeStatus(name="disc", kind="discovery", pid=1, state="running").counters
    {}
    """

    name: str
    kind: str = ""
    pid: int = 0
    state: str = "running"
    counters: dict[str, int] = {}
    params: dict[str, str] = {}


class LogLine(Message, kw_only=True):
    """One log record of a node (``level`` as in :mod:`logging`).

    >>> LogLine(node="sim", level=20, logger="x", msg="started").level
    20
    """

    node: str
    level: int
    logger: str = ""
    msg: str


class TopicStats(msgspec.Struct, kw_only=True):
    """Counters of one publisher or subscriber endpoint for one topic.

    >>> TopicStats(topic="/features", role="sub", type_name="Features").gaps
    0
    """

    topic: str
    role: str  # "pub" or "sub"
    type_name: str = ""
    messages: int = 0
    gaps: int = 0
    bad: int = 0
    duplicates: int = 0
    rate_hz: float = 0.0
    # a direct publisher's frames dropped at full links (its subscribers count gaps); "dropped" on the wire,
    # the name logs written before the rename carry
    link_drops: int = msgspec.field(default=0, name="dropped")
    path: str = ""  # a publisher's: "direct" (to subscribers' inboxes) or "broker" (through the broker)
    latched: bool = False  # as its publisher declared it (a subscriber's: as the registration it got said)


class BusStats(Message, kw_only=True):
    """Per-process bus counters, published on ``/bus/stats`` once a second.

    >>> BusStats(participant="p1", pid=1).topics
    []
    """

    participant: str
    pid: int
    node: str = ""
    topics: list[TopicStats] = []
    bad_frames: int = 0


MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.__name__: cls
    for cls in (Clock, AgentStates, Features, CausalGraph, CausalEvent, Predictions, NodeStatus, LogLine, BusStats)
}
