"""Shard stage: documents -> tokenized Megatron `.bin/.idx` shards, one set per group (per
source by default; per language or per source and language with `split_by`).

Plan (Beam carries only file paths; tokens and metadata go through staging files):
  files -> Tokenize (per batch: encode, tokens to `_tokens/<file>-<line>.u32`, one metadata
  row per document to a spilled Arrow file) -> GroupByKey(one key) -> Plan (each document's
  group: its source, or its language from language ID's attributes joined on id; per group:
  seeded hash order of ids, mixture copies, cut into shards of ~shard_tokens; each shard's
  document list to a spilled file) -> Reshuffle -> WriteShard (copy each document's tokens
  from the token files, in plan order, into .bin/.idx).
The order depends only on ids, seed and config, so identical inputs give byte-identical
shards on any runner, bundle size or input order. Memory: tokens are never held beyond one
batch or one document; the planner holds the metadata (~60 bytes a document) in one worker,
which a global order and a global mixture need.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path
from typing import Literal

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from pydantic import BaseModel, ConfigDict, Field

from thresher.pipelines import docsets, io, reasons, schemas, shard_groups
from thresher.pipelines.beam_util import make_pipeline, record_counts, spill, unspilled
from thresher.pipelines.docsets import DocSet
from thresher.pipelines.records import ReaderSettings, RecordReader
from thresher.pipelines.stage import Stage, StageContext, fingerprint, read_counts, run_stage
from thresher.scorers import blend, megatron
from thresher.scorers.errors import ConfigError, UserError
from thresher.scorers.text_tokenizers import TokenizerSpec, load_tokenizer

STAGE = "shards"
META = pa.schema(
    [
        ("source", pa.string()),
        ("id", pa.string()),
        ("key", pa.uint64()),
        ("tokens", pa.int64()),
        ("spill", pa.string()),
        ("offset", pa.int64()),
        ("file", pa.uint64()),
        ("line", pa.int64()),
    ]
)


class ShardsConfig(BaseModel):
    """Tokenizer, shard size and mixture for the shard stage."""

    model_config = ConfigDict(extra="forbid")

    tokenizer: str = Field(..., description="local tokenizer.json (HF) or .tiktoken rank file")
    name: str = Field(
        "default",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="shard set name: outputs go to shards/<name>/",
    )
    eos: str | None = Field(
        "auto",
        description="EOS token name or id appended to every "
        "document; 'auto' finds a usual one; null for none",
    )
    bos: str | None = Field(None, description="BOS token name or id put before every document")
    dtype: Literal["auto", "uint16", "int32"] = Field(
        "auto", description="token dtype; auto = uint16 below 65,500 ids (Megatron's rule)"
    )
    shard_tokens: int = Field(100_000_000, ge=1, description="target tokens per shard file")
    seed: int = Field(0, description="seed of the document order and of mixture sampling")
    mixture: str | None = Field(None, description="YAML/JSON of target token shares per source")
    token_budget: int | None = Field(
        None,
        ge=1,
        description="total tokens to emit with a "
        "mixture (default: the most possible without repeats)",
    )
    tolerance: float = Field(
        0.01, gt=0, le=1, description="max |achieved-target| per source as a fraction of the budget"
    )
    batch_size: int = Field(1000, ge=1, le=100_000, description="documents per encode_batch")
    fast_path: bool = Field(
        True,
        description="run byte-level BPE tokenizer.json with tiktoken "
        "(checked against HF on a sample first)",
    )
    verify_docs: int = Field(256, ge=0, description="documents the fast path is checked on")
    split_by: Literal["source", "language", "source_language"] = Field(
        "source",
        description="one shard set per source, per language (needs the run's language_id "
        "stage), or per source and language (<source>.<language>); a mixture's shares are "
        "per such group",
    )

    @property
    def by_language(self) -> bool:
        return self.split_by != "source"

    def spec(self, fast_path: bool | None = None) -> TokenizerSpec:
        fast = self.fast_path if fast_path is None else fast_path
        return TokenizerSpec(self.tokenizer, eos=self.eos, bos=self.bos, fast_path=fast)


def doc_key(seed: int, doc_id: str, copy: int = 0) -> int:
    tail = f":{copy}" if copy else ""
    return xxhash.xxh64_intdigest(f"{seed}:{doc_id}{tail}".encode("utf-8", "surrogatepass"))


def safe_name(group: str) -> str:
    """A shard file prefix for a group name. No dots: `<prefix>.bin` is found by replacing
    the prefix's suffix, so `web.en_00000` would become `web.bin` (and every shard of the
    group the same file)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", group) or "_"


class Tokenize(beam.DoFn):
    """One input file -> spilled metadata tables (their paths are the output); tokens go
    to `<work>/_tokens/<file hash>-<line>.u32`."""

    def __init__(
        self,
        spec: TokenizerSpec,
        settings: ReaderSettings | None,
        seed: int,
        work: str,
        batch_size: int,
        removed=None,
    ):
        self.spec, self.settings, self.seed, self.work = spec, settings, seed, work
        self.removed = removed or {}  # documents part -> removed-id parts (pipelines.docsets)
        self.batch_size = batch_size

    def setup(self):
        self.tok = load_tokenizer(self.spec)

    def _batches(self, path: str):
        if self.settings is not None:  # user files: ingest's record rules
            yield from RecordReader(self.settings).read_file(path)
            return
        row = 0  # a run's documents parts: already clean
        for t in docsets.read_batches(
            path, self.removed.get(path, ()), self.batch_size, ["id", "source", "text"]
        ):
            t = t.append_column("line", pa.array(np.arange(row, row + len(t)), pa.int64()))
            row += len(t)
            yield t, None, len(t)

    def process(self, path: str):
        seen_all = rejected = 0
        for docs, rejects, seen in self._batches(path):
            seen_all += seen
            rejected += rejects.num_rows if rejects is not None else 0
            for start in range(0, docs.num_rows, self.batch_size):
                yield spill(self._encode(path, docs.slice(start, self.batch_size)), self.work, 0)
        record_counts(
            self.work,
            f"read-{xxhash.xxh64_hexdigest(path.encode())}",
            {"in": seen_all, "rejected": rejected},
        )

    def _encode(self, path: str, docs: pa.Table) -> pa.Table:
        texts = docs.column("text").to_pylist()
        flat, lengths = self.tok.encode_batch(texts)
        lines = docs.column("line").to_numpy()
        name = f"{xxhash.xxh64_hexdigest(path.encode())}-{int(lines[0])}.u32"
        target = Path(self.work) / "_tokens" / name
        tmp = target.with_name(".tmp-" + name)
        flat.tofile(tmp)
        os.replace(tmp, target)
        ids = docs.column("id").to_pylist()
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        return pa.table(
            {
                "source": docs.column("source"),
                "id": docs.column("id"),
                "key": pa.array([doc_key(self.seed, i) for i in ids], pa.uint64()),
                "tokens": lengths,
                "spill": [name] * len(ids),
                "offset": offsets,
                # a hash, not the path: only a tie-break for repeated ids, and 8 bytes a row
                "file": np.full(len(ids), xxhash.xxh64_intdigest(path.encode()), np.uint64),
                "line": lines,
            },
            schema=META,
        )


def plan_source(meta: pa.Table, copies: np.ndarray, seed: int, shard_tokens: int):
    """Expand mixture copies, order by (copy key, id), cut every ~shard_tokens tokens.
    Yields (shard index, sub-table with a `copy` column)."""
    idx = np.repeat(np.arange(meta.num_rows), copies)
    copy_no = np.arange(len(idx)) - np.repeat(np.cumsum(copies) - copies, copies)
    keys = meta.column("key").to_numpy()[idx]
    extra = np.flatnonzero(copy_no > 0)
    if len(extra):  # each repeat gets its own place in the order
        ids = meta.column("id").to_pylist()
        keys[extra] = [doc_key(seed, ids[idx[j]], int(copy_no[j])) for j in extra.tolist()]
    t = meta.take(pa.array(idx)).append_column("copy", pa.array(copy_no, pa.int64()))
    t = t.append_column("order", pa.array(keys, pa.uint64()))
    t = t.sort_by(
        [
            ("order", "ascending"),
            ("id", "ascending"),
            ("file", "ascending"),
            ("line", "ascending"),
            ("copy", "ascending"),
        ]
    )
    tokens = t.column("tokens").to_numpy()
    start = np.cumsum(tokens) - tokens
    shard_of = np.unique(start // shard_tokens, return_inverse=True)[1]
    bounds = np.flatnonzero(np.diff(shard_of)) + 1
    for n, rows in enumerate(np.split(np.arange(len(t)), bounds)):
        if len(rows):
            yield n, t.slice(int(rows[0]), len(rows))


class Plan(beam.DoFn):
    """All metadata -> one job per shard; writes the mixture table for the driver.
    `languages`: the directory of language ID's attributes, when split by language."""

    def __init__(self, cfg: ShardsConfig, shares: dict | None, staging: str, languages=None):
        self.cfg, self.shares, self.staging = cfg, shares, staging
        self.languages = languages

    def process(self, element):
        _, paths = element
        try:
            with unspilled(paths) as meta:
                yield from self._plan(meta)
        except UserError as exc:
            # Handed to the driver as data: raised inside Beam it would be logged with a
            # traceback before the CLI could print its one line.
            io.write_json({"error": str(exc)}, Path(self.staging) / "_error.json")

    def _plan(self, meta: pa.Table | None):
        meta = META.empty_table() if meta is None else meta
        meta = meta.sort_by(
            [
                ("source", "ascending"),
                ("key", "ascending"),
                ("id", "ascending"),
                ("file", "ascending"),
                ("line", "ascending"),
            ]
        )
        meta = shard_groups.label(
            meta, self.cfg.split_by, shard_groups.read_languages(self.languages)
        )
        by_source = {
            g: meta.filter(pc.equal(meta["group"], g))
            for g in sorted(set(meta.column("group").to_pylist()))
        }
        names = {}
        for s in by_source:
            if names.setdefault(safe_name(s), s) != s:
                raise ConfigError(
                    f"shard groups '{s}' and '{names[safe_name(s)]}' map to the same "
                    "shard file name: rename a source"
                )
        copies = {s: np.ones(t.num_rows, np.int64) for s, t in by_source.items()}
        mixture = []
        if self.shares is not None:
            plans = blend.plan_mixture(
                {s: t.column("tokens").to_numpy() for s, t in by_source.items()},
                self.shares,
                self.cfg.token_budget,
            )
            copies = {s: p.copies(by_source[s].num_rows) for s, p in plans.items()}
            mixture = blend.achieved_table(plans, self.shares)
            _check_tolerance(mixture, self.cfg)
        io.write_json({"mixture": mixture}, Path(self.staging) / "_mixture.json")
        kept = sum(int((c > 0).sum()) for c in copies.values())
        emitted = sum(int(c.sum()) for c in copies.values())
        record_counts(
            self.staging,
            "plan",
            {
                "kept": kept,
                "dropped": {reasons.MIXTURE_DOWNSAMPLED: meta.num_rows - kept},
                "repeated_copies": emitted - kept,
            },
        )
        for s, t in by_source.items():
            labels = {
                "group": s,
                "source": t["source"][0].as_py() if self.cfg.split_by != "language" else None,
                "language": t["language"][0].as_py() if self.cfg.by_language else None,
            }
            for n, rows in plan_source(t, copies[s], self.cfg.seed, self.cfg.shard_tokens):
                # the document list travels as a file: Beam carries only its path
                job = rows.select(["id", "copy", "tokens", "spill", "offset"])
                yield f"{safe_name(s)}_{n:05d}", labels, spill(job, self.staging, 1)


def _check_tolerance(rows: list[dict], cfg: ShardsConfig) -> None:
    budget = sum(r["target_tokens"] for r in rows) or 1
    for r in rows:
        if abs(r["achieved_tokens"] - r["target_tokens"]) > cfg.tolerance * budget:
            raise ConfigError(
                f"mixture: source '{r['source']}' gets {r['achieved_tokens']:,} tokens for a target "
                f"of {r['target_tokens']:,}, outside tolerance {cfg.tolerance}: its documents are "
                "too long for this budget; raise --token-budget or the tolerance"
            )


class WriteShard(beam.DoFn):
    """One shard job -> `<dest>/<shard>.{bin,idx}` (or a hard link to the identical
    shard already published in `previous`) and its manifest row."""

    def __init__(self, dest: str, previous: str | None, work: str, dtype: str, config_print: str):
        self.dest, self.previous, self.work = dest, previous, work
        self.dtype, self.config_print = dtype, config_print

    def setup(self):
        self.old = {}
        manifest = Path(self.previous or "/nonexistent") / "manifest.parquet"
        try:
            self.old = {r["shard"]: r for r in io.read_table([manifest]).to_pylist()}
        except (OSError, pa.ArrowException):  # none, or damaged: nothing to reuse, write all
            self.old = {}

    def process(self, job):
        shard, labels, spilled = job
        with unspilled([spilled]) as rows:
            # the manifest row travels as a file, like the counts (no combiner needed)
            io.write_json(
                self._write(shard, labels, rows), Path(self.work) / "_rows" / f"{shard}.json"
            )

    def _write(self, shard: str, labels: dict, rows: pa.Table) -> dict:
        h = hashlib.sha256(f"{self.config_print}\n{shard}\n".encode())
        for i, c, n in zip(
            *(rows.column(k).to_pylist() for k in ("id", "copy", "tokens")), strict=True
        ):
            h.update(f"{i}\t{c}\t{n}\n".encode("utf-8", "surrogatepass"))
        row = {"shard": shard, **labels, "dtype": self.dtype, "fingerprint": h.hexdigest()}
        prefix = Path(self.dest) / shard
        if self._reuse(shard, row["fingerprint"], prefix):
            return {**self.old[shard], **labels, "reused": True}
        writer = megatron.ShardWriter(prefix, self.dtype)
        files: dict[str, object] = {}  # a few open spill files; reads are by offset, not whole
        try:
            for name, off, n in zip(
                *(rows.column(k).to_pylist() for k in ("spill", "offset", "tokens")), strict=True
            ):
                if name not in files:
                    if len(files) >= 64:
                        files.pop(next(iter(files))).close()
                    files[name] = open(Path(self.work) / "_tokens" / name, "rb")  # noqa: SIM115
                f = files[name]
                f.seek(off * 4)
                writer.add(np.frombuffer(f.read(n * 4), np.uint32))
        finally:
            for f in files.values():
                f.close()
        info = writer.close()
        return {
            **row,
            **info,
            "bin_bytes": info["tokens"] * np.dtype(self.dtype).itemsize,
            "reused": False,
        }

    def _reuse(self, shard: str, print_: str, prefix: Path) -> bool:
        old = self.old.get(shard)
        src = Path(self.previous or "") / shard
        if not old or old["fingerprint"] != print_:
            return False
        if not src.with_suffix(".bin").is_file() or not src.with_suffix(".idx").is_file():
            return False
        if src.with_suffix(".bin").stat().st_size != old["bin_bytes"]:
            return False
        # a damaged shard in a copied or edited set must not be linked into the new one
        if (
            megatron.file_sha256(src.with_suffix(".bin")) != old["sha256"]
            or megatron.file_sha256(src.with_suffix(".idx")) != old["idx_sha256"]
        ):
            return False
        prefix.parent.mkdir(parents=True, exist_ok=True)
        for suffix in (".bin", ".idx"):
            try:
                os.link(src.with_suffix(suffix), prefix.with_suffix(suffix))
            except OSError:  # another filesystem: a copy still avoids re-tokenizing nothing
                shutil.copyfile(src.with_suffix(suffix), prefix.with_suffix(suffix))
        return True


def build(
    p,
    files,
    cfg,
    shares,
    spec,
    settings,
    work: Path,
    dest: Path,
    previous,
    dtype,
    print_,
    removed=None,
    languages=None,
):
    prev = str(previous) if previous else None
    return (
        p
        | "Files" >> beam.Create(files)
        | "SpreadFiles" >> beam.Reshuffle()
        | "Tokenize"
        >> beam.ParDo(Tokenize(spec, settings, cfg.seed, str(work), cfg.batch_size, removed))
        | "OneKey" >> beam.Map(lambda path: (0, path))
        | "Gather" >> beam.GroupByKey()
        | "Plan" >> beam.ParDo(Plan(cfg, shares, str(work), languages))
        | "SpreadShards" >> beam.Reshuffle()
        | "Write" >> beam.ParDo(WriteShard(str(dest), prev, str(work), dtype.name, print_))
    )


SAMPLE_CHARS = 1 << 18  # HF runs ~1-2 MB/s here: keep the check well under a second


def _sample_texts(files: list[str], settings: ReaderSettings | None, n: int) -> list[str]:
    """The first documents of every file (up to `n` and SAMPLE_CHARS in all): a fixed
    sample, so the fast-path decision is the same on every run of the same inputs."""
    texts: list[str] = []
    per_file = max(4, -(-n // max(len(files), 1)))
    for path in files:
        if settings is None:
            t = io.read_parquet_file(path).read(columns=["text"]).slice(0, per_file)
            got = t.column("text").to_pylist()
        else:
            got = next(iter(RecordReader(settings).read_file(path)), (None,))[0]
            got = got.column("text").to_pylist()[:per_file] if got is not None else []
        for text in got:
            if len(texts) >= n or sum(map(len, texts)) >= SAMPLE_CHARS:
                return texts
            texts.append(text[: SAMPLE_CHARS // 8])
    return texts


def prepare(cfg: ShardsConfig, files: list[str], settings: ReaderSettings | None):
    """Everything that can fail before Beam starts: tokenizer, EOS/BOS, dtype, mixture,
    and whether the fast path agrees with HF on the sample. -> (spec, dtype, shares, info)"""
    tok = load_tokenizer(cfg.spec())
    dtype = megatron.choose_dtype(tok.vocab_size, cfg.dtype)
    shares = blend.load_shares(cfg.mixture) if cfg.mixture else None
    fast = tok.kind == "hf+tiktoken"
    note = tok.kind
    if fast and cfg.verify_docs:
        bad = tok.agrees_on(_sample_texts(files, settings, cfg.verify_docs))
        if bad is not None:
            fast, note = False, f"hf (fast path disagreed on sample document {bad})"
    info = {
        "tokenizer": tok.kind if fast or tok.kind == "tiktoken" else note,
        "vocab_size": tok.vocab_size,
        "eos_id": tok.eos_id,
        "bos_id": tok.bos_id,
        "tokenizer_sha256": megatron.file_sha256(cfg.tokenizer),
    }
    return cfg.spec(fast_path=fast), dtype, shares, info


def output_print(cfg: ShardsConfig, dtype, shares, info) -> str:
    """What shard bytes depend on (not batch size, not the fast path: both exact)."""
    settings = cfg.model_dump(
        exclude={"batch_size", "fast_path", "verify_docs", "tokenizer", "mixture", "name"}
    )
    return fingerprint(
        settings, dtype.name, shares, info["tokenizer_sha256"], info["eos_id"], info["bos_id"]
    )


def build_shard_set(
    files,
    cfg,
    dest: Path,
    previous: Path | None,
    beam_args,
    work: Path,
    raw_inputs: bool,
    prepared: tuple | None = None,
    removed=None,
    languages: str | None = None,
) -> dict:
    """Write one shard set into the empty directory `dest`; returns the stage counts.
    `languages`: language ID's attributes directory (needed when split by language)."""
    settings = ReaderSettings(batch_size=cfg.batch_size) if raw_inputs else None
    spec, dtype, shares, info = prepared or prepare(cfg, files, settings)
    print_ = output_print(cfg, dtype, shares, info)
    (work / "_tokens").mkdir(parents=True, exist_ok=True)
    dest.mkdir(parents=True, exist_ok=True)
    with make_pipeline(beam_args) as p:
        build(
            p, files, cfg, shares, spec, settings, work, dest, previous, dtype, print_,
            removed, languages,
        )  # fmt: skip
    if (work / "_error.json").exists():
        raise ConfigError(io.read_json(work / "_error.json")["error"])
    counts = read_counts(work)
    shutil.rmtree(work / "_tokens", ignore_errors=True)
    rows = [io.read_json(p) for p in sorted((work / "_rows").glob("*.json"))]
    manifest = pa.Table.from_pylist(rows, schema=schemas.SHARDS_MANIFEST)
    io.write_parquet(manifest, dest / "manifest.parquet")
    write_blend(rows, dest, cfg.split_by)
    mixture_path = work / "_mixture.json"
    mixture = io.read_json(mixture_path)["mixture"] if mixture_path.exists() else []
    for key in ("in", "kept", "rejected", "repeated_copies"):
        counts.setdefault(key, 0)
    counts.setdefault("dropped", {reasons.MIXTURE_DOWNSAMPLED: 0})
    return {
        **counts,
        **info,
        "dtype": dtype.name,
        "shards": len(rows),
        "mixture": mixture,
        "tokens": int(sum(r["tokens"] for r in rows)),
        "emitted_documents": int(sum(r["documents"] for r in rows)),
        "reused_shards": sum(bool(r.get("reused")) for r in rows),
    }


def write_blend(rows: list[dict], dest: Path, split_by: str = "source") -> None:
    """`blend.json` and `blend.txt` ("weight prefix" per line, Megatron's --data-path
    order). Weights are token fractions, so Megatron's sampling keeps the emitted mixture;
    prefixes are relative to the shard directory, so the set can be moved. blend.json's
    `sources` are the shard groups (`split_by` says what they are)."""
    total = sum(r["tokens"] for r in rows) or 1
    weights = [round(r["tokens"] / total, 10) for r in rows]
    prefixes = [r["shard"] for r in rows]
    sources: dict = {}
    for r in rows:
        s = sources.setdefault(r["group"], {"tokens": 0, "documents": 0, "prefixes": []})
        s["tokens"] += r["tokens"]
        s["documents"] += r["documents"]
        s["prefixes"].append(r["shard"])
    for s in sources.values():
        s["share"] = round(s["tokens"] / total, 10)
    io.write_json(
        {
            "format": "megatron-blend",
            "weights": weights,
            "prefixes": prefixes,
            "split_by": split_by,
            "sources": sources,
        },
        dest / "blend.json",
    )
    io.write_text(
        "".join(f"{w:.10f} {p}\n" for w, p in zip(weights, prefixes, strict=True)),
        dest / "blend.txt",
    )


def run(ctx: StageContext, cfg: ShardsConfig, docs: DocSet | str, upstream: str) -> dict:
    """Shard the run's document set `docs` (see pipelines.docsets) into `shards/<name>/`."""
    docs = DocSet.parse(docs)
    files = docs.part_paths(ctx.run_dir)
    prepared = prepare(cfg, files, None)
    _, _, shares, info = prepared
    config = {
        "shards": cfg.model_dump(),
        "input": str(docs),
        "tokenizer_sha256": info.get("tokenizer_sha256"),
        "shares": shares,
    }
    languages = None
    if cfg.by_language:
        languages = shard_groups.language_source(ctx)
        config["languages"] = ctx.stats("language_id")["fingerprint"]
    return _run_shard_stage(
        ctx,
        cfg,
        files,
        prepared,
        config,
        [upstream],
        raw_inputs=False,
        removed=docs.removed_map(ctx.run_dir),
        languages=languages,
    )


def _run_shard_stage(
    ctx, cfg, files, prepared, config, upstream, raw_inputs, removed=None, languages=None
):
    """The shard set as a stage of `ctx`'s run: built in staging, published to
    `shards/<name>/` by run_stage (shards identical to the published ones are linked)."""
    dest = f"shards/{cfg.name}"

    def body(staging: Path) -> dict:
        return build_shard_set(
            files,
            cfg,
            staging / dest,
            ctx.run_dir / dest,
            ctx.beam_args,
            staging / "_work",
            raw_inputs=raw_inputs,
            prepared=prepared,
            removed=removed,
            languages=languages,
        )

    return run_stage(ctx, STAGE, config, upstream, [dest], body)


def check(cfg: ShardsConfig) -> None:
    """The tokenizer loads with its EOS/BOS and dtype, and the mixture file parses."""
    prepare(cfg, [], None)


STAGE_DEF = Stage(
    name=STAGE,
    config=ShardsConfig,
    run=run,
    reads="documents",
    writes=("shards/<name>",),
    check=check,
    reasons=(reasons.MIXTURE_DOWNSAMPLED,),
    optional=True,
    description="tokenized Megatron shards of the final documents (needs a tokenizer)",
)


def run_standalone(inputs: list[str], cfg: ShardsConfig, out: str | Path, beam_args=()) -> dict:
    """`thresher shards`: input files -> a one-stage run in `out`, through `run_stage` like
    every stage: the shard set in `out/shards/<name>/`, its stats in `out/stats/shards.json`
    (published atomically, verified on resume; shards identical to the ones already there
    are hard-linked after a checksum check, not rewritten)."""
    from thresher.pipelines import runlock

    if cfg.by_language:
        raise ConfigError(
            f"split_by {cfg.split_by} needs the documents' languages, which a run's language_id "
            "stage provides: shard inside `thresher run` (a `shards:` section), or split by source"
        )
    run_dir = Path(out).resolve()
    if run_dir.is_dir() and any(run_dir.iterdir()) and not (run_dir / "stats").is_dir():
        raise ConfigError(
            f"--out {run_dir} exists and holds no earlier `thresher shards` output: choose a new "
            "or empty directory"
        )
    ctx = StageContext(run_dir=run_dir, beam_args=list(beam_args)).with_inputs(inputs)
    files = [path for path, _, _ in ctx.inputs]
    prepared = prepare(cfg, files, ReaderSettings(batch_size=cfg.batch_size))
    _, dtype, shares, info = prepared
    config = {
        "shards": cfg.model_dump(),
        "files": ctx.inputs,
        "output": output_print(cfg, dtype, shares, info),
    }
    with runlock.hold(ctx.run_dir):  # one writer per output directory
        return _run_shard_stage(ctx, cfg, files, prepared, config, [], raw_inputs=True)
