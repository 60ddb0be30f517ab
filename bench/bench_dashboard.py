"""Dashboard page latency on generated runs of 10k / 100k / 1M documents.

    python bench/bench_dashboard.py [--sizes 10000,100000,1000000] [--work /tmp/bench-dashboard]

Each size gets its own --out with one large run written directly in the run layout (the
real schemas, zstd Parquet, ~16 MB row groups, 100k documents per part, as the stages
write them; text is ~1 kB of pseudo-words per document so it does not compress away),
plus four small earlier runs so Runs and Trends have history. Every page is then fetched
from a real uvicorn server: the first request (which opens the catalog) and the median of
five more. Results: bench/results/dashboard.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import duckdb

SOURCES = ["news", "forum", "spam", "code", "wiki-ru", "wiki-zh"]
REASONS = ["invalid_json", "invalid_utf8", "missing_text", "empty_text", "duplicate_id"]
PART_DOCS = 100_000
RUN = "run-big"


def generate(out: Path, n: int) -> None:
    """One run of `n` documents in the layout the stages write (see README 'Run layout')."""
    run = out / "runs" / RUN
    if (run / "run.json").exists():
        return
    for d in ("stats", "documents/stage=ingest", "documents/stage=near_dedup", "rejects/stage=ingest",
              "dedup/exact", "scores/quality", "selected", "shards/main"):  # fmt: skip
        (run / d).mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")
    con.execute(
        "CREATE TABLE words AS SELECT list(substr(md5(i::VARCHAR), 1, 2 + i % 7)) AS w "
        "FROM range(3000) t(i)"
    )
    con.execute(
        f"""CREATE TABLE docs AS
        SELECT i, printf('doc-%09d', i) AS id, {SOURCES}[1 + (hash(i) % 6)::BIGINT] AS source,
               array_to_string(list_transform(range(60 + (hash(i * 3) % 240)::BIGINT),
                   lambda x: w[1 + (hash(i * 1000 + x) % 3000)::BIGINT]), ' ') AS text,
               'input/' || {SOURCES}[1 + (hash(i) % 6)::BIGINT] || '.jsonl.gz' AS file,
               i + 1 AS line, '{{"url": "https://example.com/' || i || '"}}' AS metadata
        FROM range({n}) t(i) CROSS JOIN words"""
    )
    con.execute("ALTER TABLE docs ADD COLUMN n_chars BIGINT")
    con.execute("UPDATE docs SET n_chars = length(text)")
    # 3% exact duplicates of the document before them, 2% near duplicates in clusters
    con.execute(
        "CREATE TABLE exact AS SELECT id, printf('doc-%09d', i - 1) AS kept_id, "
        "md5(text) AS text_hash, i FROM docs WHERE i > 0 AND hash(i * 7) % 100 < 3"
    )
    con.execute(
        "CREATE TABLE near AS SELECT id, printf('doc-%09d', i - 1 - (hash(i) % 3)::BIGINT) AS cluster_id, "
        "false AS kept, 0.8 + (hash(i) % 200) / 1000.0 AS similarity_to_keeper FROM docs "
        "WHERE i > 3 AND hash(i * 11) % 100 < 2 AND id NOT IN (SELECT id FROM exact)"
    )
    con.execute(
        "INSERT INTO near SELECT DISTINCT cluster_id, cluster_id, true, 1.0 FROM near "
        "WHERE cluster_id NOT IN (SELECT id FROM near)"
    )
    con.execute(
        "CREATE TABLE survivors AS SELECT * FROM docs WHERE id NOT IN (SELECT id FROM exact) "
        "AND id NOT IN (SELECT id FROM near WHERE NOT kept)"
    )
    con.execute(
        "CREATE TABLE scores AS SELECT id, (hash(id) % 10000) / 10000.0 AS score, "
        "source, n_chars, i FROM survivors"
    )
    doc_cols = "id, source, text, n_chars, file, line, metadata"
    parquet = "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 10000)"
    parts = range(0, n, PART_DOCS)
    for p, start in enumerate(parts):
        where = f"i >= {start} AND i < {start + PART_DOCS}"
        name = f"part-{p:05d}-00000.parquet"
        con.execute(
            f"COPY (SELECT {doc_cols} FROM docs WHERE {where} ORDER BY i) "
            f"TO '{run}/documents/stage=ingest/{name}' {parquet}"
        )
        con.execute(
            f"COPY (SELECT id, kept_id, text_hash FROM exact WHERE {where} ORDER BY i) "
            f"TO '{run}/dedup/exact/{name}' {parquet}"
        )
        con.execute(
            f"COPY (SELECT {doc_cols} FROM survivors WHERE {where} ORDER BY i) "
            f"TO '{run}/documents/stage=near_dedup/part-{p:05d}.parquet' {parquet}"
        )
        con.execute(
            f"COPY (SELECT id, score FROM scores WHERE {where} ORDER BY i) "
            f"TO '{run}/scores/quality/part-{p:05d}.parquet' {parquet}"
        )
        con.execute(
            f"COPY (SELECT {doc_cols} FROM survivors JOIN scores USING (id, source, n_chars, i) "
            f"WHERE score >= 0.7 AND {where.replace('i ', 'survivors.i ')} ORDER BY survivors.i) "
            f"TO '{run}/selected/part-{p:05d}.parquet' {parquet}"
        )
    con.execute(
        f"COPY (SELECT id, cluster_id, kept, similarity_to_keeper FROM near ORDER BY cluster_id, id) "
        f"TO '{run}/dedup/clusters.parquet' {parquet}"
    )
    n_rejects = max(len(REASONS), n // 100)
    con.execute(
        f"COPY (SELECT {REASONS}[1 + i % {len(REASONS)}] AS reason, 'input/broken.jsonl' AS file, "
        "i + 1 AS line, 'bad-' || i AS id, 'generated reject' AS detail, "
        '\'{"id": "bad-\' || i || \'", "text": "broken\' AS raw '
        f"FROM range({n_rejects}) t(i)) TO '{run}/rejects/stage=ingest/part-00000.parquet' {parquet}"
    )
    counts = lambda sql: con.execute(sql).fetchone()[0]
    n_exact, n_near = (
        counts("SELECT count(*) FROM exact"),
        counts("SELECT count(*) FROM near WHERE NOT kept"),
    )
    n_surv, n_sel = (
        counts("SELECT count(*) FROM survivors"),
        counts("SELECT count(*) FROM scores WHERE score >= 0.7"),
    )
    manifest = con.execute(
        "SELECT source, count(*) AS documents, sum(n_chars // 4 + 1)::BIGINT AS tokens "
        "FROM scores WHERE score >= 0.7 GROUP BY source ORDER BY source"
    ).fetchall()
    write_shards(run, manifest)
    stage = lambda name, i, kept, dropped, rejected=0, **extra: {
        "stage": name,
        "in": i,
        "kept": kept,
        "dropped": dropped,
        "rejected": rejected,
        "seconds": round(i / 20000, 3),
        "finished_at": "2026-01-05T02:00:00Z",
        **extra,
    }
    tokens = sum(t for _, _, t in manifest)
    write_stats(run, [
        stage("ingest", n + n_rejects, n, {}, n_rejects, files=7, bytes=n * 1100,
              rejected_by_reason={r: n_rejects // len(REASONS) + (i < n_rejects % len(REASONS))
                                  for i, r in enumerate(REASONS)}),
        stage("exact_dedup", n, n - n_exact, {"exact_duplicate": n_exact}),
        stage("near_dedup", n - n_exact, n_surv, {"near_duplicate": n_near}),
        stage("score", n_surv, n_sel, {"below_quality_threshold": n_surv - n_sel},
              selection={"rule": "threshold", "value": 0.7, "threshold": 0.7},
              scores_summary={"score_mean": 0.5, "score_p10_p50_p90": [0.1, 0.5, 0.9]}),
        stage("shards", n_sel, n_sel, {"mixture_downsampled": 0}, tokens=tokens, dtype="uint16",
              shards=len(manifest), vocab_size=32000, tokenizer="hf", mixture=[],
              published=["shards/main"], outputs=shard_outputs(run)),
    ])  # fmt: skip
    write_record(run, "2026-01-05T02:00:00Z", "succeeded")
    for day in range(1, 5):  # earlier nightly runs: only their records and stats
        old = out / "runs" / f"run-night-{day}"
        (old / "stats").mkdir(parents=True, exist_ok=True)
        scale = 1 + 0.02 * day
        write_stats(old, [
            stage("ingest", int(n * scale), int(n * scale * 0.99), {}, int(n * scale * 0.01),
                  rejected_by_reason={"invalid_json": int(n * scale * 0.01)}),
            stage("exact_dedup", int(n * scale * 0.99), int(n * scale * 0.96),
                  {"exact_duplicate": int(n * scale * 0.03)}),
        ])  # fmt: skip
        write_record(old, f"2026-01-0{day}T02:00:00Z", "succeeded")


def write_shards(run: Path, manifest: list) -> None:
    rows = []
    for source, documents, tokens in manifest:
        prefix = run / "shards" / "main" / f"{source}_00000"
        # stand-in shard files: the Shards page checks sizes against the record, and the
        # benchmark measures the page, not Megatron I/O
        prefix.with_suffix(".bin").write_bytes(b"\0" * 64)
        prefix.with_suffix(".idx").write_bytes(b"\0" * 64)
        rows.append({"shard": prefix.name, "source": source, "documents": documents,
                     "tokens": tokens, "dtype": "uint16", "bin_bytes": tokens * 2,
                     "sha256": "0" * 64, "idx_sha256": "0" * 64, "fingerprint": "bench"})  # fmt: skip
    import pyarrow as pa
    import pyarrow.parquet as pq

    from thresher.pipelines import schemas

    pq.write_table(pa.Table.from_pylist(rows, schema=schemas.SHARDS_MANIFEST),
                   run / "shards" / "main" / "manifest.parquet")  # fmt: skip


def shard_outputs(run: Path) -> dict:
    return {
        str(p.relative_to(run)): {"bytes": p.stat().st_size, "xxh3": "bench"}
        for p in sorted((run / "shards" / "main").iterdir())
    }


def write_stats(run: Path, stages: list[dict]) -> None:
    for s in stages:
        (run / "stats" / f"{s['stage']}.json").write_text(json.dumps(s))


def write_record(run: Path, started: str, status: str) -> None:
    record = {"run_id": run.name, "status": status, "started_at": started,
              "finished_at": started, "seconds": 600.0, "attempts": 1, "config": {},
              "versions": {}, "final_documents": "selected"}  # fmt: skip
    (run / "run.json").write_text(json.dumps(record))


def pages(out: Path) -> dict[str, str]:
    con = duckdb.connect()
    run = out / "runs" / RUN
    keeper = con.execute(
        f"SELECT cluster_id FROM '{run}/dedup/clusters.parquet' WHERE NOT kept LIMIT 1"
    ).fetchone()[0]
    exact = f"'{run}/dedup/exact/*.parquet'"
    middle_row = con.execute(f"SELECT count(*) // 2 FROM {exact}").fetchone()[0]
    exact_keeper = con.execute(
        f"SELECT kept_id FROM {exact} LIMIT 1 OFFSET {middle_row}"
    ).fetchone()[0]
    n = con.execute(f"SELECT count(*) FROM '{run}/documents/stage=ingest/*.parquet'").fetchone()[0]
    middle = f"doc-{n // 2 + 1:09d}"
    r = f"/runs/{RUN}"
    return {
        "Runs": "/",
        "Run": r,
        "Rejects (counts + reject samples)": f"{r}/rejects",
        "Drops: exact_duplicate samples": f"{r}/rejects?stage=exact_dedup&reason=exact_duplicate&kind=dropped",
        "Drops: near_duplicate samples": f"{r}/rejects?stage=near_dedup&reason=near_duplicate&kind=dropped",
        "Drops: below_quality_threshold samples": f"{r}/rejects?stage=score&reason=below_quality_threshold&kind=dropped",
        "Duplicates (histogram + clusters)": f"{r}/duplicates",
        "Duplicates: near cluster": f"{r}/duplicates?kind=near&keeper={quote(keeper)}",
        "Duplicates: exact cluster": f"{r}/duplicates?kind=exact&keeper={quote(exact_keeper)}",
        "Duplicates: page 50 of clusters": f"{r}/duplicates?kind=near&page=50",
        "Scores": f"{r}/scores",
        "Mixture": f"{r}/mixture",
        "Shards": f"{r}/shards",
        "Trends": "/trends",
        "Document (id in the middle)": f"{r}/document?id={middle}",
    }


def fetch(url: str) -> float:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as response:
        response.read()
        assert response.status == 200, url
    return time.perf_counter() - t0


def measure(out: Path) -> dict[str, tuple[float, float]]:
    from thresher.flows.dashboard.server import running

    results = {}
    with running(str(out)) as base:
        for name, path in pages(out).items():
            first = fetch(base + path)
            again = statistics.median(fetch(base + path) for _ in range(5))
            results[name] = (first, again)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--work", default="/tmp/bench-dashboard")
    parser.add_argument(
        "--results", default=str(Path(__file__).parent / "results" / "dashboard.md")
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    table: dict[str, dict[int, tuple[float, float]]] = {}
    for n in sizes:
        out = Path(args.work) / f"{n}"
        t0 = time.time()
        generate(out, n)
        print(f"{n:,} documents: generated in {time.time() - t0:.0f} s", flush=True)
        for name, times in measure(out).items():
            table.setdefault(name, {})[n] = times
    header = "| page | " + " | ".join(f"{n:,} docs: first / median" for n in sizes) + " |"
    lines = [header, "|---|" + "---:|" * len(sizes)]
    for name, by_size in table.items():
        cells = [f"{by_size[n][0] * 1000:.0f} / {by_size[n][1] * 1000:.0f} ms" for n in sizes]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    worst = max(t[0] for by_size in table.values() for t in by_size.values())
    print("\n".join(lines))
    print(f"slowest first request: {worst * 1000:.0f} ms")
    Path(args.results).write_text(
        "# Dashboard page latency\n\n"
        "`python bench/bench_dashboard.py` on this machine (2 cores). Each size is one run "
        "generated in the run layout (see the script), plus four small earlier runs. "
        "'first' is the first request for the page (it also opens the catalog when it is the "
        "server's first request); 'median' is the median of five more.\n\n"
        + "\n".join(lines)
        + f"\n\nSlowest first request: {worst * 1000:.0f} ms.\n"
    )


if __name__ == "__main__":
    main()
