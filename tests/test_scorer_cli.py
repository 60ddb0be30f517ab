"""`thresher scorer losses|train` and `thresher score` through the CLI, errors included."""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pytest
from test_predictive_strength import train_tiny_scorer

from thresher.pipelines import io, schemas


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A small scorer with labels __label__0/__label__1 (no __label__hq)."""
    return train_tiny_scorer(tmp_path_factory.mktemp("m") / "m.bin", 60, seed=8, epoch=5)


def write_docs(path, texts):
    return io.write_parquet(
        pa.table({"id": [f"d{i:03d}" for i in range(len(texts))], "text": texts}), path
    )


def test_charlm_losses_then_train_then_score(tmp_path, cli, jsonl):
    rng = random.Random(0)
    target_words = ["the", "lord", "said", "unto", "moses", "and", "aaron"]
    other = ["click", "here", "free", "offer", "winner", "casino", "now"]

    def doc(words, n=60):
        return " ".join(rng.choice(words) for _ in range(n))

    jsonl(
        tmp_path / "train.jsonl",
        [
            {
                "id": f"t{i}",
                "text": doc(target_words if i % 2 else other),
                "source": "bible" if i % 2 else "spam",
            }
            for i in range(60)
        ],
    )
    jsonl(
        tmp_path / "target.jsonl", [{"id": f"g{i}", "text": doc(target_words)} for i in range(10)]
    )
    # noise: higher orders cannot help on it, so the family ranks backwards there (low S)
    noise = ["".join(rng.choice("qxzjvkw ") for _ in range(300)) for _ in range(40)]
    seed_texts = [doc(target_words) for _ in range(40)] + noise
    write_docs(tmp_path / "seed.parquet", seed_texts)
    rc, out, err = cli(
        "scorer",
        "losses",
        "--family",
        "charlm",
        "--input",
        tmp_path / "seed.parquet",
        "--train",
        tmp_path / "train.jsonl",
        "--target",
        tmp_path / "target.jsonl",
        "--orders",
        "1,2,3",
        "--out",
        tmp_path / "fam",
    )
    assert rc == 0, err
    losses = io.read_table([tmp_path / "fam" / "losses.parquet"])
    assert losses.schema == schemas.LOSSES and losses.num_rows == 80 * 3
    bench = io.read_json(tmp_path / "fam" / "benchmarks.json")
    assert set(bench) == {"charlm-o1", "charlm-o2", "charlm-o3"}
    assert bench["charlm-o3"] > bench["charlm-o1"]  # -BPC: the trigram model fits the target better
    rc, _, err = cli(
        "scorer",
        "losses",
        "--family",
        "charlm",
        "--input",
        tmp_path / "seed.parquet",
        "--train",
        tmp_path / "train.jsonl",
        "--target",
        tmp_path / "target.jsonl",
        "--mixtures",
        "3",
        "--out",
        tmp_path / "mix",
    )
    assert rc == 0, err
    assert set(io.read_json(tmp_path / "mix" / "benchmarks.json")) == {
        f"charlm-mix{k}" for k in range(3)
    }
    assert io.read_table([tmp_path / "mix" / "losses.parquet"]).num_rows == 80 * 3

    rc, out, err = cli(
        "scorer",
        "train",
        "--documents",
        tmp_path / "seed.parquet",
        "--losses",
        tmp_path / "fam" / "losses.parquet",
        "--benchmarks",
        tmp_path / "fam" / "benchmarks.json",
        "--positive-fraction",
        "0.3",
        "--bucket",
        "20000",
        "--dim",
        "16",
        "--epoch",
        "10",
        "--out",
        tmp_path / "scorer",
    )
    assert rc == 0, err
    assert "validation: accuracy" in out and "ROC-AUC" in out
    card = io.read_json(tmp_path / "scorer" / "scorer_card.json")
    s1 = card["s_histogram"]["1.0000"]
    assert card["positives"] == card["negatives"] == max(s1, 24)  # S = 1, or top 30% if fewer
    assert "ROC-AUC" in (tmp_path / "scorer" / "scorer_card.md").read_text()
    per_doc = io.read_table([tmp_path / "scorer" / "predictive_strength.parquet"])
    assert per_doc.num_rows == 80

    rc, _, err = cli(
        "score",
        "--model",
        tmp_path / "scorer" / "model.bin",
        "--input",
        tmp_path / "seed.parquet",
        "--out",
        tmp_path / "scored",
        "--keep-top-docs",
        "0.25",
    )
    assert rc == 0, err
    kept = io.read_table(io.iter_parts(tmp_path / "scored" / "selected"))
    assert kept.num_rows == 20
    stats = io.read_json(tmp_path / "scored" / "stats" / "score.json")
    assert stats["in"] == 80 == stats["kept"] + stats["dropped"]["below_quality_threshold"]


def one_line_error(rc, err, *needles):
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert rc == 1 and len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_score_errors(tmp_path, cli, tiny_model):
    write_docs(tmp_path / "docs.parquet", ["some text", "more text"])
    rc, _, err = cli(
        "score",
        "--model",
        tiny_model,
        "--positive-label",
        "__label__hq",
        "--input",
        tmp_path / "docs.parquet",
        "--out",
        tmp_path / "o",
    )
    one_line_error(rc, err, "no label '__label__hq'", "__label__0", "__label__1")
    rc, _, err = cli(
        "score",
        "--model",
        tmp_path / "nope.bin",
        "--input",
        tmp_path / "docs.parquet",
        "--out",
        tmp_path / "o",
    )
    one_line_error(rc, err, "nope.bin does not exist")
    rc, _, err = cli(
        "score",
        "--model",
        tiny_model,
        "--input",
        tmp_path / "docs.parquet",
        "--out",
        tmp_path / "o",
        "--keep-top-chars",
        "1.5",
    )
    one_line_error(rc, err, "keep_top_chars")


def test_train_errors(tmp_path, cli):
    write_docs(tmp_path / "docs.parquet", ["alpha beta", "gamma delta", "epsilon"])
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"a": 0.1, "b": 0.2, "c": 0.3}))

    def losses(rows):
        path = tmp_path / f"losses-{len(rows)}.parquet"
        io.write_parquet(
            pa.table(
                {
                    "id": [r[0] for r in rows],
                    "model": [r[1] for r in rows],
                    "bpc": [float(r[2]) for r in rows],
                }
            ),
            path,
        )
        return path

    full = [(f"d{i:03d}", m, 1.0 + i + j) for i in range(3) for j, m in enumerate("abc")]
    unknown = losses([*full, ("d000", "zz", 1.0)])
    rc, _, err = cli(
        "scorer",
        "train",
        "--documents",
        tmp_path / "docs.parquet",
        "--losses",
        unknown,
        "--benchmarks",
        bench,
        "--out",
        tmp_path / "s",
    )
    one_line_error(rc, err, "zz", "no benchmark score")
    missing = losses(full[:-1])  # d002 has no loss for model c
    rc, _, err = cli(
        "scorer",
        "train",
        "--documents",
        tmp_path / "docs.parquet",
        "--losses",
        missing,
        "--benchmarks",
        bench,
        "--out",
        tmp_path / "s",
    )
    one_line_error(rc, err, "1 document(s) have no bpc for model 'c'", "d002")
    rc, _, err = cli(
        "scorer",
        "train",
        "--documents",
        tmp_path / "docs.parquet",
        "--losses",
        losses(full),
        "--benchmarks",
        tmp_path / "none.json",
        "--out",
        tmp_path / "s",
    )
    one_line_error(rc, err, "none.json does not exist")


def test_hf_losses_tiny_random_model(tmp_path, cli):
    torch = pytest.importorskip("torch", reason="HF losses need the optional extra thresher[lm]")
    transformers = pytest.importorskip(
        "transformers", reason="needs the optional extra thresher[lm]"
    )
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    texts = ["the cat sat on the mat", "a dog ran far away from home", "the end"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(
        texts * 5, trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>"])
    )
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", unk_token="<unk>"
    )
    paths = []
    for i, width in enumerate((8, 16, 32)):
        torch.manual_seed(i)
        cfg = transformers.GPT2Config(
            vocab_size=fast.vocab_size, n_positions=8, n_embd=width, n_layer=1, n_head=2
        )
        model = transformers.GPT2LMHeadModel(cfg)
        path = tmp_path / f"lm{i}"
        model.save_pretrained(path)
        fast.save_pretrained(path)
        paths.append(path)
    write_docs(tmp_path / "docs.parquet", texts)
    args = [
        "scorer",
        "losses",
        "--family",
        "hf",
        "--input",
        tmp_path / "docs.parquet",
        "--out",
        tmp_path / "o",
        "--batch-size",
        "2",
    ]
    for p in paths:
        args += ["--model", p]
    rc, _, err = cli(*args)
    assert rc == 0, err
    losses = io.read_table([tmp_path / "o" / "losses.parquet"])
    assert losses.num_rows == 9 and set(losses["model"].to_pylist()) == {"lm0", "lm1", "lm2"}
    # each document scored on its own: batching and padding do not change its loss
    from thresher.scorers.hf_losses import HFCausalLM

    lm = HFCausalLM(str(paths[0]))
    alone = [lm.doc_nll([t])[0] for t in texts]
    batched = lm.doc_nll(texts, batch_size=3)
    assert alone == pytest.approx(batched, rel=1e-4)
    row = losses.filter(pa.compute.equal(losses["model"], "lm0")).to_pylist()
    assert [r["nll_sum"] for r in row] == pytest.approx(alone, rel=1e-4)
    assert all(
        r["bpc"] == pytest.approx(r["nll_sum"] / (r["n_chars"] * 0.6931471805599453)) for r in row
    )
