"""Clusters from candidate edges: connected components, then anchor verification.

Both steps are deterministic functions of their inputs' *values*, never of their order:
node ids are sorted before labelling, a component is named by its smallest id, and the
anchor of a verified cluster is the best member by (priority, id).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components as _scipy_components


def connected_components(src, dst) -> tuple[np.ndarray, np.ndarray]:
    """(nodes, component) for an undirected edge list of string ids.

    `nodes` are the distinct ids in sorted order; `component[i]` is the smallest id of
    the component holding `nodes[i]`. Isolated ids never appear (they have no edge).

    >>> nodes, comp = connected_components(["b", "d"], ["a", "c"])
    >>> list(zip(nodes.tolist(), comp.tolist()))
    [('a', 'a'), ('b', 'a'), ('c', 'c'), ('d', 'c')]
    """
    src, dst = np.asarray(src, dtype=object), np.asarray(dst, dtype=object)
    if len(src) == 0:
        empty = np.array([], dtype=object)
        return empty, empty
    nodes, index = np.unique(np.concatenate([src, dst]), return_inverse=True)
    n, m = len(nodes), len(src)
    graph = coo_matrix((np.ones(m, np.int8), (index[:m], index[m:])), shape=(n, n))
    _, labels = _scipy_components(graph, directed=False)
    # name each component by its smallest member: nodes are sorted, so the first index
    first = np.full(labels.max() + 1, n, dtype=np.int64)
    np.minimum.at(first, labels, np.arange(n))
    return nodes, nodes[first[labels]]


def anchor_clusters(
    n: int,
    similarity_to: Callable[[int, np.ndarray], np.ndarray],
    threshold: float,
    fixed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Split one candidate component into verified clusters around anchors.

    Members 0..n-1 must be ordered best first (priority, then id). The best member not
    yet placed becomes an anchor; every unplaced member at least `threshold` similar to
    it joins its cluster. Repeat on the rest. A chain a~b~c with a and c dissimilar is
    thereby split instead of merged transitively.

    The first `fixed` members are anchors before any other, and never join another
    anchor's cluster (keepers an earlier batch of a collection published stay kept).

    Returns (anchor index per member, -1 when it joined no cluster; similarity to it).

    >>> sims = np.array([[1, .9, .2], [.9, 1, .9], [.2, .9, 1]])
    >>> anchors, sim = anchor_clusters(3, lambda a, rest: sims[a, rest], 0.8)
    >>> anchors.tolist(), sim.tolist()
    ([0, 0, -1], [1.0, 0.9, 0.0])
    """
    anchor = np.full(n, -1, dtype=np.int64)
    similarity = np.zeros(n, dtype=np.float64)
    remaining = np.arange(fixed, n)

    def claim(a: int, rest: np.ndarray) -> np.ndarray:
        """Anchor `a` takes the members of `rest` close to it; returns the others."""
        sims = np.asarray(similarity_to(a, rest), dtype=np.float64)
        close = sims >= threshold
        if close.any():
            anchor[a], similarity[a] = a, 1.0
            anchor[rest[close]] = a
            similarity[rest[close]] = sims[close]
        return rest[~close]

    for a in range(fixed):
        if len(remaining):
            remaining = claim(a, remaining)
    while len(remaining) > 1:
        remaining = claim(int(remaining[0]), remaining[1:])
    return anchor, similarity
