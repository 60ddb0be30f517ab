"""Scoring, language ID and tokenizing on several cores give exactly what one core gives,
in the same order: the forked predict helpers (scorers.predict_pool) and the tokenizer's
encoding threads, alone and inside their stages."""

from __future__ import annotations

import functools
import time

import numpy as np
import pytest
from test_predictive_strength import synthetic, train_tiny_scorer
from test_score_stage import documents_parts
from test_shards import make_docs, train_tokenizer, write_jsonl

from thresher.pipelines import score as score_stage
from thresher.pipelines import shards as shards_stage
from thresher.pipelines.stage import StageContext
from thresher.scorers.fasttext_scorer import FastTextScorer
from thresher.scorers.predict_pool import PredictPool
from thresher.scorers.text_tokenizers import load_tokenizer


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return train_tiny_scorer(tmp_path_factory.mktemp("model") / "quality.bin", 120, 2, 10)


def texts(n: int) -> list[str]:
    pos, neg = synthetic(n // 2, seed=5)
    return [t for pair in zip(pos, neg, strict=True) for t in pair]


def test_forked_scorer_matches_one_process(model_path):
    batch = texts(500)
    one = FastTextScorer(model_path).score_batch(batch)
    many = FastTextScorer(model_path, processes=3)
    try:
        assert many.predictor.processes == 3
        got = many.score_batch(batch)
        assert len(many.predictor._helpers) == 3  # the helpers really ran
        np.testing.assert_array_equal(got, one)
        np.testing.assert_array_equal(many.score_batch(batch[:10]), one[:10])  # small: inline
    finally:
        many.close()


class GILHoldingModel:
    """Stands in for fastText, whose predict holds the GIL for the whole call: a C loop
    (`sum` over a range never lets the GIL go). Each answer is the time its call began."""

    def __init__(self, loops: int):
        self.loops = loops

    def predict(self, lines, k=1):
        began = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process
        sum(range(self.loops))
        return [(str(began),)] * len(lines), [np.ones(1)] * len(lines)


def test_helpers_predict_at_the_same_time():
    """Every helper gets its slice before the caller waits, so they all run at once; sent
    from a background thread (multiprocessing.Pool) the next slice would go out only after
    a GIL-holding predict in this process finished."""
    model = GILHoldingModel(20_000_000)
    t = time.monotonic()
    model.predict(["x"])
    alone = time.monotonic() - t
    pool = PredictPool(model, processes=2)
    try:
        pool.predict(["warm up"] * 256)
        labels, _ = pool.predict(["line"] * 256)
    finally:
        pool.close()
    first, second = float(labels[0][0]), float(labels[-1][0])
    assert abs(second - first) < alone / 2, (second - first, alone)


def test_threads_sharing_a_pool_get_their_own_answers(model_path):
    """A Beam runner's threads share one scorer: concurrent calls take turns on the
    helpers, and each gets the scores of its own texts."""
    from concurrent.futures import ThreadPoolExecutor

    batches = [texts(900)[i::3] for i in range(3)]  # 300 lines: every helper gets a slice
    expected = [FastTextScorer(model_path).score_batch(b) for b in batches]
    shared = FastTextScorer(model_path, processes=2)
    try:
        with ThreadPoolExecutor(3) as threads:
            got = list(threads.map(shared.score_batch, batches * 4))
    finally:
        shared.close()
    for i, scores in enumerate(got):
        np.testing.assert_array_equal(scores, expected[i % 3])


def _score_in_daemon(model_path, batch, queue):
    try:
        scorer = FastTextScorer(model_path, processes=3)
        queue.put((scorer.predictor.processes, scorer.score_batch(batch).tolist()))
    except Exception as exc:  # reported to the test, which fails with it
        queue.put((None, repr(exc)))


def test_a_daemonic_worker_predicts_in_process(model_path):
    """Dask's workers run as daemonic processes, which may not fork helpers: the scorer
    predicts in the worker itself there (same scores) instead of failing."""
    import multiprocessing

    batch = texts(500)
    one = FastTextScorer(model_path).score_batch(batch)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    worker = ctx.Process(target=_score_in_daemon, args=(model_path, batch, queue), daemon=True)
    worker.start()
    processes, got = queue.get(timeout=120)
    worker.join(30)
    assert processes == 1, got
    assert worker.exitcode == 0
    np.testing.assert_array_equal(np.array(got), one)


def test_language_id_on_two_cores_matches_one():
    from thresher.scorers.lid import LanguageIdentifier

    batch = ["Der Hund schläft im Garten.", "The dog sleeps.", "Le chien dort."] * 60
    one = LanguageIdentifier().predict(batch)
    many = LanguageIdentifier(processes=2)
    try:
        langs, scores = many.predict(batch)
        assert langs == one[0]
        np.testing.assert_array_equal(scores, one[1])
    finally:
        many.close()


def test_score_stage_output_same_on_one_and_two_cores(tmp_path, model_path, monkeypatch):
    inputs, _ = documents_parts(tmp_path / "docs", n=420)
    files = {}
    for cores in (1, 2):
        monkeypatch.setattr(score_stage, "available_cores", lambda c=cores: c)
        ctx = StageContext(run_dir=tmp_path / f"run-{cores}")
        cfg = score_stage.ScoreConfig(model=str(model_path), keep_top_docs=0.5)
        score_stage.run(ctx, cfg, inputs, [])
        files[cores] = {
            p.relative_to(ctx.run_dir): p.read_bytes()
            for d in ("scores", "selected")
            for p in sorted((ctx.run_dir / d).rglob("*.parquet"))
        }
    assert files[1] and files[1] == files[2]


def test_tokenizer_threads_match_one_thread(tmp_path):
    docs = make_docs("web", 300, 3)
    tok_path = train_tokenizer(tmp_path / "tok.json", [d["text"] for d in docs])
    batch = [d["text"] for d in docs] + ["<|endoftext|> as text", ""]
    one = load_tokenizer(str(tok_path), threads=1)
    two = load_tokenizer(str(tok_path), threads=2)
    assert two.kind == "hf+tiktoken"
    flat1, len1 = one.encode_batch(batch)
    flat2, len2 = two.encode_batch(batch)
    np.testing.assert_array_equal(flat1, flat2)
    np.testing.assert_array_equal(len1, len2)
    expected = [[*ids, one.eos_id] for ids in one.tk.encode_ordinary_batch(batch)]
    assert flat1.tolist() == [t for ids in expected for t in ids]


def test_shard_stage_output_same_on_one_and_two_threads(tmp_path, monkeypatch):
    docs = make_docs("web", 300, 4) + make_docs("code", 120, 4)
    write_jsonl(tmp_path / "in" / "a.jsonl", docs)
    tok = train_tokenizer(tmp_path / "tok.json", [d["text"] for d in docs])
    outputs = {}
    for threads in (1, 2):
        monkeypatch.setattr(
            shards_stage, "load_tokenizer", functools.partial(load_tokenizer, threads=threads)
        )
        cfg = shards_stage.ShardsConfig(tokenizer=str(tok), shard_tokens=2000, batch_size=100)
        out = tmp_path / f"out-{threads}"
        shards_stage.run_standalone([str(tmp_path / "in" / "*.jsonl")], cfg, str(out))
        outputs[threads] = {
            p.relative_to(out): p.read_bytes()
            for p in sorted(out.rglob("*"))
            if p.suffix in (".bin", ".idx")
        }
    assert len(outputs[1]) > 2 and outputs[1] == outputs[2]


def test_minhash_threads_match_one_thread():
    from thresher.scorers.minhash import ShingleSpec, shingle_hashes, signatures

    batch = [*texts(300), "", "one", "x y z " * 400]
    hashes, offsets = shingle_hashes(batch, ShingleSpec(), threads=1)
    for threads in (2, 3):  # slices of the batch hashed apart, joined in order
        h, off = shingle_hashes(batch, ShingleSpec(), threads=threads)
        np.testing.assert_array_equal(h, hashes)
        np.testing.assert_array_equal(off, offsets)
    one = signatures(hashes, offsets, chunk=64, threads=1)
    for threads in (2, 3):
        np.testing.assert_array_equal(signatures(hashes, offsets, chunk=64, threads=threads), one)
