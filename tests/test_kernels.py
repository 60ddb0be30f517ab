"""Direct tests of the pure kernels the Beam stages are built from (no pipeline around them).

Every expected value comes from a brute-force reference written here, or from tiny
hand-built cases whose answer is obvious; random inputs use fixed seeds.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from fractions import Fraction

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thresher.pipelines.exact_dedup import pick_keepers
from thresher.pipelines.ingest import KEYS, REPEATS, find_repeats
from thresher.pipelines.near_dedup import (
    NearDedupConfig,
    priorities,
    star_edges,
    verify_partition,
)
from thresher.pipelines.score import ScoreConfig, compute_cut, passes
from thresher.pipelines.shards import META, doc_key, plan_source
from thresher.scorers.components import (
    both_directions,
    connected_components,
    from_larger_end,
    large_star,
    small_star,
)

SEEDS = [0, 1, 2, 3, 4]
NUM_PERM = 20  # small signatures: k differing slots give estimated Jaccard 1 - k/20


# ---------------------------------------------------------------- helpers


def shuffled_rows(table: pa.Table, rng: random.Random) -> pa.Table:
    order = list(range(table.num_rows))
    rng.shuffle(order)
    return table.take(pa.array(order, pa.int64()))


def rank_order(pri: np.ndarray) -> list[int]:
    """Positions best first: by (priority, position), i.e. ties go to the earlier row."""
    return sorted(range(len(pri)), key=lambda i: (pri[i], i))


def signature(changed: dict[int, int] | None = None) -> list[int]:
    """A base signature (slot i holds 1000 + i) with the given slots overwritten."""
    sig = [1000 + i for i in range(NUM_PERM)]
    for slot, value in (changed or {}).items():
        sig[slot] = value
    return sig


def candidates(rows: list[tuple[str, str, float, list[int]]]) -> pa.Table:
    """(comp, id, priority, signature) rows -> a Verify input table."""
    comp, ids, pri, sigs = zip(*rows, strict=True)
    flat = pa.array([v for s in sigs for v in s], pa.uint64())
    return pa.table(
        {
            "comp": pa.array(comp, pa.string()),
            "id": pa.array(ids, pa.string()),
            "priority": pa.array(pri, pa.float64()),
            "sig": pa.FixedSizeListArray.from_arrays(flat, NUM_PERM),
        }
    )


def cluster_rows(table: pa.Table) -> set[tuple]:
    return {
        (r["id"], r["cluster_id"], r["kept"], r["similarity_to_keeper"]) for r in table.to_pylist()
    }


def ref_anchor_clusters(members: list[tuple[float, str, list[int]]], threshold: float) -> set:
    """The documented greedy rule on one component, written out: order by (priority, id);
    the best unplaced member anchors; unplaced members at least `threshold` similar to it
    (fraction of equal signature slots) join; an anchor nobody joins is no cluster."""
    order = sorted(members, key=lambda m: (m[0], m[1]))
    rows, left = set(), order
    while len(left) > 1:
        (_, a_id, a_sig), rest = left[0], left[1:]
        sims = [
            sum(x == y for x, y in zip(a_sig, sig, strict=True)) / NUM_PERM for _, _, sig in rest
        ]
        joined = [(m, s) for m, s in zip(rest, sims, strict=True) if s >= threshold]
        if joined:
            rows.add((a_id, a_id, True, 1.0))
            rows |= {(m[1], a_id, False, round(s, 6)) for m, s in joined}
        left = [m for m, s in zip(rest, sims, strict=True) if s < threshold]
    return rows


def random_ids(rng: random.Random, n: int, pool: int) -> list[str]:
    """Ids whose string order differs from their numeric order (n9 > n10)."""
    return [f"n{rng.randrange(pool)}" for _ in range(n)]


def ref_components(src: list[str], dst: list[str]) -> dict[str, str]:
    """Node -> smallest id of its component, by BFS over an adjacency list."""
    adj: dict[str, set[str]] = {}
    for a, b in zip(src, dst, strict=True):
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    comp: dict[str, str] = {}
    for start in adj:
        if start in comp:
            continue
        seen, frontier = {start}, [start]
        while frontier:
            frontier = [m for n in frontier for m in adj[n] if m not in seen]
            seen.update(frontier)
        name = min(seen)
        comp.update(dict.fromkeys(seen, name))
    return comp


def ingest_keys(rng: random.Random, files: int = 5, lines: int = 10, pool: int = 20) -> pa.Table:
    """One row per (file, line); file names sort opposite to file numbers."""
    rows = [
        {
            "id": f"id{rng.randrange(pool)}",
            "file_no": f,
            "line": ln,
            "part": f"part-{f:05d}-{ln // 4:05d}",
            "file": f"{chr(ord('z') - f)}.jsonl",
        }
        for f in range(files)
        for ln in range(lines)
    ]
    return pa.Table.from_pylist(rows, schema=KEYS)


def ref_repeats(keys: pa.Table) -> list[tuple]:
    first: dict[str, dict] = {}
    out = []
    for r in sorted(keys.to_pylist(), key=lambda r: (r["file_no"], r["line"])):
        if r["id"] in first:
            f = first[r["id"]]
            out.append(
                (r["part"], r["file"], r["line"], f"id already used at {f['file']}:{f['line']}")
            )
        else:
            first[r["id"]] = r
    return sorted(out)


def shard_meta(rng: random.Random, seed: int, n: int) -> pa.Table:
    """One source's metadata; a few ids repeat (same id in two files), as after ingest."""
    ids = [f"doc{i}" for i in range(n)]
    ids[1] = ids[2] = "dup"
    rows = [
        {
            "source": "web",
            "id": d,
            "key": doc_key(seed, d),
            "tokens": rng.randrange(0, 40),
            "spill": f"s{i % 3}.u32",
            "offset": i * 100,
            "file": 7 + i % 2,
            "line": i,
        }
        for i, d in enumerate(ids)
    ]
    return pa.Table.from_pylist(rows, schema=META)


def ref_plan(meta: pa.Table, copies: list[int], seed: int, shard_tokens: int) -> list[list]:
    """Brute-force plan: every (doc, copy) once, ordered by (copy key, id, file, line, copy);
    a document whose preceding tokens reach a new multiple of shard_tokens opens a shard
    (i.e. shard = rank of floor(tokens before it / shard_tokens))."""
    items = []
    for r, c in zip(meta.to_pylist(), copies, strict=True):
        for copy in range(c):
            key = r["key"] if copy == 0 else doc_key(seed, r["id"], copy)
            items.append((key, r["id"], r["file"], r["line"], copy, r["tokens"]))
    items.sort()
    shards: list[list] = []
    before, bucket = 0, None
    for _key, doc_id, file, line, copy, tokens in items:
        if before // shard_tokens != bucket:
            bucket = before // shard_tokens
            shards.append([])
        shards[-1].append((doc_id, file, line, copy))
        before += tokens
    return shards


def plan_output(meta: pa.Table, copies, seed: int, shard_tokens: int) -> list:
    return [
        (n, t.to_pylist())
        for n, t in plan_source(meta, np.asarray(copies, np.int64), seed, shard_tokens)
    ]


def write_ranked(
    directory, scores: list[float], ids: list[str], chars: list[int], parts: int = 3
) -> None:
    """(score, id, n_chars) rows split over `parts` Parquet parts, as the score stage does."""
    cuts = [0, *sorted(random.Random(len(ids)).sample(range(1, len(ids)), parts - 1)), len(ids)]
    for p, (lo, hi) in enumerate(itertools.pairwise(cuts)):
        pq.write_table(
            pa.table(
                {
                    "score": pa.array(scores[lo:hi], pa.float64()),
                    "id": pa.array(ids[lo:hi], pa.string()),
                    "n_chars": pa.array(chars[lo:hi], pa.int64()),
                }
            ),
            directory / f"part-{p:05d}.parquet",
        )


def ranked_data(seed: int, n: int = 200):
    """Scores from a handful of values (many ties), ids of mixed lengths, random sizes."""
    rng = random.Random(seed)
    ids = [f"doc{i}" for i in rng.sample(range(10 * n), n)]
    scores = [rng.choice([0.0, 0.125, 0.5, 0.5, 0.75, 0.9, 1.0]) for _ in range(n)]
    chars = [rng.randrange(1, 500) for _ in range(n)]
    return scores, ids, chars


def kept_by_cut(cut: dict, scores: list[float], ids: list[str]) -> set[str]:
    mask = passes(
        cut,
        pa.chunked_array([pa.array(scores, pa.float64())]),
        pa.chunked_array([pa.array(ids, pa.string())]),
    )
    return {i for i, keep in zip(ids, mask.to_pylist(), strict=True) if keep}


def ref_top(scores, ids, chars, docs: float | None = None, share: float | None = None) -> set:
    """Brute force: walk (score desc, id asc); exact decimal arithmetic for F."""
    order = sorted(range(len(ids)), key=lambda i: (-scores[i], ids[i]))
    if docs is not None:
        return {ids[i] for i in order[: math.ceil(Fraction(str(docs)) * len(ids))]}
    target, before, kept = Fraction(str(share)) * sum(chars), 0, set()
    for i in order:
        if before >= target:
            break
        kept.add(ids[i])
        before += chars[i]
    return kept


# ---------------------------------------------------------------- near dedup: priorities


def test_priorities_longest_and_shortest_order_by_length():
    """longest ranks longer texts first, shortest shorter first; equal lengths tie."""
    n_chars = pa.array([5, 50, 7, 50, 0], pa.int64())
    meta = pa.array([None] * 5, pa.string())
    longest, shortest = priorities("longest", n_chars, meta), priorities("shortest", n_chars, meta)
    assert rank_order(longest) == [1, 3, 2, 0, 4]
    assert rank_order(shortest) == [4, 0, 2, 1, 3]
    assert longest[1] == longest[3] and shortest[1] == shortest[3]


def test_priorities_id_is_a_tie_for_everyone():
    """keep=id gives every row the same priority, so the smallest id decides."""
    pri = priorities("id", pa.array([3, 900, 1]), pa.array(['{"q": 1}', None, "{}"]))
    assert len(pri) == 3 and len(set(pri.tolist())) == 1


@pytest.mark.parametrize("sign", ["max", "min"])
def test_priorities_metadata_field_missing_values_rank_last(sign):
    """max:/min:FIELD order by the field; missing, null, non-numeric and unparsable rank
    after every numeric value (including huge and negative ones)."""
    present = {0: 0.5, 1: 1e300, 5: -3.0, 7: 2}
    meta = [
        json.dumps({"q": 0.5, "other": 9}),
        json.dumps({"q": 1e300}),
        json.dumps({"other": 1}),
        None,
        json.dumps({"q": "high"}),
        json.dumps({"q": -3.0}),
        "not json",
        json.dumps({"q": 2}),
        json.dumps({"q": None}),
        json.dumps([1, 2]),
    ]
    pri = priorities(f"{sign}:q", pa.array([1] * len(meta)), pa.array(meta, pa.string()))
    best_first = sorted(present, key=lambda i: present[i], reverse=(sign == "max"))
    missing = [i for i in range(len(meta)) if i not in present]
    assert rank_order(pri) == best_first + missing
    assert len({pri[i] for i in missing}) == 1  # missing values tie: the id decides


# ---------------------------------------------------------------- near dedup: verification


def test_verify_keeper_is_best_priority_then_id():
    """The kept member is the smallest (priority, id); all others point to it; input row
    order does not matter."""
    sig = signature()
    table = candidates(
        [("c", "d3", 1.0, sig), ("c", "d1", 5.0, sig), ("c", "d2", 1.0, sig), ("c", "d0", 2.0, sig)]
    )
    expected = {
        ("d2", "d2", True, 1.0),
        ("d3", "d2", False, 1.0),
        ("d1", "d2", False, 1.0),
        ("d0", "d2", False, 1.0),
    }
    cfg = NearDedupConfig(num_perm=NUM_PERM)
    rng = random.Random(0)
    for _ in range(5):
        assert cluster_rows(verify_partition(cfg, shuffled_rows(table, rng))) == expected


@pytest.mark.parametrize("best", ["a", "b"])
def test_verify_splits_a_chain_at_its_dissimilar_end(best):
    """a~b (0.8), b~c (0.8), a~c (0.6) at threshold 0.75: anchored at a, c is left out;
    anchored at b (the middle), all three join. Never transitively merged through b."""
    a = signature()
    b = signature({s: s for s in range(4)})  # differs from a in slots 0-3
    c = signature({**{s: s for s in range(4)}, **{s: s for s in range(4, 8)}})  # from b: 4-7
    pri = {"a": 1.0, "b": 2.0, "c": 3.0} if best == "a" else {"a": 2.0, "b": 1.0, "c": 3.0}
    table = candidates([("x", k, pri[k], s) for k, s in (("a", a), ("b", b), ("c", c))])
    got = cluster_rows(verify_partition(NearDedupConfig(num_perm=NUM_PERM, threshold=0.75), table))
    if best == "a":
        assert got == {("a", "a", True, 1.0), ("b", "a", False, 0.8)}
    else:
        assert got == {("b", "b", True, 1.0), ("a", "b", False, 0.8), ("c", "b", False, 0.8)}


def test_verify_keeps_components_apart_and_drops_singletons():
    """Identical signatures in different components never cluster together; a component
    of one member yields no row."""
    sig = signature()
    table = candidates(
        [
            ("p", "a", 0.0, sig),
            ("q", "b", 0.0, sig),
            ("p", "c", 0.0, sig),
            ("q", "d", 0.0, sig),
            ("r", "e", 0.0, sig),
        ]
    )
    got = cluster_rows(verify_partition(NearDedupConfig(num_perm=NUM_PERM), table))
    assert got == {
        ("a", "a", True, 1.0),
        ("c", "a", False, 1.0),
        ("b", "b", True, 1.0),
        ("d", "b", False, 1.0),
    }


@pytest.mark.parametrize("seed", SEEDS)
def test_verify_matches_brute_force_greedy_anchors(seed):
    """Random components (signatures from a small alphabet, tied priorities): the cluster
    rows equal the documented greedy rule computed by brute force."""
    rng = random.Random(seed)
    rows, members = [], {}
    for c in range(6):
        base = [rng.randrange(4) for _ in range(NUM_PERM)]
        for m in range(rng.randrange(1, 8)):
            sig = [v if rng.random() < 0.85 else rng.randrange(4) for v in base]
            doc = f"d{rng.randrange(1000)}-{c}-{m}"
            pri = float(rng.choice([0, 1, 1, 2]))
            rows.append((f"comp{c}", doc, pri, sig))
            members.setdefault(f"comp{c}", []).append((pri, doc, sig))
    expected = set().union(*(ref_anchor_clusters(m, 0.8) for m in members.values()))
    got = verify_partition(
        NearDedupConfig(num_perm=NUM_PERM, threshold=0.8), shuffled_rows(candidates(rows), rng)
    )
    assert cluster_rows(got) == expected
    assert got.num_rows == len(expected)  # no row twice


# ---------------------------------------------------------------- near dedup: star edges


def test_star_edges_hand_case():
    """Key 1 {c, a, b} -> a-b, a-c; key 2 {b, a} -> a-b again (collapses); key 3 {z}: none.
    Each end keeps its documents part."""
    table = pa.table(
        {
            "key": pa.array([1, 1, 2, 3, 1, 2], pa.uint64()),
            "id": ["c", "a", "b", "z", "b", "a"],
            "part": pa.array([2, 0, 1, 3, 1, 0], pa.int32()),
        }
    )
    edges = star_edges(table)
    assert sorted(zip(*(edges[c].to_pylist() for c in edges.column_names), strict=True)) == [
        ("a", 0, "b", 1),
        ("a", 0, "c", 2),
    ]


@pytest.mark.parametrize("seed", SEEDS)
def test_star_edges_match_brute_force(seed):
    """Per key with k ids: k-1 edges from its smallest id; the same pair from several keys
    appears once; row order of the input does not matter."""
    rng = random.Random(seed)
    pairs = {(rng.randrange(12), f"v{rng.randrange(25)}") for _ in range(80)}
    table = pa.table(
        {
            "key": pa.array([k for k, _ in pairs], pa.uint64()),
            "id": [i for _, i in pairs],
            "part": pa.array([int(i[1:]) % 4 for _, i in pairs], pa.int32()),
        }
    )
    by_key: dict[int, list[str]] = {}
    for k, i in pairs:
        by_key.setdefault(k, []).append(i)
    expected = {(min(ids), i) for ids in by_key.values() for i in ids if i != min(ids)}
    for t in (table, shuffled_rows(table, rng)):
        edges = star_edges(t)
        got = list(zip(edges["lo"].to_pylist(), edges["hi"].to_pylist(), strict=True))
        assert len(got) == len(set(got))
        assert set(got) == expected
        for end in ("lo", "hi"):
            assert [int(i[1:]) % 4 for i in edges[end].to_pylist()] == edges[
                f"{end}_part"
            ].to_pylist()


# ---------------------------------------------------------------- connected components


@pytest.mark.parametrize("seed", SEEDS)
def test_connected_components_match_bfs(seed):
    """Nodes are the distinct edge ids, sorted; each is labelled with the smallest id of
    its component (string order), as a BFS reference finds."""
    rng = random.Random(seed)
    m = rng.randrange(5, 40)
    src, dst = random_ids(rng, m, 50), random_ids(rng, m, 50)
    ref = ref_components(src, dst)
    nodes, comp = connected_components(src, dst)
    assert nodes.tolist() == sorted(ref)
    assert comp.tolist() == [ref[n] for n in sorted(ref)]


@pytest.mark.parametrize("seed", SEEDS)
def test_connected_components_ignore_edge_order_and_direction(seed):
    """Shuffling the edges and swapping some ends gives the same (nodes, component)."""
    rng = random.Random(seed)
    m = rng.randrange(5, 40)
    edges = list(zip(random_ids(rng, m, 50), random_ids(rng, m, 50), strict=True))
    base = connected_components([a for a, _ in edges], [b for _, b in edges])
    rng.shuffle(edges)
    edges = [(b, a) if rng.random() < 0.5 else (a, b) for a, b in edges]
    again = connected_components([a for a, _ in edges], [b for _, b in edges])
    assert base[0].tolist() == again[0].tolist() and base[1].tolist() == again[1].tolist()


def test_connected_components_empty():
    nodes, comp = connected_components([], [])
    assert len(nodes) == 0 and len(comp) == 0


def star_rounds(src, dst, partitions: int, rng: random.Random, max_rounds: int = 60):
    """Large-star then small-star, round after round, each step applied to the rows of
    one random node partition at a time (as the Beam stage does), until large-star finds
    no unsettled node. Returns (node -> (component, part), rounds)."""
    part = {n: rng.randrange(100) for n in src + dst}
    pairs = [(min(a, b), max(a, b)) for a, b in zip(src, dst, strict=True) if a != b]
    edges = pa.table(
        {
            "lo": [a for a, _ in pairs],
            "lo_part": pa.array([part[a] for a, _ in pairs], pa.int32()),
            "hi": [b for _, b in pairs],
            "hi_part": pa.array([part[b] for _, b in pairs], pa.int32()),
        }
    )
    where = {}  # a node's partition: the same for every step, as a hash would give

    def by_node(rows):
        keys = rows["node"].to_pylist()
        slot = np.array([where.setdefault(k, rng.randrange(partitions)) for k in keys])
        return [rows.filter(pa.array(slot == p)) for p in range(partitions)]

    rounds, unsettled = 0, None
    while unsettled != 0 and rounds < max_rounds:
        rounds += 1
        large = [large_star(rows) for rows in by_node(both_directions(edges))]
        unsettled = sum(n for _, n in large)
        edges = pa.concat_tables([e for e, _ in large])
        edges = pa.concat_tables([small_star(rows) for rows in by_node(from_larger_end(edges))])
    found = {}
    for row in edges.to_pylist():
        found[row["hi"]] = (row["lo"], row["hi_part"])
        found[row["lo"]] = (row["lo"], row["lo_part"])
    return found, part, rounds


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("partitions", [1, 4])
def test_star_rounds_find_the_components_bfs_finds(seed, partitions):
    """The distributed steps label every node with its component's smallest id, keep each
    node's documents part, and stop: on random graphs and on long chains (the worst case
    for label propagation), whatever the partitioning."""
    rng = random.Random(seed)
    m = rng.randrange(20, 120)
    src, dst = random_ids(rng, m, 90), random_ids(rng, m, 90)
    chain = [f"c{rng.randrange(10**6):06d}" for _ in range(40)]  # a path in random id order
    src, dst = src + chain[:-1], dst + chain[1:]
    ref = ref_components(src, dst)
    found, part, rounds = star_rounds(src, dst, partitions, rng)
    assert {n: c for n, (c, _) in found.items()} == ref
    assert all(found[n][1] == part[n] for n in found)
    assert rounds < 20  # O(log^2 n) rounds in theory; a handful in practice


def test_star_steps_on_a_hand_case():
    """Path b - a - c: large-star at a (the smallest) keeps b, c on a; at b and c nothing
    is larger. A node with two smaller neighbours is unsettled."""
    edges = pa.table(
        {
            "lo": ["a", "a"],
            "lo_part": pa.array([0, 0], pa.int32()),
            "hi": ["b", "c"],
            "hi_part": pa.array([1, 2], pa.int32()),
        }
    )
    out, unsettled = large_star(both_directions(edges))
    assert unsettled == 0
    assert sorted(zip(out["lo"].to_pylist(), out["hi"].to_pylist(), strict=True)) == [
        ("a", "b"),
        ("a", "c"),
    ]
    v = pa.table(
        {
            "lo": ["a", "b"],
            "lo_part": pa.array([0, 1], pa.int32()),
            "hi": ["c", "c"],
            "hi_part": pa.array([2, 2], pa.int32()),
        }
    )
    out, unsettled = large_star(both_directions(v))
    assert unsettled == 1  # c has two smaller neighbours
    small = small_star(from_larger_end(v))
    assert sorted(zip(small["lo"].to_pylist(), small["hi"].to_pylist(), strict=True)) == [
        ("a", "b"),
        ("a", "c"),
    ]
    assert dict(zip(small["hi"].to_pylist(), small["hi_part"].to_pylist(), strict=True)) == {
        "b": 1,
        "c": 2,
    }


# ---------------------------------------------------------------- ingest: repeated ids


@pytest.mark.parametrize("seed", SEEDS)
def test_find_repeats_match_brute_force(seed):
    """The first occurrence by (file number, line) wins, even when its file name sorts
    later; every later one is reported with a detail naming the first."""
    keys = ingest_keys(random.Random(seed))
    got = find_repeats(keys)
    assert got.schema == REPEATS
    assert sorted(map(tuple, (r.values() for r in got.to_pylist()))) == ref_repeats(keys)


@pytest.mark.parametrize("seed", SEEDS)
def test_find_repeats_independent_of_row_order(seed):
    """Rows given in any order give the same table."""
    rng = random.Random(seed)
    keys = ingest_keys(rng)
    assert find_repeats(shuffled_rows(keys, rng)).equals(find_repeats(keys))


def test_find_repeats_none():
    keys = pa.Table.from_pylist(
        [{"id": f"u{i}", "file_no": 0, "line": i, "part": "p", "file": "f"} for i in range(5)],
        schema=KEYS,
    )
    assert find_repeats(keys).num_rows == 0


# ---------------------------------------------------------------- exact dedup keepers


@pytest.mark.parametrize("seed", SEEDS)
def test_pick_keepers_match_brute_force(seed):
    """Smallest id per hash is kept; every other row maps to it (with its hash and part);
    kept count = distinct hashes; every id is kept or removed, never both."""
    rng = random.Random(seed)
    n = 60
    rows = [
        {
            "id": f"d{i}",
            "text_hash": f"h{rng.randrange(15):02x}",
            "part": f"part-{rng.randrange(4)}",
        }
        for i in rng.sample(range(500), n)
    ]
    table = pa.Table.from_pylist(rows)
    keeper: dict[str, str] = {}
    for r in rows:
        keeper[r["text_hash"]] = min(keeper.get(r["text_hash"], r["id"]), r["id"])
    expected = {
        (r["id"], keeper[r["text_hash"]], r["text_hash"], r["part"])
        for r in rows
        if r["id"] != keeper[r["text_hash"]]
    }
    dup_map, kept = pick_keepers(table)
    got = [(r["id"], r["kept_id"], r["text_hash"], r["part"]) for r in dup_map.to_pylist()]
    assert len(got) == len(set(got)) and set(got) == expected
    assert kept == len(keeper) == n - dup_map.num_rows
    assert pick_keepers(shuffled_rows(table, rng))[0].equals(dup_map)


# ---------------------------------------------------------------- shard planning


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shard_tokens", [1, 25, 60, 10_000])
def test_plan_source_matches_brute_force(seed, shard_tokens):
    """Every (document, copy) appears exactly once, in (copy key, id, file, line, copy)
    order; a shard opens at each document whose preceding tokens reach a new multiple of
    shard_tokens; shards are numbered 0, 1, 2, ... without gaps."""
    rng = random.Random(seed)
    meta = shard_meta(rng, seed, 40)
    copies = [rng.choice([0, 1, 1, 1, 2, 3]) for _ in range(meta.num_rows)]
    got = plan_output(meta, copies, seed, shard_tokens)
    assert [n for n, _ in got] == list(range(len(got)))
    shards = [[(r["id"], r["file"], r["line"], r["copy"]) for r in rows] for _, rows in got]
    assert shards == ref_plan(meta, copies, seed, shard_tokens)
    for _, rows in got:  # a shard's tokens before its last document stay under the target
        assert sum(r["tokens"] for r in rows[:-1]) < shard_tokens


@pytest.mark.parametrize("seed", SEEDS)
def test_plan_source_independent_of_row_order(seed):
    """Shuffling the metadata rows (with their copy counts) gives identical shards."""
    rng = random.Random(seed)
    meta = shard_meta(rng, seed, 40)
    copies = [rng.choice([0, 1, 2, 3]) for _ in range(meta.num_rows)]
    order = list(range(meta.num_rows))
    rng.shuffle(order)
    again = plan_output(meta.take(pa.array(order)), [copies[i] for i in order], seed, 30)
    assert again == plan_output(meta, copies, seed, 30)


# ---------------------------------------------------------------- score: the top-X% cut


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("share", [0.01, 0.1, 0.25, 0.3, 0.5, 0.77, 1.0])
def test_cut_keep_top_chars_matches_brute_force(tmp_path, seed, share):
    """The kept set is the (score desc, id asc) prefix whose characters before its last
    document are < F * total; ties at the cut score are split by id."""
    scores, ids, chars = ranked_data(seed)
    write_ranked(tmp_path, scores, ids, chars)
    cut = compute_cut(ScoreConfig(model="unused.bin", keep_top_chars=share), tmp_path)
    assert (cut["documents"], cut["chars"]) == (len(ids), sum(chars))
    assert kept_by_cut(cut, scores, ids) == ref_top(scores, ids, chars, share=share)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("share", [0.001, 0.07, 0.1, 0.3, 0.5, 0.55, 0.99, 1.0])
def test_cut_keep_top_docs_matches_brute_force(tmp_path, seed, share):
    """keep_top_docs keeps exactly ceil(F * n) documents, the first by (score desc, id asc)."""
    scores, ids, chars = ranked_data(seed)
    write_ranked(tmp_path, scores, ids, chars)
    cut = compute_cut(ScoreConfig(model="unused.bin", keep_top_docs=share), tmp_path)
    expected = ref_top(scores, ids, chars, docs=share)
    assert len(expected) == math.ceil(Fraction(str(share)) * len(ids))
    assert kept_by_cut(cut, scores, ids) == expected


@pytest.mark.parametrize("threshold", [None, 0.0, 0.5, 0.9, 1.0])
def test_cut_threshold_keeps_scores_at_or_above(tmp_path, threshold):
    """threshold keeps score >= t (ties included, no id cut); no rule keeps everything."""
    scores, ids, chars = ranked_data(7)
    write_ranked(tmp_path, scores, ids, chars)
    cut = compute_cut(ScoreConfig(model="unused.bin", threshold=threshold), tmp_path)
    expected = {i for i, s in zip(ids, scores, strict=True) if s >= (threshold or 0.0)}
    assert kept_by_cut(cut, scores, ids) == expected


# 0.07, 0.14 and 0.28 times 100 round up in binary floating point (0.07 * 100 =
# 7.000000000000001): a cut computed with floats keeps one document too many there.
EQUAL_SIZE_CASES = [
    (rule, share)
    for rule in ("keep_top_docs", "keep_top_chars")
    for share in (0.25, 0.29, 0.5, 0.57, 0.07, 0.14, 0.28)
]


@pytest.mark.parametrize(("rule", "share"), EQUAL_SIZE_CASES)
def test_cut_rank_rules_agree_on_equal_sizes(tmp_path, rule, share):
    """With 100 one-character documents, F of the characters is F of the documents: both
    rank rules keep exactly 100 F documents (F has two decimals)."""
    n = 100
    scores, ids, chars = [float(n - i) for i in range(n)], [f"d{i:03d}" for i in range(n)], [1] * n
    write_ranked(tmp_path, scores, ids, chars)
    cut = compute_cut(ScoreConfig(model="unused.bin", **{rule: share}), tmp_path)
    assert len(kept_by_cut(cut, scores, ids)) == int(Fraction(str(share)) * n)
