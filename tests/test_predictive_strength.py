"""Predictive strength, label choice and the fastText trainer, on hand-made tables."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from thresher.scorers.errors import ConfigError, InputError
from thresher.scorers.fasttext_scorer import FastTextScorer, preprocess
from thresher.scorers.predictive_strength import (
    choose_labels,
    concordant_pairs,
    loss_matrix,
    order_models,
    predictive_strength,
    train_scorer,
)
from thresher.scorers.scorer_training import POSITIVE_LABEL, TrainSettings, roc_auc, train_fasttext

SMALL = TrainSettings(dim=16, bucket=20_000, epoch=10, valid_fraction=0.25)


def losses_table(rows: dict[str, list[float]], models: list[str], column="bpc") -> pa.Table:
    """{doc id: [loss of models[0], ...]} -> long table, rows shuffled (order must not matter)."""
    long = [(i, m, v) for i, vals in rows.items() for m, v in zip(models, vals, strict=True)]
    random.Random(3).shuffle(long)
    return pa.table(
        {
            "id": [r[0] for r in long],
            "model": [r[1] for r in long],
            column: [float(r[2]) for r in long],
        }
    )


def s_of(rows: dict, benchmarks: dict, column="bpc") -> dict:
    models = order_models(benchmarks)
    # the rows list losses in benchmark-file order; S must follow the benchmark order
    table = losses_table(rows, list(benchmarks), column)
    matrix, _, _ = loss_matrix(table, pa.array(list(rows)), models)
    return dict(zip(rows, predictive_strength(matrix).round(6), strict=True))


def test_s_three_models_with_ties():
    # benchmark order: small (worst) < mid < big; losses listed as [big, small, mid]
    bench = {"big": 0.7, "small": 0.3, "mid": 0.5}
    rows = {
        "mirror": [1.0, 3.0, 2.0],  # small > mid > big: the benchmark order -> 1
        "reverse": [3.0, 1.0, 2.0],  # exactly backwards -> 0
        "tie_top": [1.0, 2.0, 2.0],  # small == mid (tie counts 0), both > big -> 2/3
        "all_equal": [2.0, 2.0, 2.0],  # no evidence at all -> 0
        "one_swap": [2.0, 3.0, 1.0],  # small > big, small > mid, mid < big -> 2/3
    }
    s = s_of(rows, bench)
    assert s == {
        "mirror": 1.0,
        "reverse": 0.0,
        "tie_top": round(2 / 3, 6),
        "all_equal": 0.0,
        "one_swap": round(2 / 3, 6),
    }
    assert s_of(rows, bench, "nll_sum") == s  # summed NLL ranks the same way


def test_s_six_models():
    bench = {f"m{i}": 10.0 + i for i in range(6)}  # m0 worst ... m5 best
    rows = {
        "mirror": [6, 5, 4, 3, 2, 1],
        "reverse": [1, 2, 3, 4, 5, 6],
        "adjacent_swap": [6, 5, 3, 4, 2, 1],  # one discordant pair of 15
        "tied_pair": [6, 5, 5, 3, 2, 1],  # one tied pair of 15
        "two_ties": [6, 6, 4, 4, 2, 2],  # three tied pairs
    }
    s = s_of(rows, bench)
    assert s["mirror"] == 1.0 and s["reverse"] == 0.0
    assert s["adjacent_swap"] == round(14 / 15, 6)
    assert s["tied_pair"] == round(14 / 15, 6)
    assert s["two_ties"] == round(12 / 15, 6)
    m = np.array([[6, 5, 4, 3, 2, 1]], dtype=float)
    assert concordant_pairs(m).tolist() == [15]


def test_benchmarks_must_order_strictly():
    with pytest.raises(ConfigError, match="same benchmark score"):
        order_models({"a": 0.1, "b": 0.2, "c": 0.2})
    with pytest.raises(ConfigError, match="at least 3"):
        order_models({"a": 0.1, "b": 0.2})


def test_loss_table_errors():
    models = ["a", "b", "c"]
    table = losses_table({"d1": [3, 2, 1], "d2": [1, 2, 3]}, models)
    with pytest.raises(InputError, match=r"model.*zz.*no benchmark score"):
        loss_matrix(losses_table({"d1": [1, 2, 3]}, ["a", "b", "zz"]), pa.array(["d1"]), models)
    with pytest.raises(
        InputError, match=r"1 document\(s\) have no bpc for model 'a' \(e.g. id 'd3'\)"
    ):
        loss_matrix(table, pa.array(["d1", "d2", "d3"]), models)
    _, _, extra = loss_matrix(table, pa.array(["d1"]), models)
    assert extra == 3  # d2's rows: counted, not an error


def test_labels_positives_and_negatives():
    ids = [f"d{i}" for i in range(10)]
    conc = np.array([3, 3, 2, 0, 1, 3, 0, 2, 1, 0])  # N=3: 3 pairs, so 3 means S = 1
    pos, neg, rule = choose_labels(ids, conc, 3)
    assert rule == "S = 1" and pos.tolist() == [0, 1, 5]
    assert sorted(conc[neg].tolist()) == [0, 0, 0] and set(neg) == {3, 6, 9}
    pos, neg, rule = choose_labels(ids, conc, 3, positive_fraction=0.5)
    assert len(pos) == 5 and set(pos) >= {0, 1, 5} and set(conc[pos]) <= {2, 3}
    assert len(neg) == 5 and set(conc[neg]) <= {0, 1} and not set(pos) & set(neg)
    pos, neg, _ = choose_labels(ids, conc, 3, negatives="random")
    assert pos.tolist() == [0, 1, 5] and len(neg) == 3 and not set(pos) & set(neg)
    assert choose_labels(ids, conc, 3, negatives="random", seed=0)[1].tolist() == neg.tolist()
    with pytest.raises(InputError, match=r"no document has S = 1.*--positive-fraction"):
        choose_labels(ids, np.minimum(conc, 2), 3)


def synthetic(n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    good = ["river", "mountain", "science", "history", "music", "garden", "ocean", "theory"]
    bad = ["cheap", "pills", "casino", "winner", "click", "free", "offer", "bonus"]
    common = ["the", "and", "of", "a", "to", "in"]

    def doc(words):
        lines = [
            " ".join(rng.choice(words + common) for _ in range(rng.randint(5, 15)))
            for _ in range(rng.randint(1, 4))
        ]
        return "\n".join(lines)  # newlines: the scorer must handle them like training did

    return [doc(good) for _ in range(n)], [doc(bad) for _ in range(n)]


def train_tiny_scorer(path, n: int, seed: int, epoch: int):
    """A small fastText scorer (labels __label__0/__label__1) trained on `synthetic` data,
    saved at `path`; shared by the score-stage and CLI tests."""
    pos, neg = synthetic(n, seed=seed)
    model, _ = train_fasttext(pos, neg, TrainSettings(dim=16, bucket=20_000, epoch=epoch))
    model.save_model(str(path))
    return path


def test_trained_scorer_separates_held_out(tmp_path):
    pos, neg = synthetic(150, seed=1)
    model, report = train_fasttext(pos, neg, SMALL)
    assert report["roc_auc"] == 1.0 and report["accuracy"] >= 0.95
    model.save_model(str(tmp_path / "m.bin"))
    scorer = FastTextScorer(tmp_path / "m.bin", POSITIVE_LABEL)
    held_pos, held_neg = synthetic(40, seed=99)
    s_pos, s_neg = scorer.score_batch(held_pos), scorer.score_batch(held_neg)
    assert s_pos.min() > s_neg.max()
    assert roc_auc(np.r_[np.ones(40), np.zeros(40)], np.r_[s_pos, s_neg]) == 1.0
    # preprocessing is shared: a newline scores exactly like the space it becomes
    assert scorer.score_batch(["river\nmountain"])[0] == scorer.score_batch(["river mountain"])[0]
    assert preprocess("A\nB\r\nc") == "A B  c"


def test_train_scorer_end_to_end_labels_follow_s():
    pos, neg = synthetic(60, seed=5)
    texts = pos + neg
    ids = [f"d{i:03d}" for i in range(len(texts))]
    models = ["small", "mid", "big"]
    rows = {i: ([3, 2, 1] if k < 60 else [1, 2, 3]) for k, i in enumerate(ids)}
    docs = pa.table({"id": ids, "text": texts})
    _, card, per_doc = train_scorer(
        docs, losses_table(rows, models), {"small": 1, "mid": 2, "big": 3}, SMALL
    )
    labels = per_doc.column("label").to_pylist()
    assert labels == ["positive"] * 60 + ["negative"] * 60
    assert card["positives"] == card["negatives"] == 60
    assert card["s_histogram"] == {"0.0000": 60, "0.3333": 0, "0.6667": 0, "1.0000": 60}
    assert [m["name"] for m in card["models"]] == models
    assert card["validation"]["roc_auc"] == 1.0
    assert card["hyperparameters"]["wordNgrams"] == 2 and card["hyperparameters"]["lr"] == 0.1


def test_charlm_is_a_distribution_and_scores_documents_alone():
    from thresher.scorers.charlm import CharNgramLM

    lm = CharNgramLM(order=3).fit(["abracadabra", "banana bread", "cab"])
    alphabet = [*sorted(set("abracadabrabanana breadcab")), "Z"]  # Z: the unknown symbol
    for context in ["ab", "zz", "", "b"]:  # seen, unseen and empty contexts
        total = sum(np.exp(lm.log_probs([context + c])[0][-1]) for c in alphabet)
        assert total == pytest.approx(1.0, abs=1e-9)
    # no context crosses documents: a document's loss does not depend on its neighbours
    alone = lm.doc_nll(["cab"])[0]
    assert lm.doc_nll(["banana", "cab", "zzz"])[1] == pytest.approx(alone)
    assert CharNgramLM(order=4).fit(["the cat sat"] * 20).bpc(["the cat sat"]) < CharNgramLM(
        order=1
    ).fit(["the cat sat"] * 20).bpc(["the cat sat"])
