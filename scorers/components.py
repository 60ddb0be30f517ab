"""Clusters from candidate edges: connected components, then anchor verification.

Both steps are deterministic functions of their inputs' *values*, never of their order:
node ids are sorted before labelling, a component is named by its smallest id, and the
anchor of a verified cluster is the best member by (priority, id).

Components come two ways with the same answer: `connected_components` in one process
(scipy), and the large-star / small-star steps (Kiveris et al., "Connected Components in
MapReduce and Beyond", 2014), which a distributed runner applies round after round to a
partitioned edge list, each step needing only the edges of the nodes one partition holds.
Their edge tables carry each end's documents part (`lo_part`, `hi_part`) along, so once the
rounds converge every node knows both its component and where its document lives.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
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


EDGES = pa.schema(  # one undirected edge, its smaller id first, with each end's documents part
    [
        pa.field("lo", pa.string()),
        pa.field("lo_part", pa.int32()),
        pa.field("hi", pa.string()),
        pa.field("hi_part", pa.int32()),
    ]
)
NEIGHBOURS = pa.schema(  # a node and one neighbour, as the star steps group them
    [
        pa.field("node", pa.string()),
        pa.field("node_part", pa.int32()),
        pa.field("nbr", pa.string()),
        pa.field("nbr_part", pa.int32()),
    ]
)


def both_directions(edges: pa.Table) -> pa.Table:
    """Edges -> neighbour rows seen from each end (what large-star groups by node)."""
    lo, lo_part, hi, hi_part = (edges[c] for c in EDGES.names)
    return pa.concat_tables(
        [
            pa.Table.from_arrays([lo, lo_part, hi, hi_part], schema=NEIGHBOURS),
            pa.Table.from_arrays([hi, hi_part, lo, lo_part], schema=NEIGHBOURS),
        ]
    )


def from_larger_end(edges: pa.Table) -> pa.Table:
    """Edges -> neighbour rows seen from the larger id (what small-star groups by node)."""
    return pa.Table.from_arrays(
        [edges["hi"], edges["hi_part"], edges["lo"], edges["lo_part"]], schema=NEIGHBOURS
    )


def _groups(rows: pa.Table) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """Distinct neighbour rows sorted by (node, nbr); each row's group and group starts."""
    t = rows.sort_by([("node", "ascending"), ("nbr", "ascending")]).combine_chunks()
    node, nbr = t["node"], t["nbr"]
    repeat = np.zeros(t.num_rows, dtype=bool)
    if t.num_rows > 1:
        same_node = pc.equal(node[1:], node[:-1])
        repeat[1:] = pc.and_(same_node, pc.equal(nbr[1:], nbr[:-1])).to_numpy(False)
        t = t.filter(pa.array(~repeat))
        node = t["node"]
    first = np.ones(t.num_rows, dtype=bool)
    if t.num_rows > 1:
        first[1:] = pc.not_equal(node[1:], node[:-1]).to_numpy(False)
    starts = np.flatnonzero(first)
    return t, np.cumsum(first) - 1, starts


def large_star(rows: pa.Table) -> tuple[pa.Table, int]:
    """Large-star over complete neighbourhoods (`rows`: every edge of each node it holds,
    in both directions): every neighbour larger than its node is re-attached to the
    smallest id of the node's closed neighbourhood.

    Returns the new edges and how many nodes are unsettled: with a smaller neighbour and
    a larger one, or with two smaller ones. None unsettled anywhere means the graph is
    already a forest of stars, each centred on its component's smallest id: the rounds stop.
    """
    if rows.num_rows == 0:
        return EDGES.empty_table(), 0
    t, group, starts = _groups(rows)
    node, nbr = t["node"], t["nbr"]
    smaller = pc.less(nbr, node).to_numpy(False)
    larger = ~smaller  # no self loops: a neighbour is never its node
    n_smaller = np.add.reduceat(smaller.astype(np.int64), starts)
    n_larger = np.add.reduceat(larger.astype(np.int64), starts)
    unsettled = int(((n_smaller >= 2) | ((n_smaller >= 1) & (n_larger >= 1))).sum())
    # sorted by nbr within a node: its first neighbour is its smallest one
    first_nbr, first_part = t["nbr"].take(starts[group]), t["nbr_part"].take(starts[group])
    to_nbr = pa.array(smaller[starts][group])  # the node has a smaller neighbour
    centre = pc.if_else(to_nbr, first_nbr, node)
    centre_part = pc.if_else(to_nbr, first_part, t["node_part"])
    keep = pa.array(larger)
    edges = pa.Table.from_arrays(
        [
            centre.filter(keep),
            centre_part.filter(keep),
            nbr.filter(keep),
            t["nbr_part"].filter(keep),
        ],
        schema=EDGES,
    )
    return edges, unsettled


def small_star(rows: pa.Table) -> pa.Table:
    """Small-star (`rows`: each edge once, from its larger end): a node and all its smaller
    neighbours are attached to the smallest of those neighbours."""
    if rows.num_rows == 0:
        return EDGES.empty_table()
    t, group, starts = _groups(rows)
    centre, centre_part = t["nbr"].take(starts), t["nbr_part"].take(starts)
    others = np.ones(t.num_rows, dtype=bool)
    others[starts] = False  # the smallest neighbour is the centre itself
    others_a = pa.array(others)
    into = pa.array(group[others])
    return pa.concat_tables(
        [
            pa.Table.from_arrays(
                [centre, centre_part, t["node"].take(starts), t["node_part"].take(starts)],
                schema=EDGES,
            ),
            pa.Table.from_arrays(
                [
                    centre.take(into),
                    centre_part.take(into),
                    t["nbr"].filter(others_a),
                    t["nbr_part"].filter(others_a),
                ],
                schema=EDGES,
            ),
        ]
    )


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
