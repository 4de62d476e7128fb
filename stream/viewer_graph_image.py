"""The causal graph as a picture (rgb8): the discovered links beside the simulator's ground truth.

:func:`render` draws each graph in a panel of its own: the variables on a circle, grouped by
agent (``agent.variable`` names: an agent's variables side by side, one colour per agent, the
same places in both panels); an arrow for a directed link (``-->``; ``<->`` has two heads), a
line with a circle or cross at an end for ``o-o`` / ``o->`` / ``x-x``; a ring round a variable
for its own lagged link. Colour is the lag (the legend at the foot), width the strength
(``|val|``: 1 to 4 px). :class:`GraphPicture` keeps the last graph of each kind and redraws only
when a link set changes (a link comes, goes or changes its mark; strengths alone do not), so a
20 Hz graph costs one draw per change. Pillow's ImageDraw (matplotlib already requires Pillow;
matplotlib itself is not imported).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from causalstream.stream.messages import CausalGraph

__all__ = ["GraphPicture", "render", "PANEL"]

PANEL = (300, 330)
"""Width and height of one panel, pixels."""

_TITLE, _FOOT, _NODE = 18, 22, 7  # title row, legend row, node radius (pixels)
_BG, _INK, _FAINT = (255, 255, 255), (40, 40, 40), (200, 200, 200)
_LAG_COLOURS = [(90, 90, 90), (214, 39, 40), (44, 160, 44), (148, 103, 189), (140, 86, 75), (227, 119, 194),
                (188, 189, 34)]
_ROBOT = (26, 102, 255)  # the scene's robot blue
_AGENT_COLOURS = [(255, 127, 14), (23, 190, 207), (127, 127, 127), (188, 189, 34), (148, 103, 189),
                  (140, 86, 75), (227, 119, 194)]

Point = tuple[float, float]
Colour = tuple[int, int, int]


@functools.cache
def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=11)


def _lag_colour(lag: int) -> Colour:
    return _LAG_COLOURS[lag % len(_LAG_COLOURS)]


def _agent(name: str) -> str:
    return name.split(".", 1)[0]


def _places(names: Sequence[str], centre: Point, radius: float) -> dict[str, Point]:
    """Each name's point on the circle, clockwise from the top; a half-slot gap between agents."""
    agents = list(dict.fromkeys(_agent(n) for n in names))
    ordered = sorted(names, key=lambda n: agents.index(_agent(n)))  # stable: the message's order within an agent
    slots, pos, prev = [], 0.0, None
    for n in ordered:
        if prev is not None and _agent(n) != prev:
            pos += 0.5
        slots.append(pos)
        pos += 1.0
        prev = _agent(n)
    total = pos + (0.5 if len(agents) > 1 else 0.0)
    out = {}
    for n, s in zip(ordered, slots):
        a = -math.pi / 2 + 2 * math.pi * s / max(total, 1.0)
        out[n] = (centre[0] + radius * math.cos(a), centre[1] + radius * math.sin(a))
    return out


def _agent_colours(names: Sequence[str]) -> dict[str, Colour]:
    others = [a for a in dict.fromkeys(_agent(n) for n in names) if a != "robot"]
    out = {a: _AGENT_COLOURS[k % len(_AGENT_COLOURS)] for k, a in enumerate(others)}
    out["robot"] = _ROBOT
    return out


def _width(val: float) -> int:
    return 1 + round(3 * min(abs(val), 1.0)) if math.isfinite(val) else 1


def _mirror(mark: str) -> str:
    """The mark read from the other end: ``-->`` is ``<--``, ``o->`` is ``<-o``."""
    swap = {"<": ">", ">": "<"}
    return "".join(swap.get(c, c) for c in reversed(mark))


def _edges(msg: CausalGraph) -> list[tuple[int, int, int, str, float]]:
    """(i, j, lag, mark, |val|) to draw: a contemporaneous link once (i < j), lagged ones as they are."""
    val = np.asarray(msg.val, float)
    out = []
    for i, row in enumerate(msg.graph):
        for j, cell in enumerate(row):
            for lag, mark in enumerate(cell):
                if not mark or (lag == 0 and i == j):
                    continue
                if lag == 0 and i > j:
                    other = msg.graph[j][i][0] if j < len(msg.graph) and i < len(msg.graph[j]) else ""
                    if other:
                        continue  # drawn from (j, i)
                    i2, j2, mark = j, i, _mirror(mark)
                else:
                    i2, j2 = i, j
                v = float(val[i, j, lag]) if val.ndim == 3 and val.shape[2] > lag else 1.0
                out.append((i2, j2, lag, mark, v))
    return out


def _end(draw: ImageDraw.ImageDraw, tip: Point, d: Point, kind: str, colour: Colour, width: int) -> Point:
    """Draw an edge's end mark at ``tip`` (``d``: the unit vector into it); return where the line stops."""
    if kind in "<>":
        length, half = 9 + width, 4 + width / 2
        base = (tip[0] - d[0] * length, tip[1] - d[1] * length)
        draw.polygon([tip, (base[0] - d[1] * half, base[1] + d[0] * half),
                      (base[0] + d[1] * half, base[1] - d[0] * half)], fill=colour)
        return (tip[0] - d[0] * length * 0.7, tip[1] - d[1] * length * 0.7)
    if kind == "o":
        c = (tip[0] - d[0] * 4, tip[1] - d[1] * 4)
        draw.ellipse([c[0] - 4, c[1] - 4, c[0] + 4, c[1] + 4], outline=colour, fill=_BG, width=2)
        return (tip[0] - d[0] * 8, tip[1] - d[1] * 8)
    if kind == "x":
        c = (tip[0] - d[0] * 4, tip[1] - d[1] * 4)
        draw.line([(c[0] - 4, c[1] - 4), (c[0] + 4, c[1] + 4)], fill=colour, width=2)
        draw.line([(c[0] - 4, c[1] + 4), (c[0] + 4, c[1] - 4)], fill=colour, width=2)
    return tip


def _arrow(draw: ImageDraw.ImageDraw, a: Point, b: Point, mark: str, lag: int, width: int) -> None:
    """One link between the nodes at ``a`` and ``b``; lag k runs 4k px to the side of the straight line."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    dist = math.hypot(dx, dy) or 1.0
    d = (dx / dist, dy / dist)
    off = 4.0 * lag
    start = (a[0] + d[0] * (_NODE + 2) - d[1] * off, a[1] + d[1] * (_NODE + 2) + d[0] * off)
    tip = (b[0] - d[0] * (_NODE + 2) - d[1] * off, b[1] - d[1] * (_NODE + 2) + d[0] * off)
    colour = _lag_colour(lag)
    head = mark[-1] if mark else "-"
    tail = mark[0] if mark else "-"
    p1 = _end(draw, start, (-d[0], -d[1]), tail, colour, width)
    p2 = _end(draw, tip, d, head, colour, width)
    draw.line([p1, p2], fill=colour, width=width)


def _text(draw: ImageDraw.ImageDraw, centre: Point, text: str, colour: Colour) -> None:
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=_font())
    draw.text((centre[0] - (x1 - x0) / 2 - x0, centre[1] - (y1 - y0) / 2 - y0), text, fill=colour, font=_font())


def _geometry(x0: int, size: tuple[int, int], names: Sequence[str]) -> tuple[Point, dict[str, Point]]:
    w, h = size
    centre = (x0 + w / 2, _TITLE + (h - _TITLE - _FOOT) / 2)
    return centre, _places(names, centre, min(w, h - _TITLE - _FOOT) / 2 - 40)


@functools.lru_cache(maxsize=8)
def _background(names: tuple[str, ...], tau_max: int, n_panels: int, size: tuple[int, int]) -> Image.Image:
    """What a name set draws the same each time (text is most of a draw's cost): labels, legend, rule."""
    w, h = size
    img = Image.new("RGB", (w * n_panels, h), _BG)
    draw = ImageDraw.Draw(img)
    for k in range(n_panels):
        centre, places = _geometry(k * w, size, names)
        for n, (px, py) in places.items():  # outside the rings (lag k at node + 2 + 3k)
            ang = math.atan2(py - centre[1], px - centre[0])
            x_0, y_0, x_1, y_1 = draw.textbbox((0, 0), n, font=_font())
            far = _NODE + 3 * tau_max + 6 + abs(math.cos(ang)) * (x_1 - x_0) / 2 + abs(math.sin(ang)) * (y_1 - y_0) / 2
            _text(draw, (px + far * math.cos(ang), py + far * math.sin(ang)), n, _INK)
        x, y = k * w + 8, h - _FOOT / 2
        for lag in range(tau_max + 1):
            draw.line([(x, y), (x + 14, y)], fill=_lag_colour(lag), width=3)
            _text(draw, (x + 34, y), f"lag {lag}", _INK)
            x += 60
        if k:
            draw.line([(k * w, 0), (k * w, h)], fill=_FAINT, width=1)
    return img


def _panel(draw: ImageDraw.ImageDraw, x0: int, size: tuple[int, int], title: str, msg: CausalGraph | None,
           names: Sequence[str]) -> None:
    """One graph's title, links and nodes (over the background's labels)."""
    _, places = _geometry(x0, size, names)
    colours = _agent_colours(names)
    edges = [] if msg is None else _edges(msg)
    names_of = [] if msg is None else msg.names
    _text(draw, (x0 + size[0] / 2, _TITLE / 2 + 1), f"{title}: none yet" if msg is None else
          f"{title}: {len(edges)} links", _INK)
    for i, j, lag, mark, v in edges:
        a, b = places[names_of[i]], places[names_of[j]]
        if i == j:  # its own past: a ring, lag k at radius node + 2 + 3k
            r = _NODE + 2 + 3 * lag
            draw.ellipse([a[0] - r, a[1] - r, a[0] + r, a[1] + r], outline=_lag_colour(lag), width=2)
        else:
            _arrow(draw, a, b, mark, lag, _width(v))
    for n, (px, py) in places.items():
        draw.ellipse([px - _NODE, py - _NODE, px + _NODE, py + _NODE], fill=colours[_agent(n)])


def render(discovered: CausalGraph | None, truth: CausalGraph | None = None,
           panel: tuple[int, int] = PANEL) -> np.ndarray:
    """The picture, uint8 [height, width, 3]: the discovered graph, and the truth beside it if given.

    >>> import numpy as np
    >>> g = CausalGraph(names=["robot.v", "h1.v"], tau_max=1, graph=[[["", "-->"], ["", "-->"]],
    ...                 [["", ""], ["", ""]]], val=np.full((2, 2, 2), 0.5), p=np.zeros((2, 2, 2)))
    >>> img = render(g, g)
    >>> img.shape, img.dtype.name, bool((img != 255).any())
    ((330, 600, 3), 'uint8', True)
    """
    panels = [("discovered" if discovered is None else f"discovered ({discovered.method})", discovered)]
    if truth is not None:
        panels.append(("ground truth", truth))
    both: list[str] = [*(discovered.names if discovered else []), *(truth.names if truth else [])]
    names = tuple(dict.fromkeys(both))
    tau_max = max([g.tau_max for _, g in panels if g is not None] or [0])
    img = _background(names, tau_max, len(panels), panel).copy()
    draw = ImageDraw.Draw(img)
    for k, (title, msg) in enumerate(panels):
        _panel(draw, k * panel[0], panel, title, msg, names)
    return np.asarray(img)


def _key(msg: CausalGraph | None) -> tuple | None:
    return None if msg is None else (tuple(msg.names), tuple(msg.links()))


class GraphPicture:
    """The last discovered graph and ground truth; a new picture only when a link set changes.

    >>> import numpy as np
    >>> def graph(mark):
    ...     return CausalGraph(names=["a", "b"], tau_max=1, graph=[[["", ""], ["", mark]], [["", ""], ["", ""]]],
    ...                        val=np.full((2, 2, 2), 0.4), p=np.zeros((2, 2, 2)))
    >>> pic = GraphPicture()
    >>> [pic.update(graph(m)) is not None for m in ("-->", "-->", "", "-->")], pic.redraws
    ([True, False, True, True], 3)
    """

    def __init__(self, panel: tuple[int, int] = PANEL) -> None:
        self.panel = panel
        self.discovered: CausalGraph | None = None
        self.truth: CausalGraph | None = None
        self.redraws = 0
        self._drawn: tuple | None = None

    def take(self, msg: CausalGraph, truth: bool = False) -> None:
        """Keep a graph (``truth``: the simulator's) without drawing: the next :meth:`update` or
        :meth:`draw` draws it if its link set is not the one drawn last (no viewer watches now).

        >>> pic = GraphPicture()
        >>> pic.take(CausalGraph(names=["a"], tau_max=0, graph=[[[""]]], val=np.zeros((1, 1, 1)),
        ...                      p=np.ones((1, 1, 1))), truth=True)
        >>> pic.redraws, pic.truth.names, pic.draw() is not None, pic.draw()
        (0, ['a'], True, None)
        """
        if truth:
            self.truth = msg
        else:
            self.discovered = msg

    def update(self, msg: CausalGraph, truth: bool = False) -> np.ndarray | None:
        """Take a graph (``truth``: the simulator's); the new picture, or None when no link set changed."""
        self.take(msg, truth)
        return self.draw()

    def draw(self) -> np.ndarray | None:
        """The picture of the graphs kept, or None when no link set changed since the last draw (or no graph yet)."""
        if self.discovered is None and self.truth is None:
            return None
        key = (_key(self.discovered), _key(self.truth))
        if key == self._drawn:
            return None
        self._drawn = key
        self.redraws += 1
        return render(self.discovered, self.truth, self.panel)
