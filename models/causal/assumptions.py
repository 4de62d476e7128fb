"""Readable link rules over variable names, compiled to tigramite's link_assumptions dict.

Variables are named ``agent.variable`` (``robot.v``, ``h1.d_goal``); a pattern is a glob
over the whole name (``h*.*``, ``robot.v``, ``*``). Rules are a list of dicts, each with one
kind key:

- ``{forbid: "A -> B"}``: no link from any A to any B. ``"A -- B"``: neither direction.
- ``{require: "A -> B"}``: the link is there, oriented A -> B ('-->'). ``"A -- B"`` (lag 0
  only): the lag-0 link is there, its orientation left to the data ('o-o').
- ``{allow: "A -> B"}``: an exception to the forbids (and orders): the link stays possible.
- ``{order: [P1, P2, ...]}``: chronological order (COKE's): at lag 0 no link goes from a
  variable of a later pattern to one of an earlier pattern. Lagged links are untouched.

``"B <- A"`` is ``"A -> B"``. ``forbid``, ``require`` and ``allow`` take ``lag`` (an int,
or ``[lo, hi]`` inclusive; default every lag tau_min..tau_max), and ``within: agent`` /
``across: agent`` (only pairs of one agent / of two agents; the agent is the name up to
its first dot). A self pair (``robot.v -> robot.v``) exists at lag >= 1 only.

Every link starts possible (tigramite's default: '-?>' lagged, 'o?o' at lag 0). Rules do
not depend on their order: a link is forbidden when a forbid (or order) matches it and no
allow does; a link both required and forbidden, or required both ways at lag 0, is an
error; a lag-0 pair with one direction forbidden may only go the other way ('-?>'). Errors are :class:`RuleError` (a ParameterError) carrying the rule's ``index`` and
``field``, so a launch file can point at the line.

>>> names = ["robot.v", "h1.v", "h1.a"]
>>> la = compile([{"forbid": "h*.* -> robot.*"}, {"forbid": "* -- *", "lag": 0, "within": "agent"}], names, 0, 1)
>>> la[0]
{(0, -1): '-?>', (1, 0): '<?-', (2, 0): '<?-'}
>>> la[2]
{(0, 0): '-?>', (0, -1): '-?>', (1, -1): '-?>', (2, -1): '-?>'}
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase

import numpy as np

from causalstream.models.causal.links import LinkAssumptions
from causalstream.models.errors import ParameterError, RuleError

__all__ = ["check_rules", "compile", "describe"]

KINDS = ("forbid", "require", "allow", "order")
OPTIONS = ("lag", "within", "across")
ARROWS = ("->", "<-", "--")
_LINK = re.compile(r"^\s*(\S+)\s+(\S+)\s+(\S+)\s*$")


class _Book:
    """Per directed link (i, j, lag): the rule that forbade / required it (-1 none)."""

    def __init__(self, n: int, tau_max: int) -> None:
        shape = (n, n, tau_max + 1)
        self.forbid = np.full(shape, -1)
        self.require = np.full(shape, -1)
        self.allow = np.full(shape, -1)
        self.adjacent = np.full((n, n), -1)        # 'A -- B' required at lag 0 (symmetric)


def compile(rules: Sequence[Mapping], var_names: Sequence[str], tau_min: int, tau_max: int
            ) -> dict[int, dict[tuple[int, int], str]]:
    """Rules -> tigramite's ``{j: {(i, -tau): mark}}`` (checked: links.LinkAssumptions).

    >>> compile([{"require": "a -> b", "lag": 1}, {"order": ["b", "a"]}], ["a", "b"], 0, 1)[1]
    {(0, 0): '<?-', (0, -1): '-->', (1, -1): '-?>'}
    >>> compile([{"forbid": "c -> a"}], ["a", "b"], 0, 1)
    Traceback (most recent call last):
    ...
    causalstream.models.errors.RuleError: link rule 0 (forbid): 'c' matches no variable (variables: a, b)
    """
    names = [str(v) for v in var_names]
    _rules(rules)
    book = _Book(len(names), tau_max)
    for index, rule in enumerate(rules):
        _apply(index, rule, names, tau_min, tau_max, book)
    links = _to_dict(book, names, tau_min, tau_max)
    try:
        LinkAssumptions.check(links, len(names), tau_min, tau_max)
    except ParameterError as exc:    # a cycle of required lag-0 links
        raise RuleError(None, "require", f"{exc.reason} (variables: {', '.join(names)})") from None
    return links


def check_rules(rules: Sequence[Mapping], tau_min: int, tau_max: int) -> None:
    """Check everything but the names (keys, marks, lags, options), before the variables are known.

    A launch file can be checked when it is loaded; compile() then checks the patterns
    against the variables.

    >>> check_rules([{"forbid": "h*.* -> robot.*", "lag": 0}], 0, 2)
    >>> check_rules([{"forbid": "h*.* -> robot.*", "lag": 3}], 0, 2)
    Traceback (most recent call last):
    ...
    causalstream.models.errors.RuleError: link rule 0 (lag): 3 outside [tau_min, tau_max] = [0, 2]
    """
    _rules(rules)
    book = _Book(0, tau_max)
    for index, rule in enumerate(rules):
        _apply(index, rule, None, tau_min, tau_max, book)


def _rules(rules: object) -> None:
    if isinstance(rules, (str, bytes, Mapping)) or not isinstance(rules, Sequence):
        raise RuleError(None, "rules", f"must be a list of rules, got {type(rules).__name__}")


def describe(rules: Sequence[Mapping], var_names: Sequence[str], tau_min: int, tau_max: int) -> list[str]:
    """The compiled links, one readable line each ('robot.v -(1)-> h1.v -->'), '' for none.

    >>> rules = [{"forbid": "* -> *", "lag": 1}, {"allow": "* -> b", "lag": 1}, {"require": "b -> b", "lag": 1}]
    >>> describe(rules, ["a", "b"], 1, 1)
    ['a -(1)-> b: -?>', 'b -(1)-> b: -->']
    """
    links = compile(rules, var_names, tau_min, tau_max)
    return [f"{var_names[i]} -({-lag})-> {var_names[j]}: {mark}" for j, row in links.items()
            for (i, lag), mark in row.items()]


def _apply(index: int, rule: object, names: list[str] | None, tau_min: int, tau_max: int, book: _Book) -> None:
    if not isinstance(rule, Mapping):
        raise RuleError(index, "rule", f"must be a mapping like {{forbid: 'A -> B'}}, got {rule!r}")
    unknown = [k for k in rule if k not in KINDS + OPTIONS]
    if unknown:
        raise RuleError(index, str(unknown[0]), f"unknown key (keys: {', '.join(KINDS + OPTIONS)})")
    kinds = [k for k in KINDS if k in rule]
    if len(kinds) != 1:
        raise RuleError(index, "rule", f"needs exactly one of {', '.join(KINDS)}, got {kinds or 'none'}")
    kind = kinds[0]
    if kind == "order":
        if any(k in rule for k in OPTIONS):
            raise RuleError(index, "order", "takes no options (it is about lag 0 only)")
        _order(index, rule["order"], names, tau_min, book)
        return
    src, arrow, dst = _parse(index, kind, rule[kind], names)
    lags = _lags(index, rule.get("lag"), tau_min, tau_max)
    pairs = _pairs(index, rule, src, dst, names)
    if arrow == "--" and kind == "require":
        if lags != [0]:
            raise RuleError(index, "lag", "'A -- B' (orientation open) is a lag-0 rule: give lag: 0")
        for i, j in pairs:
            if i != j:
                book.adjacent[i, j] = book.adjacent[j, i] = index
        return
    both = arrow == "--"
    for lag in lags:
        for i, j in pairs:
            if lag == 0 and i == j:
                continue
            _mark(book, kind, index, names, i, j, lag)
            if both:
                _mark(book, kind, index, names, j, i, lag)


def _mark(book: _Book, kind: str, index: int, names: list[str], i: int, j: int, lag: int) -> None:
    if kind == "require" and lag == 0 and book.require[j, i, 0] >= 0:
        raise RuleError(index, kind, f"contradicts rule {book.require[j, i, 0]}: {names[j]} -> {names[i]} "
                                     "is required at lag 0 too")
    table = getattr(book, kind)
    if table[i, j, lag] < 0:
        table[i, j, lag] = index


def _parse(index: int, kind: str, text: object, names: list[str] | None) -> tuple[list[int], str, list[int]]:
    found = _LINK.match(text) if isinstance(text, str) else None
    if not found:
        raise RuleError(index, kind, f"expected 'A -> B', 'A <- B' or 'A -- B', got {text!r}")
    left, arrow, right = found.groups()
    if arrow not in ARROWS:
        raise RuleError(index, kind, f"unknown mark {arrow!r} (marks: {', '.join(ARROWS)})")
    a, b = _match(index, kind, left, names), _match(index, kind, right, names)
    return (b, "->", a) if arrow == "<-" else (a, arrow, b)


def _match(index: int, field: str, pattern: object, names: list[str] | None) -> list[int]:
    if not isinstance(pattern, str):
        raise RuleError(index, field, f"a pattern must be a string, got {pattern!r}")
    if names is None:                   # check_rules: names not known yet
        return []
    hits = [k for k, name in enumerate(names) if fnmatchcase(name, pattern)]
    if not hits:
        raise RuleError(index, field, f"{pattern!r} matches no variable (variables: {', '.join(names)})")
    return hits


def _lags(index: int, lag: object, tau_min: int, tau_max: int) -> list[int]:
    if lag is None:
        return list(range(tau_min, tau_max + 1))
    if isinstance(lag, int) and not isinstance(lag, bool):
        lo = hi = lag
    elif isinstance(lag, Sequence) and len(lag) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in lag):
        lo, hi = lag
    else:
        raise RuleError(index, "lag", f"must be an int or [lo, hi], got {lag!r}")
    if not tau_min <= lo <= hi <= tau_max:
        raise RuleError(index, "lag", f"{lag!r} outside [tau_min, tau_max] = [{tau_min}, {tau_max}]")
    return list(range(lo, hi + 1))


def _pairs(index: int, rule: Mapping, src: list[int], dst: list[int], names: list[str] | None) -> list[tuple[int, int]]:
    agent = [name.split(".", 1)[0] for name in names or []]
    pairs = [(i, j) for i in src for j in dst]
    for key, same in (("within", True), ("across", False)):
        if key in rule:
            if rule[key] != "agent":
                raise RuleError(index, key, f"must be 'agent', got {rule[key]!r}")
            pairs = [(i, j) for i, j in pairs if (agent[i] == agent[j]) == same]
    return pairs


def _order(index: int, tiers: object, names: list[str] | None, tau_min: int, book: _Book) -> None:
    if isinstance(tiers, str) or not isinstance(tiers, Sequence) or len(tiers) < 2:
        raise RuleError(index, "order", f"must be a list of at least two patterns, got {tiers!r}")
    rank: dict[int, int] = {}
    for t, pattern in enumerate(tiers):
        for k in _match(index, "order", pattern, names):
            if k in rank and rank[k] != t:
                raise RuleError(index, "order", f"{names[k]} matches patterns {rank[k]} and {t}")
            rank[k] = t
    if tau_min > 0:
        return                          # no lag-0 links to order
    for i, ti in rank.items():
        for j, tj in rank.items():
            if ti > tj:
                _mark(book, "forbid", index, names, i, j, 0)


def _to_dict(book: _Book, names: list[str], tau_min: int, tau_max: int) -> dict[int, dict[tuple[int, int], str]]:
    n = len(names)
    forbidden = (book.forbid >= 0) & (book.allow < 0)
    clash = np.argwhere(forbidden & (book.require >= 0))
    if len(clash):
        i, j, lag = clash[0]
        raise RuleError(int(book.require[i, j, lag]), "require", f"contradicts rule {book.forbid[i, j, lag]} "
                        f"on {names[i]} -> {names[j]} at lag {lag}")
    book.forbid[~forbidden] = -1
    links: dict[int, dict[tuple[int, int], str]] = {j: {} for j in range(n)}
    for j in range(n):
        for i in range(n):
            for lag in range(tau_min, tau_max + 1):
                if lag == 0:
                    if i != j:
                        mark = _contemp(book, names, i, j)
                        if mark:
                            links[j][(i, 0)] = mark
                elif book.require[i, j, lag] >= 0:
                    links[j][(i, -lag)] = "-->"
                elif book.forbid[i, j, lag] < 0:
                    links[j][(i, -lag)] = "-?>"
    return links


def _contemp(book: _Book, names: list[str], i: int, j: int) -> str:
    """The lag-0 mark of i -> j (seen from j) from both directions' rules."""
    if book.require[i, j, 0] >= 0:
        return "-->"
    if book.require[j, i, 0] >= 0:
        return "<--"
    fi, fj = book.forbid[i, j, 0] >= 0, book.forbid[j, i, 0] >= 0
    if book.adjacent[i, j] >= 0:
        if fi and fj:
            raise RuleError(int(book.adjacent[i, j]), "require", f"{names[i]} -- {names[j]} is required but "
                            f"rules {book.forbid[i, j, 0]} and {book.forbid[j, i, 0]} forbid both directions")
        return "<--" if fi else "-->" if fj else "o-o"
    if fi and fj:
        return ""
    return "<?-" if fi else "-?>" if fj else "o?o"
