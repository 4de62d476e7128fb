"""tigramite's ``link_assumptions`` dict, checked, completed and read as arrays.

The form is tigramite's: ``{j: {(i, -tau): mark}}`` with marks '-->', '-?>', 'o-o', 'o?o',
'<--', '<?-' (the middle '?': the link may be absent; '-': it is there). A link missing
from the dict is absent. :meth:`LinkAssumptions.check` does what tigramite's
``_set_link_assumptions`` does (a lag-0 link gets its reverse on the other side, a lagged
link is oriented forward in time keeping its middle mark, no contemporaneous cycle through
'-->' / '-?>') with a one-line :class:`ParameterError` wherever tigramite raises (or, for a
lag-0 self link, says nothing). The algorithms read the arrays:

- ``candidates``: the links PC1 / MCI test (present, not '<--' / '<?-');
- ``fixed``: '-->' and 'o-o' links, which tigramite never tests (val 1, p 0: PC1 keeps a
  fixed parent, MCI reports it);
- ``assumed``: where an assumption decided the link: '-->', '<--' or 'o-o', or a link
  forbidden (absent from the dict) within lags tau_min..tau_max.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from causalstream.models.errors import ParameterError

__all__ = ["LinkAssumptions", "MARKS", "reverse_mark"]

MARKS = ("-->", "-?>", "o-o", "o?o", "<--", "<?-")
"""The marks tigramite accepts."""


def reverse_mark(mark: str) -> str:
    """The same link seen from its other end (tigramite's ``_reverse_link``).

    >>> reverse_mark("-->"), reverse_mark("o?o"), reverse_mark("<?-")
    ('<--', 'o?o', '-?>')
    """
    left = "<" if mark[2] == ">" else mark[2]
    right = ">" if mark[0] == "<" else mark[0]
    return left + mark[1] + right


def _bad(reason: str) -> ParameterError:
    return ParameterError("link_assumptions", reason)


@dataclass(frozen=True)
class LinkAssumptions:
    """A checked link_assumptions dict (tigramite's completed form) and its arrays (read-only, cached).

    >>> la = LinkAssumptions.check({0: {(1, 0): "-->"}, 1: {(1, -1): "-?>"}}, 2, 0, 1)
    >>> la.links[1]
    {(1, -1): '-?>', (0, 0): '<--'}
    >>> la.marks[:, :, 0].tolist(), bool(la.fixed[1, 0, 0]), bool(la.candidates[0, 1, 0])
    ([['', '<--'], ['-->', '']], True, False)
    """

    links: dict[int, dict[tuple[int, int], str]]
    n_vars: int
    tau_min: int
    tau_max: int

    @classmethod
    def check(cls, link_assumptions: Mapping, n_vars: int, tau_min: int, tau_max: int) -> LinkAssumptions:
        """Check and complete a dict as tigramite does; a one-line ParameterError if it is wrong.

        >>> LinkAssumptions.check({0: {(1, 0): "-->"}, 1: {(0, 0): "-->"}}, 2, 0, 1)
        Traceback (most recent call last):
        ...
        causalstream.models.errors.ParameterError: link_assumptions: inconsistent marks between 1 and 0 at lag 0: 1 -> 0 is '-->' but 0 -> 1 is '-->' (expected '<--')
        """
        if not isinstance(link_assumptions, Mapping):
            raise _bad(f"must be a dict {{j: {{(i, -tau): mark}}}}, got {type(link_assumptions).__name__}")
        keys = set(link_assumptions)
        if keys != set(range(n_vars)):
            missing, extra = sorted(set(range(n_vars)) - keys), sorted(keys - set(range(n_vars)), key=repr)
            raise _bad(f"needs one key per variable 0..{n_vars - 1}: missing {missing}, unknown {extra}")
        links = {j: _check_target(j, link_assumptions[j], n_vars, tau_min, tau_max) for j in range(n_vars)}
        for j in range(n_vars):
            for (i, lag), mark in list(links[j].items()):
                if lag != 0:
                    links[j][(i, lag)] = "-" + mark[1] + ">"
                elif (j, 0) in links[i]:
                    if links[i][(j, 0)] != reverse_mark(mark):
                        raise _bad(f"inconsistent marks between {i} and {j} at lag 0: {i} -> {j} is {mark!r} "
                                   f"but {j} -> {i} is {links[i][(j, 0)]!r} (expected {reverse_mark(mark)!r})")
                else:
                    links[i][(j, 0)] = reverse_mark(mark)
        cycle = _contemp_cycle(links)
        if cycle:
            raise _bad("contemporaneous cycle through '-->' / '-?>': " + " -> ".join(map(str, cycle[::-1])))
        return cls(links=links, n_vars=n_vars, tau_min=tau_min, tau_max=tau_max)

    @classmethod
    def default(cls, n_vars: int, tau_min: int, tau_max: int) -> LinkAssumptions:
        """tigramite's default: every link possible ('o?o' at lag 0, '-?>' lagged).

        >>> LinkAssumptions.default(2, 0, 1).links[0]
        {(0, -1): '-?>', (1, 0): 'o?o', (1, -1): '-?>'}
        """
        links = {j: {(i, -lag): ("o?o" if lag == 0 else "-?>") for i in range(n_vars)
                     for lag in range(tau_min, tau_max + 1) if not (i == j and lag == 0)} for j in range(n_vars)}
        return cls(links=links, n_vars=n_vars, tau_min=tau_min, tau_max=tau_max)

    @cached_property
    def marks(self) -> np.ndarray:
        """The marks as a graph [N, N, tau_max + 1]: marks[i, j, tau] for (i, -tau) -> j, '' absent.

        >>> LinkAssumptions.default(2, 1, 1).marks[:, :, 1].tolist()
        [['-?>', '-?>'], ['-?>', '-?>']]
        """
        out = np.zeros((self.n_vars, self.n_vars, self.tau_max + 1), dtype="<U3")
        for j, row in self.links.items():
            for (i, lag), mark in row.items():
                out[i, j, -lag] = mark
        out.flags.writeable = False     # cached: read by every refresh
        return out

    @cached_property
    def candidates(self) -> np.ndarray:
        """The links tested (or fixed) with j as the target: present and not '<--' / '<?-'.

        >>> LinkAssumptions.check({0: {}, 1: {(0, -1): "-->"}}, 2, 1, 1).candidates[:, :, 1].tolist()
        [[False, True], [False, False]]
        """
        m = self.marks
        return _frozen((m != "") & (m != "<--") & (m != "<?-"))

    @cached_property
    def fixed(self) -> np.ndarray:
        """Links tigramite never tests: '-->' and 'o-o' (val 1, p 0).

        >>> LinkAssumptions.check({0: {(1, 0): "o-o"}, 1: {}}, 2, 0, 0).fixed[:, :, 0].tolist()
        [[False, True], [True, False]]
        """
        m = self.marks
        return _frozen((m == "-->") | (m == "o-o"))

    @cached_property
    def assumed(self) -> np.ndarray:
        """Where an assumption decided the link: '-->', '<--', 'o-o', or forbidden in range.

        >>> a = LinkAssumptions.check({0: {(1, 0): "-->"}, 1: {(1, -1): "-?>"}}, 2, 0, 1).assumed
        >>> a[:, :, 0].tolist(), a[:, :, 1].tolist()
        ([[False, True], [True, False]], [[True, True], [True, False]])
        """
        m = self.marks
        decided = (m == "-->") | (m == "<--") | (m == "o-o") | (m == "")
        decided[:, :, :self.tau_min] = False
        decided[np.arange(self.n_vars), np.arange(self.n_vars), 0] = False
        return _frozen(decided)

    def lagged_parents(self, j: int) -> list[tuple[int, int]]:
        """PC1's initial parents of j in the dict's order: lagged, not '<--' / '<?-'.

        >>> LinkAssumptions.check({0: {(0, -2): "-?>", (1, -1): "-->"}, 1: {}}, 2, 1, 2).lagged_parents(0)
        [(0, -2), (1, -1)]
        """
        return [link for link, mark in self.links[j].items() if link[1] != 0 and mark not in ("<--", "<?-")]


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _check_target(j: int, row: object, n_vars: int, tau_min: int, tau_max: int) -> dict[tuple[int, int], str]:
    if not isinstance(row, Mapping):
        raise _bad(f"links of variable {j} must be a dict {{(i, -tau): mark}}, got {type(row).__name__}")
    out = {}
    for link, mark in row.items():
        if not (isinstance(link, tuple) and len(link) == 2 and all(isinstance(v, (int, np.integer)) for v in link)):
            raise _bad(f"link {link!r} of variable {j} must be a tuple (i, -tau) of ints")
        i, lag = int(link[0]), int(link[1])
        if not 0 <= i < n_vars:
            raise _bad(f"link {link!r} of variable {j}: variable {i} out of range 0..{n_vars - 1}")
        if not -tau_max <= lag <= -tau_min:
            raise _bad(f"link {link!r} of variable {j}: lag {lag} outside [-tau_max, -tau_min] = [{-tau_max}, {-tau_min}]")
        if mark not in MARKS:
            raise _bad(f"link {link!r} of variable {j}: unknown mark {mark!r} (marks: {', '.join(MARKS)})")
        if i == j and lag == 0:
            raise _bad(f"link {link!r} of variable {j}: a variable has no contemporaneous link to itself")
        out[(i, lag)] = mark
    return out


def _contemp_cycle(links: dict[int, dict[tuple[int, int], str]]) -> list[int]:
    """A directed lag-0 cycle (through '-->' / '-?>' into each target), as tigramite's _check_cyclic."""
    state: dict[int, int] = {}             # 1 on the current path, 2 done
    path: list[int] = []

    def visit(v: int) -> list[int]:
        state[v] = 1
        path.append(v)
        for (i, lag), mark in links[v].items():
            if lag == 0 and mark in ("-->", "-?>"):
                if state.get(i) == 1:
                    return path[path.index(i):] + [i]
                if i not in state:
                    found = visit(i)
                    if found:
                        return found
        path.pop()
        state[v] = 2
        return []

    for v in links:
        if v not in state:
            found = visit(v)
            if found:
                return found
    return []
