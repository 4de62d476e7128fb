"""tigramite's LPCMCI searches built on the graph's adjacencies: quadruples (rule ER03) and uncovered paths (ER09, ER10).

Both on :class:`GraphSearchLPCMCI`'s lists (lpcmci_graph.py) and graph_dict instead of a numpy
string array and one ``_get_link`` call a step, each in tigramite's order (its sets built by
the same operations, so iterated alike); tests/test_causal_lpcmci_rules.py pins them against
tigramite's own methods.

>>> from causalstream.models.causal.lpcmci import CovarianceLPCMCI
>>> isinstance(CovarianceLPCMCI(2, 1), WalkLPCMCI)
True
"""

from __future__ import annotations

from typing import Any

from causalstream.models.causal.lpcmci_graph import GraphSearchLPCMCI, _Matcher

__all__ = ["WalkLPCMCI"]

_AFTER_CIRCLE = ["o*o", "o*>", "-*>"]  # the patterns a potentially directed path allows after an o*o step (tigramite's)
_AFTER_ARROW = ["-*>"]                 # ... and after an o*> or -*> step


class WalkLPCMCI(GraphSearchLPCMCI):
    """tigramite's LPCMCI whose quadruple and uncovered-path searches are ours.

    >>> from causalstream.models.causal.lpcmci import CovarianceLPCMCI
    >>> issubclass(CovarianceLPCMCI, WalkLPCMCI)
    True
    """

    def _find_quadruples(self, pattern_ij: str, pattern_jk: str, pattern_ik: str, pattern_il: str, pattern_jl: str,
                         pattern_kl: str) -> list[tuple]:
        """tigramite's ``_find_quadruples`` (:meth:`_quadruples`), found once per graph and patterns.

        >>> from causalstream.models.causal.lpcmci import CovarianceLPCMCI
        >>> lp = CovarianceLPCMCI(2, 0); lp.tau_max = 0; lp.graph_dict = {0: {(1, 0): "o-o"}, 1: {(0, 0): "o-o"}}
        >>> lp._find_quadruples("**>", "<**", "", "+*o", "o*+", "+*o")
        []
        """
        patterns = (pattern_ij, pattern_jk, pattern_ik, pattern_il, pattern_jl, pattern_kl)
        graph = self._graph_key()
        key = (graph, "quadruples", *patterns)
        found = self._found.get(key)
        if found is None:
            found = self._remember(key, self._quadruples(graph, *patterns))
        return list(found)

    def _quadruples(self, graph: tuple, pattern_ij: str, pattern_jk: str, pattern_ik: str, pattern_il: str,
                    pattern_jl: str, pattern_kl: str) -> list[tuple]:
        """tigramite's ``_find_quadruples``: each triple's fourth nodes, adjacencies from the lists kept per graph.

        ``_find_adj(graph, node, pattern, exclude)`` is the node's variable's adjacencies at lag 0
        shifted to its lag, the excluded left out; tigramite's sets are made from them as there.

        >>> from causalstream.models.causal.lpcmci import CovarianceLPCMCI
        >>> lp = CovarianceLPCMCI(4, 0); lp.tau_max = 0
        >>> lp.graph_dict = {0: {(1, 0): "<-o", (2, 0): "", (3, 0): "o-o"}, 1: {(0, 0): "o->", (2, 0): "o->", (3, 0): "o-o"},
        ...                  2: {(0, 0): "", (1, 0): "<-o", (3, 0): "o-o"}, 3: {(0, 0): "o-o", (1, 0): "o-o", (2, 0): "o-o"}}
        >>> lp._quadruples(lp._graph_key(), "**>", "<**", "", "+*o", "o*+", "+*o")
        [((0, 0), (1, 0), (2, 0), (3, 0)), ((2, 0), (1, 0), (0, 0), (3, 0))]
        """
        assert pattern_il != ""
        adj = self._adjacency(graph)
        g, lags, tau_max = adj.g, self.tau_max + 1, self.tau_max

        def adjacent(node: tuple[int, int], pattern: str, exclude: tuple) -> list[tuple[int, int]]:
            var, lag = node
            return [shifted for k, lk in self._adjacent_at_zero(adj, var, pattern)
                    if (shifted := (k, lk + lag)) not in exclude]

        def unlinked(node: tuple[int, int], other: tuple[int, int]) -> bool:   # tigramite's _is_match(graph, node, other, '')
            tau = other[1] - node[1]
            if tau >= lags or -tau >= lags:
                return False
            return (g[node[0]][other[0]][tau] if tau >= 0 else g[other[0]][node[0]][-tau]) == ""

        matched: list[tuple] = []
        for triple in self._find_triples(pattern_ij, pattern_jk, pattern_ik):
            (i, lag_i), (j, lag_j), (k, lag_k) = triple
            nodes_i, nodes_j, nodes_k = triple
            adjacencies = set(adjacent(nodes_i, pattern_il, (nodes_j, nodes_k)))
            if pattern_jl != "":
                adjacencies = adjacencies.intersection(set(adjacent(nodes_j, pattern_jl, (nodes_i, nodes_k))))
            else:
                adjacencies = set([a for a in adjacencies if unlinked(nodes_j, a)])  # noqa: C403  (tigramite's)
            if pattern_kl != "":
                adjacencies = adjacencies.intersection(set(adjacent(nodes_k, pattern_kl, (nodes_i, nodes_j))))
            else:
                adjacencies = set([a for a in adjacencies if unlinked(nodes_k, a)])  # noqa: C403  (tigramite's)
            for l, lag_l in adjacencies:  # noqa: E741  (tigramite's name)
                right = max(lag_i, lag_j, lag_k, lag_l)
                match = ((i, lag_i - right), (j, lag_j - right), (k, lag_k - right), (l, lag_l - right))
                if match not in matched and -tau_max <= min(lag_i, lag_j, lag_k, lag_l) - right <= 0:
                    matched.append(match)
        return matched

    def _get_potentially_directed_uncovered_paths(self, start_node: tuple[int, int], end_node: tuple[int, int],
                                                  initial_allowed_patterns: Any) -> list[list[tuple[int, int]]]:
        """tigramite's search of the potentially directed uncovered paths from start_node to end_node, in its order.

        Its depth-first recursion, each path appended where tigramite's lists are concatenated;
        the patterns a step allows are kept from the step before when a link matches none (as
        tigramite's local variable is).

        >>> from causalstream.models.causal.lpcmci import CovarianceLPCMCI
        >>> lp = CovarianceLPCMCI(3, 0); lp.tau_max = 0
        >>> lp.graph_dict = {0: {(1, 0): "o-o", (2, 0): ""}, 1: {(0, 0): "o-o", (2, 0): "<--"}, 2: {(0, 0): "", (1, 0): "-->"}}
        >>> lp._initialize_full_graph(); lp._get_potentially_directed_uncovered_paths((0, 0), (2, 0), ["o*o"])
        [[(0, 0), (1, 0), (2, 0)]]
        """
        assert start_node != end_node
        full, gd, tau_max, reverse = self.graph_full_dict, self.graph_dict, self.tau_max, self._reverse_link
        circle, to_head, tail_head = self._matching("o*o"), self._matching("o*>"), self._matching("-*>")
        after_circle, after_arrow = [self._matching(p) for p in _AFTER_CIRCLE], [self._matching(p) for p in _AFTER_ARROW]
        paths: list[list[tuple[int, int]]] = []

        def search(path_taken: list[tuple[int, int]], allowed: list[_Matcher]) -> None:
            start = path_taken[-1]
            if start == end_node:
                paths.append(path_taken)
                return
            s_var, s_lag = start
            before = path_taken[-2] if len(path_taken) >= 2 else None
            new_allowed: Any = None
            for var, lag in full[s_var]:
                t = lag + s_lag
                if t < -tau_max or t > 0:
                    continue
                nxt = (var, t)
                if nxt in path_taken:
                    continue
                if before is not None:   # _get_link(before, nxt) != '' (both within tau_max: a graph_dict entry)
                    d = before[1] - t
                    if (gd[var][(before[0], d)] if d <= 0 else gd[before[0]][(var, -d)]) != "":
                        continue
                d = s_lag - t   # _get_link(start, nxt)
                link = gd[var][(s_var, d)] if d <= 0 else reverse(gd[s_var][(var, -d)])
                if not any([m[link] for m in allowed]):  # noqa: C419  (every pattern asked, as there)
                    continue
                if circle[link]:
                    new_allowed = after_circle
                elif to_head[link] or tail_head[link]:
                    new_allowed = after_arrow
                elif new_allowed is None:   # tigramite's unbound local
                    raise UnboundLocalError("new_allowed_patters")
                search([*path_taken, nxt], new_allowed)

        search([start_node], [self._matching(p) for p in initial_allowed_patterns])
        return [path for path in paths if len(path) > 2]
