"""The near-dedup stage on real Beam pipelines, and `thresher dedup` end to end."""

from __future__ import annotations

import json
import random

import pyarrow.parquet as pq
import pytest

from thresher.pipelines import exact_dedup, ingest, io, near_dedup, reasons, schemas
from thresher.pipelines.docsets import DocSet
from thresher.pipelines.near_dedup import NearDedupConfig
from thresher.pipelines.stage import StageContext
from thresher.scorers.minhash import ShingleSpec, jaccard, shingle_hashes

LATIN, CYRILLIC = "abcdefghijklmnopqrstuvwxyz", "абвгдежзийклмнопрстуфхцчшщыэюя"
HAN = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]


def planted_corpus(seed=0, groups=9, copies=2, unrelated=15):
    """Originals (`gN-0`, quality 1.0) with lightly edited copies, plus unrelated docs."""
    rng = random.Random(seed)

    def word(alphabet):
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(2, 8)))

    docs = []
    for g in range(groups):
        script = ("latin", "cyrillic", "cjk")[g % 3]
        if script == "cjk":
            base, sep = [rng.choice(HAN) for _ in range(400)], ""
        else:
            base, sep = [word(LATIN if script == "latin" else CYRILLIC) for _ in range(250)], " "
        docs.append({"id": f"g{g}-0", "text": sep.join(base), "quality": 1.0})
        for c in range(1, copies + 1):
            toks = list(base)
            for i in rng.sample(range(len(toks)), len(toks) // 100):  # 1% substitutions
                toks[i] = rng.choice(HAN) if script == "cjk" else word(LATIN)
            docs.append({"id": f"g{g}-{c}", "text": sep.join(toks), "quality": 0.5})
    for u in range(unrelated):
        docs.append({"id": f"u{u:02d}", "text": " ".join(word(LATIN) for _ in range(150))})
    # a near-miss pair: half the words shared (Jaccard well below 0.8), never merged
    shared = [word(LATIN) for _ in range(100)]
    docs.append({"id": "m0", "text": " ".join(shared + [word(LATIN) for _ in range(100)])})
    docs.append({"id": "m1", "text": " ".join(shared + [word(LATIN) for _ in range(100)])})
    return docs


def run_stages(tmp_path, files, cfg: NearDedupConfig, partitions=4, name="run"):
    ctx = StageContext(run_dir=tmp_path / name, partitions=partitions)
    ingest.run(ctx.with_inputs([str(f) for f in files]), ingest.IngestConfig())
    exact_dedup.run(ctx, exact_dedup.ExactDedupConfig(), ingest.DOCS_OUT, ingest.STAGE)
    stats = near_dedup.run(
        ctx, cfg, exact_dedup.surviving(DocSet(ingest.DOCS_OUT)), exact_dedup.STAGE
    )
    clusters = pq.read_table(ctx.run_dir / near_dedup.CLUSTERS_OUT)
    survivors = io.read_table(list(io.iter_parts(ctx.run_dir / near_dedup.DOCS_OUT)))
    return stats, clusters, survivors


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    from conftest import write_jsonl

    tmp = tmp_path_factory.mktemp("planted")
    docs = planted_corpus()
    path = write_jsonl(tmp / "docs.jsonl", docs)
    cfg = NearDedupConfig(keep="max:quality")
    return docs, run_stages(tmp, [path], cfg)


def test_planted_groups_found_and_originals_kept(planted):
    docs, (_, clusters, survivors) = planted
    assert clusters.schema.equals(schemas.NEAR_CLUSTERS)
    by_id = {r["id"]: r for r in clusters.to_pylist()}
    groups = {d["id"].split("-")[0] for d in docs if d["id"].startswith("g")}
    for g in groups:
        members = [d["id"] for d in docs if d["id"].startswith(g + "-")]
        assert {by_id[m]["cluster_id"] for m in members} == {f"{g}-0"}, g
        assert by_id[f"{g}-0"]["kept"] and by_id[f"{g}-0"]["similarity_to_keeper"] == 1.0
        assert all(0.8 <= by_id[m]["similarity_to_keeper"] < 1 for m in members[1:])
    # unrelated documents and the half-overlapping pair are never merged
    assert not any(i.startswith(("u", "m")) for i in by_id)
    assert sorted(survivors["id"].to_pylist()) == sorted(
        d["id"] for d in docs if not (d["id"].startswith("g") and not d["id"].endswith("-0"))
    )


def test_stats_obey_the_accounting_identity(planted):
    docs, (stats, clusters, survivors) = planted
    removed = clusters.num_rows - stats["clusters"]
    assert stats["in"] == len(docs) == stats["kept"] + stats["dropped"][reasons.NEAR_DUPLICATE]
    assert stats["dropped"][reasons.NEAR_DUPLICATE] == removed == 18
    assert stats["kept"] == survivors.num_rows
    assert (stats["bands"], stats["rows"]) == NearDedupConfig().band_rows()


def test_keeper_and_clusters_do_not_depend_on_input_order_or_sharding(tmp_path, jsonl, planted):
    docs, (_, clusters, survivors) = planted
    shuffled = list(docs)
    random.Random(5).shuffle(shuffled)
    files = [
        jsonl(tmp_path / "b.jsonl", shuffled[::2]),
        jsonl(tmp_path / "a.jsonl", shuffled[1::2]),
    ]
    cfg = NearDedupConfig(keep="max:quality", batch_size=7)
    _, clusters2, survivors2 = run_stages(tmp_path, files, cfg, partitions=3)
    assert clusters2.equals(clusters)
    assert sorted(survivors2["id"].to_pylist()) == sorted(survivors["id"].to_pylist())


def test_exact_verification_reports_exact_jaccard_and_longest_keeper(tmp_path, jsonl):
    docs = planted_corpus(seed=3, groups=3, unrelated=2)
    path = jsonl(tmp_path / "d.jsonl", docs)
    _, clusters, _ = run_stages(tmp_path, [path], NearDedupConfig(verify="exact"), partitions=2)
    text = {d["id"]: d["text"] for d in docs}
    for row in clusters.to_pylist():
        members = [d for d in docs if d["id"].split("-")[0] == row["id"].split("-")[0]]
        longest = min(members, key=lambda d: (-len(d["text"]), d["id"]))
        h, off = shingle_hashes([text[row["id"]], text[row["cluster_id"]]], ShingleSpec())
        assert row["similarity_to_keeper"] == pytest.approx(jaccard(h[: off[1]], h[off[1] :]))
        if row["kept"]:
            assert row["id"] == longest["id"] or row["similarity_to_keeper"] == 1.0


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--bands", "20", "--rows", "10"], "exceeds num_perm"),
        (["--bands", "5"], "bands and rows go together"),
        (["--unit", "char", "--ngram", "2"], "use ngram >= 3"),
        (["--threshold", "1.5"], "near_dedup.threshold"),
        (["--keep", "random"], "near_dedup.keep"),
    ],
)
def test_bad_parameters_exit_1_with_one_line(cli, jsonl, tmp_path, flags, needle):
    path = jsonl(tmp_path / "x.jsonl", [{"id": "a", "text": "hello"}])
    code, _, err = cli("dedup", "--input", path, "--out", tmp_path / "o", *flags)
    assert code == 1
    assert needle in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_dedup_command_end_to_end_and_query_views(cli, jsonl, tmp_path, prefect_api):
    docs = planted_corpus(seed=1, groups=3, unrelated=3)
    docs.append({**docs[0], "id": "exact-copy"})
    path = jsonl(tmp_path / "d.jsonl", docs)
    code, out, err = cli("dedup", "--input", path, "--out", tmp_path / "o", "--keep", "id")
    assert code == 0, err
    assert "near_dedup" in out and "6 near duplicates removed" in out
    code, out, _ = cli(
        "query",
        "--out",
        tmp_path / "o",
        "SELECT kind, count(*) AS n FROM duplicates GROUP BY kind ORDER BY kind",
    )
    assert code == 0 and "exact" in out and "near" in out
    run = json.loads(next((tmp_path / "o" / "runs").glob("*/run.json")).read_text())
    assert run["final_documents"] == near_dedup.DOCS_OUT and run["status"] == "succeeded"
    code, out, _ = cli("query", "--out", tmp_path / "o", "SELECT count(*) AS n FROM documents")
    assert str(len(docs) - 1 - 6) in out


def drifting_chains(seed=0, chains=4, length=30, words=300):
    """Chains of documents, each a copy of the one before with 1% of its words replaced: a
    chain's ends are far apart, but LSH links neighbours, so each chain is one long
    component (many large-star / small-star rounds) that verification splits into several
    clusters. Ids are random, so chain order and id order disagree."""
    rng = random.Random(seed)

    def word():
        return "".join(rng.choice(LATIN) for _ in range(rng.randint(3, 8)))

    docs = []
    for _ in range(chains):
        toks = [word() for _ in range(words)]
        for _ in range(length):
            for i in rng.sample(range(words), words // 100):
                toks[i] = word()
            docs.append({"id": f"d{rng.randrange(10**9):09d}", "text": " ".join(toks)})
    return docs


def single_process_clusters(docs, cfg: NearDedupConfig):
    """The cluster table as one process computes it: every document's band keys, star edges
    over all of them, scipy's connected components, then verification of every component."""
    import numpy as np
    import pyarrow as pa

    from thresher.scorers import minhash
    from thresher.scorers.components import connected_components

    texts, ids = [d["text"] for d in docs], [d["id"] for d in docs]
    sig, _, _ = near_dedup._signatures(cfg, texts)
    bands, rows = cfg.band_rows()
    keys = minhash.band_keys(sig, bands, rows).ravel()
    band_rows = pa.table(
        {
            "key": keys,
            "id": np.repeat(ids, bands).tolist(),
            "part": pa.array(np.zeros(len(keys), np.int32)),
        }
    )
    edges = near_dedup.star_edges(band_rows)
    nodes, comp = connected_components(edges["lo"].to_pylist(), edges["hi"].to_pylist())
    where = {i: k for k, i in enumerate(ids)}
    take = [where[n] for n in nodes]
    candidates = pa.table(
        {
            "comp": comp.tolist(),
            "id": nodes.tolist(),
            "priority": -np.array([len(texts[k]) for k in take], np.float64),
            "sig": pa.FixedSizeListArray.from_arrays(pa.array(sig[take].ravel()), cfg.num_perm),
        }
    )
    clusters = near_dedup.verify_partition(cfg, candidates)
    return clusters.sort_by([("cluster_id", "ascending"), ("id", "ascending")])


@pytest.mark.parametrize("partitions", [1, 5])
def test_components_in_rounds_give_the_single_process_clusters(tmp_path, jsonl, partitions):
    """Connected components found in Beam rounds, verified per component partition and
    merged from per-partition files: the same cluster table, row for row, as one process
    computing all of it; several rounds were needed; survivors are the documents minus
    exactly the non-keepers."""
    docs = drifting_chains()
    cfg = NearDedupConfig()
    path = jsonl(tmp_path / "chains.jsonl", docs)
    stats, clusters, survivors = run_stages(tmp_path, [path], cfg, partitions=partitions)
    expected = single_process_clusters(docs, cfg)
    assert clusters.num_rows > 40 and stats["clusters"] > 4  # chains split into clusters
    assert clusters.equals(expected)
    assert stats["component_rounds"] >= 3
    removed = {r["id"] for r in clusters.to_pylist() if not r["kept"]}
    assert sorted(survivors["id"].to_pylist()) == sorted({d["id"] for d in docs} - removed)


def test_clusters_file_is_what_one_sorted_write_gives(tmp_path, jsonl):
    """dedup/clusters.parquet, merged as a stream from the partitions' runs, is byte for byte
    the file io.write_parquet writes for all its rows sorted at once."""
    docs = drifting_chains(seed=1, chains=3)
    path = jsonl(tmp_path / "chains.jsonl", docs)
    ctx_dir = tmp_path / "run"
    run_stages(tmp_path, [path], NearDedupConfig(), partitions=3)
    written = ctx_dir / near_dedup.CLUSTERS_OUT
    table = pq.read_table(written)
    io.write_parquet(table, tmp_path / "one-write.parquet")
    assert written.read_bytes() == (tmp_path / "one-write.parquet").read_bytes()
