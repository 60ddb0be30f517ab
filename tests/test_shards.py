"""The shard stage end to end: round trip, determinism, mixture shares, reuse, errors.

Every test trains its own tiny byte-level BPE (a few KB of text) and runs real Beam.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from thresher.scorers import megatron
from thresher.scorers.text_tokenizers import load_tokenizer

EOS = "<|endoftext|>"
WORDS = [
    "data",
    "curation",
    "pipeline",
    "token",
    "shard",
    "Megatron",
    "seed",
    "über",
    "naïve",
    "数据",
    "模型",
    "код",
    "данные",
    "🙂",
    "tab\tnewline\n",
    "",
    "spaces",
    "end.",
    "'quote'",
    "x=1;",
    "<|endoftext|>",
]


def make_docs(source: str, n: int, seed: int, long: int = 60) -> list[dict]:
    rng = random.Random(f"{source}{seed}")
    return [
        {
            "id": f"{source}-{i:04d}",
            "source": source,
            "text": " ".join(rng.choices(WORDS, k=rng.randint(3, long))),
        }
        for i in range(n)
    ]


def write_jsonl(path: Path, docs: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs))
    return path


def train_tokenizer(path: Path, texts, vocab: int = 500) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=vocab,
            special_tokens=[EOS],
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tok.save(str(path))
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    docs = {s: make_docs(s, n, 1) for s, n in (("web", 120), ("code", 80), ("books", 40))}
    for s, ds in docs.items():
        write_jsonl(d / "in" / f"{s}.jsonl", ds)
    tok = train_tokenizer(d / "tokenizer.json", [x["text"] for ds in docs.values() for x in ds])
    return d, docs, tok


SET = Path("shards") / "default"  # where `thresher shards --out DIR` puts the set


def shard_files(out: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in sorted(out.iterdir())
        if p.suffix in (".bin", ".idx") or p.name in ("manifest.parquet", "blend.json", "blend.txt")
    }


def emitted(out: Path, tok_path: Path) -> list[tuple[str, str]]:
    """(source, decoded text) of every document of every shard, via the manifest."""
    tok = load_tokenizer(str(tok_path), eos=None)
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    got = []
    for r in rows:
        shard = megatron.Shard(out / r["shard"])
        assert len(shard) == r["documents"]
        got += [(r["source"], tok.decode(shard[i])) for i in range(len(shard))]
    return got


def test_round_trip_verify_and_inspect(cli, corpus, tmp_path):
    d, docs, tok = corpus
    out = tmp_path / "shards"
    rc, stdout, err = cli(
        "shards",
        "--tokenizer",
        tok,
        "--input",
        d / "in" / "*.jsonl",
        "--out",
        out,
        "--shard-tokens",
        "1500",
        "--eos",
        EOS,
    )
    assert rc == 0, err
    run_dir, out = out, out / SET  # a one-stage run: the set is in shards/<name>/
    got = emitted(out, tok)
    want = [(s, x["text"] + EOS) for s, ds in docs.items() for x in ds]
    assert sorted(got) == sorted(want)  # every document exactly once, text + EOS
    # a literal "<|endoftext|>" in a text stays text: the EOS id only ends documents
    assert any(EOS in x["text"] for ds in docs.values() for x in ds)
    eos = load_tokenizer(str(tok)).eos_id
    for p in out.glob("*.idx"):
        shard = megatron.Shard(p)
        assert all(shard[i][-1] == eos and (shard[i] == eos).sum() == 1 for i in range(len(shard)))
    manifest = pq.read_table(out / "manifest.parquet").to_pylist()
    assert {r["source"] for r in manifest} == {"web", "code", "books"}
    assert all(
        r["shard"].startswith(r["source"] + "_") and r["dtype"] == "uint16" for r in manifest
    )
    assert max(r["tokens"] for r in manifest) < 1500 + 200  # ~shard_tokens, whole documents
    stats = json.loads((run_dir / "stats" / "shards.json").read_text())
    assert stats["in"] == stats["kept"] + sum(stats["dropped"].values()) + stats["rejected"]
    assert stats["tokens"] == sum(r["tokens"] for r in manifest)
    blend = (out / "blend.txt").read_text().split()
    assert blend[1::2] == [r["shard"] for r in manifest]
    assert abs(sum(map(float, blend[0::2])) - 1) < 1e-6

    rc, stdout, _ = cli("shards", "verify", out)
    assert rc == 0 and f"ok: {len(manifest)} shards" in stdout
    rc, stdout, _ = cli(
        "shards", "inspect", out / manifest[0]["shard"], "--docs", "1", "--chars", "2000"
    )
    first = megatron.Shard(out / manifest[0]["shard"])[0]
    assert rc == 0 and "MMIDIDX" in stdout and "sequence_count" in stdout
    assert load_tokenizer(str(tok), eos=None).decode(first) in stdout

    # verify notices a damaged shard
    (out / manifest[0]["shard"]).with_suffix(".bin").write_bytes(b"\x00\x00")
    rc, stdout, err = cli("shards", "verify", out)
    assert rc == 1 and "problem" in stdout and len(err.strip().splitlines()) == 1


def test_fast_path_gives_hf_ids(corpus):
    _, docs, tok_path = corpus
    tok = load_tokenizer(str(tok_path))
    assert tok.kind == "hf+tiktoken"
    texts = [x["text"] for ds in docs.values() for x in ds] + [
        "<|endoftext|> inside",
        "",
        " \n\n x",
    ]
    assert tok.agrees_on(texts) is None
    fast, fl = tok.encode_batch(texts, use_fast=True)
    slow, sl = tok.encode_batch(texts, use_fast=False)
    assert np.array_equal(fast, slow) and np.array_equal(fl, sl)


def test_identical_shards_whatever_the_order_batching_or_runner(cli, corpus, tmp_path):
    d, docs, tok = corpus
    out_a = tmp_path / "a"
    rc, _, err = cli(
        "shards",
        "--tokenizer",
        tok,
        "--input",
        d / "in",
        "--out",
        out_a,
        "--shard-tokens",
        "2000",
        "--batch-size",
        "7",
    )
    assert rc == 0, err
    # the same documents shuffled over 5 differently named files, other batch size,
    # two Beam workers, and the HF tokenizer instead of the fast path
    everything = [x for ds in docs.values() for x in ds]
    random.Random(3).shuffle(everything)
    for k in range(5):
        write_jsonl(tmp_path / "shuffled" / f"part{k}.jsonl", everything[k::5])
    out_b = tmp_path / "b"
    rc, _, err = cli(
        "shards",
        "--tokenizer",
        tok,
        "--input",
        tmp_path / "shuffled",
        "--out",
        out_b,
        "--shard-tokens",
        "2000",
        "--batch-size",
        "50",
        "--no-fast-path",
        "--",
        "--direct_num_workers",
        "2",
        "--direct_running_mode=multi_threading",
    )
    assert rc == 0, err
    a, b = shard_files(out_a / SET), shard_files(out_b / SET)
    assert len(a) > 6 and a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []


def test_mixture_hits_shares_within_one_percent(cli, tmp_path):
    docs = {
        "web": make_docs("web", 300, 2),
        "code": make_docs("code", 150, 2),
        "books": make_docs("books", 40, 2),
    }
    for s, ds in docs.items():
        write_jsonl(tmp_path / "in" / f"{s}.jsonl", ds)
    tok = train_tokenizer(tmp_path / "tok.json", [x["text"] for ds in docs.values() for x in ds])
    (tmp_path / "mixture.json").write_text(
        json.dumps({"proportions": {"web": 0.5, "code": 0.3, "books": 0.2}})
    )
    budget = 20_000  # books must repeat (it has ~1/5 of that), web is down-sampled
    out = tmp_path / "out"
    rc, stdout, err = cli(
        "shards",
        "--tokenizer",
        tok,
        "--input",
        tmp_path / "in",
        "--out",
        out,
        "--mixture",
        tmp_path / "mixture.json",
        "--token-budget",
        budget,
        "--shard-tokens",
        "4000",
    )
    assert rc == 0, err
    manifest = pq.read_table(out / SET / "manifest.parquet").to_pylist()
    tokens = {s: sum(r["tokens"] for r in manifest if r["source"] == s) for s in docs}
    total = sum(tokens.values())
    for s, share in {"web": 0.5, "code": 0.3, "books": 0.2}.items():
        assert abs(tokens[s] - share * budget) <= 0.01 * budget, (s, tokens)
        assert abs(tokens[s] / total - share) <= 0.01
    stats = json.loads((out / "stats" / "shards.json").read_text())
    assert stats["repeated_copies"] > 0 and stats["dropped"]["mixture_downsampled"] > 0
    assert (
        stats["in"] == stats["kept"] + stats["dropped"]["mixture_downsampled"] + stats["rejected"]
    )
    assert "achieved_share" in stdout and "books" in stdout
    # repeats and samples are whole input documents
    texts = {x["text"] + EOS for ds in docs.values() for x in ds}
    assert all(t in texts for _, t in emitted(out / SET, tok))


def test_rerun_skips_and_unchanged_shards_are_not_rewritten(cli, corpus, tmp_path):
    _, docs, tok = corpus
    out = tmp_path / "out"
    args = [
        "shards",
        "--tokenizer",
        tok,
        "--input",
        tmp_path / "in",
        "--out",
        out,
        "--shard-tokens",
        "2000",
    ]
    write_jsonl(tmp_path / "in" / "web.jsonl", docs["web"])
    assert cli(*args)[0] == 0
    inode = (out / SET / "web_00000.bin").stat().st_ino
    rc, stdout, _ = cli(*args)
    assert rc == 0 and "unchanged" in stdout
    write_jsonl(tmp_path / "in" / "code.jsonl", docs["code"])  # a new source appears
    rc, stdout, _ = cli(*args)
    assert rc == 0 and (out / SET / "code_00000.bin").exists()
    assert (out / SET / "web_00000.bin").stat().st_ino == inode  # linked, not rewritten
    stats = json.loads((out / "stats" / "shards.json").read_text())
    assert stats["reused_shards"] == len(list((out / SET).glob("web_*.bin"))) >= 1


def test_user_errors_are_one_line(cli, corpus, tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    d, _, tok = corpus
    big = Tokenizer(
        models.WordLevel({f"w{i}": i for i in range(70_000)} | {EOS: 70_000}, unk_token=EOS)
    )
    big.pre_tokenizer = pre_tokenizers.Whitespace()
    big.save(str(tmp_path / "big.json"))
    base = ["--input", d / "in", "--out", tmp_path / "o"]
    cases = [
        (["--tokenizer", tmp_path / "big.json", "--dtype", "uint16"], "does not fit dtype uint16"),
        (["--tokenizer", tmp_path / "nope.json"], "does not exist"),
        (["--tokenizer", tok, "--eos", "</s>"], "has no eos token '</s>'"),
        (["--tokenizer", tok, "--mixture", tmp_path / "none.yaml"], "mixture file"),
    ]
    for extra, message in cases:
        rc, _, err = cli("shards", *base, *extra)
        assert rc == 1, (extra, err)
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists()
    rc, _, err = cli("shards", "verfy", tmp_path)
    assert rc == 1 and "unknown shards subcommand 'verfy'" in err


def test_curate_run_emits_shards_and_query_view(cli, prefect_api, corpus, tmp_path):
    d, docs, tok = corpus
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"shards:\n  tokenizer: {tok}\n  name: train\n  shard_tokens: 3000\n")
    out = tmp_path / "out"
    rc, stdout, err = cli(
        "run", "--input", d / "in", "--out", out, "--config", cfg, "--run-id", "r1"
    )
    assert rc == 0, err
    shard_dir = out / "runs" / "r1" / "shards" / "train"
    rc, stdout, _ = cli(
        "query",
        "--out",
        out,
        "--format",
        "json",
        "SELECT source, sum(documents) AS docs FROM shards GROUP BY ALL ORDER BY source",
    )
    assert rc == 0
    kept = json.loads(
        cli(
            "query",
            "--out",
            out,
            "--format",
            "json",
            "SELECT source, count(*) AS docs FROM documents GROUP BY ALL ORDER BY source",
        )[1]
    )
    assert json.loads(stdout) == kept and {r["source"] for r in kept} == set(docs)
    assert cli("shards", "verify", shard_dir)[0] == 0
    rc, stdout, _ = cli("shards", "inspect", shard_dir, "--docs", "1")
    assert rc == 0 and "--- document 0" in stdout  # tokenizer found via the run's stats
    stats = json.loads((out / "runs" / "r1" / "stats" / "shards.json").read_text())
    assert stats["in"] == stats["kept"] + sum(stats["dropped"].values()) + stats["rejected"]


def test_tiktoken_rank_file(cli, corpus, tmp_path):
    """A .tiktoken rank file (here: the same BPE's ranks) gives the same tokens as the HF
    tokenizer.json; its EOS is the rank file's default special `<|endoftext|>`."""
    import base64

    from thresher.scorers.text_tokenizers import hf_byte_level_ranks

    d, docs, tok = corpus
    _, ranks, _ = hf_byte_level_ranks(json.loads(tok.read_text()))
    rank_file = tmp_path / "bpe.tiktoken"
    rank_file.write_text(
        "".join(
            f"{base64.b64encode(b).decode()} {r}\n"
            for b, r in sorted(ranks.items(), key=lambda kv: kv[1])
        )
    )
    tk = load_tokenizer(str(rank_file))
    hf = load_tokenizer(str(tok), fast_path=False)
    assert tk.kind == "tiktoken" and tk.eos_id == max(ranks.values()) + 1
    texts = [x["text"] for x in docs["web"]]
    assert [list(a) for a in tk.encode_raw(texts)] == hf.encode_raw(texts)
    rc, _, err = cli(
        "shards",
        "--tokenizer",
        rank_file,
        "--input",
        d / "in" / "code.jsonl",
        "--out",
        tmp_path / "out",
    )
    assert rc == 0, err
    got = emitted(tmp_path / "out" / SET, rank_file)
    assert sorted(got) == sorted(("code", x["text"] + EOS) for x in docs["code"])


def test_mixture_files_and_plan_rules(tmp_path):
    from thresher.scorers import blend
    from thresher.scorers.errors import ConfigError

    (tmp_path / "a.yaml").write_text("web: 2\ncode: 1\nbooks: 1\n")
    (tmp_path / "b.json").write_text(
        json.dumps({"proportions": {"web": 0.5, "code": 0.25, "books": 0.25}})
    )
    (tmp_path / "c.json").write_text(
        json.dumps(
            [
                {"category": "web", "proportion": 0.5},
                {"category": "code", "proportion": 0.25},
                {"category": "books", "proportion": 0.25},
            ]
        )
    )
    shares = [blend.load_shares(tmp_path / n) for n in ("a.yaml", "b.json", "c.json")]
    assert shares[0] == shares[1] == shares[2] == {"books": 0.25, "code": 0.25, "web": 0.5}
    (tmp_path / "bad.yaml").write_text("web: -1\n")
    with pytest.raises(ConfigError, match="must be a number >= 0"):
        blend.load_shares(tmp_path / "bad.yaml")

    tokens = {"web": np.full(100, 10), "code": np.full(100, 10), "books": np.full(10, 10)}
    plans = blend.plan_mixture(tokens, shares[0], None)  # no budget: books (scarcest) used whole
    assert plans["books"].achieved == 100 and (plans["books"].copies(10) == 1).all()
    assert plans["web"].copies(100).sum() == 20 and plans["web"].copies(100).max() == 1
    assert plans["web"].achieved == 200 and plans["code"].achieved == 100
    plans = blend.plan_mixture(tokens, shares[0], 4000)  # books repeated 10 times
    assert plans["books"].repeats == 10 and plans["books"].copies(10).sum() == 100
    assert {s: p.achieved for s, p in plans.items()} == {"books": 1000, "code": 1000, "web": 2000}
