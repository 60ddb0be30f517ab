"""Mixture inference end to end: known mixtures come back; stopping early is safe; outputs."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from thresher.flows.mixture import infer, replay_and_solve
from thresher.pipelines import pair_counts
from thresher.scorers import mixture_experiment as mx
from thresher.scorers.bpe_tokenizers import load_merges
from thresher.scorers.mixture_lp import SolveOptions, solve

# Three synthetic "languages": Zipf-distributed words over overlapping syllable sets.
SYLLABLES = [
    ["ka", "to", "ri", "mu", "ne", "sa", "lo"],
    ["sch", "ei", "en", "ung", "ber", "ach"],
    ["ou", "re", "le", "qu", "ai", "on", "sa"],
    # Never in the `three` tokenizer's training text: two categories inference is offered
    # anyway, and one that only the `extra` tokenizer saw (inference is never offered it).
    ["zh", "ang", "xi", "ong", "qi", "uan"],
    ["th", "ee", "wh", "ay", "ck", "oo"],
    ["pl", "ix", "uz", "ov", "ek", "ja", "sa"],
]


def make_text(cat: int, n_words: int, seed: int) -> str:
    rng = random.Random(cat * 1000 + 7)
    vocab = [
        "".join(rng.choice(SYLLABLES[cat]) for _ in range(rng.randint(1, 4))) for _ in range(400)
    ]
    weights = [1 / (r + 1) for r in range(len(vocab))]
    draw = random.Random(seed)
    words = draw.choices(vocab, weights, k=n_words)
    return "\n".join(" ".join(words[i : i + 12]) for i in range(0, len(words), 12))


def write_category(path, text: str):
    lines = text.split("\n")
    path.write_text(
        "".join(
            json.dumps({"text": "\n".join(lines[i : i + 20])}) + "\n"
            for i in range(0, len(lines), 20)
        )
    )
    return path


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """A tokenizer trained on a known 3-way mixture; disjoint count samples per category."""
    d = tmp_path_factory.mktemp("mix")
    weights = np.array([0.5, 0.3, 0.2])
    train = [make_text(i, int(60_000 * w), seed=1) for i, w in enumerate(weights)]
    mx.train_byte_level_bpe(train, 1200, d / "tokenizer.json")
    truth = np.array([mx.nbytes([t]) for t in train], dtype=float)
    cats = [
        f"c{i}={write_category(d / f'c{i}.jsonl', make_text(i, 40_000, seed=2))}" for i in range(3)
    ]
    return d, cats, truth / truth.sum(), train


def test_three_categories_recovered(three):
    d, cats, truth, _ = three
    s = infer(str(d / "tokenizer.json"), cats, d / "out", merges=30000)
    est = np.array([s["proportions"][f"c{i}"] for i in range(3)])
    assert np.abs(est - truth).max() < 0.02, (est, truth)
    assert abs(est.sum() - 1) < 1e-9 and s["stop_reason"] in ("settled", "stable", "converged")
    assert (d / "out" / "mixture.parquet").exists()


def test_exact_counts_give_exact_proportions(three, tmp_path):
    """Counting the training text itself: the true mixture satisfies (almost) every constraint;
    only the few pretokens split differently at document boundaries keep it from exactness."""
    d, _, truth, train = three
    cats = [f"t{i}={write_category(tmp_path / f't{i}.jsonl', t)}" for i, t in enumerate(train)]
    s = infer(
        str(d / "tokenizer.json"), cats, tmp_path / "out", options=SolveOptions(stop="converged")
    )
    est = np.array([s["proportions"][f"t{i}"] for i in range(3)])
    assert np.abs(est - truth).max() < 1e-4, (est, truth, s["objective"])


@pytest.fixture(scope="module")
def replays3(three):
    """The three count samples replayed through every merge: (replays, sample bytes)."""
    d, cats, _, _ = three
    spec = load_merges(str(d / "tokenizer.json"))
    got = pair_counts.count_pretokens(
        spec, pair_counts.parse_categories(cats), d / "out" / "pretoken-cache"
    )
    tables = [got[f"c{i}"][0] for i in range(3)]
    metas = [got[f"c{i}"][1] for i in range(3)]
    replays = pair_counts.replay_categories(spec, tables, len(spec.merges), workers=1)
    return replays, pair_counts.sample_bytes(metas)


@pytest.fixture(scope="module")
def converged(replays3):
    """The full LP's optimum: rounds until no constraint is violated, no row ever dropped."""
    res = solve(*replays3, options=SolveOptions(stop="converged", per_round=200, drop_after=0))
    assert res.stop_reason == "converged" and res.rows_dropped == 0
    return res


def test_stopping_early_matches_convergence(replays3, converged):
    early = solve(*replays3, options=SolveOptions(stop="stable", per_round=200))
    assert early.rounds < converged.rounds
    assert np.abs(early.proportions - converged.proportions).max() < 2 * SolveOptions().alpha_tol
    # The reported bounds bracket the full optimum.
    assert early.objective <= converged.objective + 1e-6 <= early.upper_bound + 1e-3


def test_settled_stop_is_close_and_certified(replays3, converged):
    """The window-mean rule answers with a mean of LP iterates: its certified upper bound
    (re-computed at that mean) and the LP's lower bound still bracket the full optimum, and
    a gap stop at 0.5 reports a gap of at most 0.5."""
    settled = solve(*replays3, options=SolveOptions(stop="settled", per_round=200))
    assert settled.stop_reason == "settled" and abs(settled.proportions.sum() - 1) < 1e-9
    assert np.abs(settled.proportions - converged.proportions).max() < 4 * SolveOptions().alpha_tol
    assert settled.objective <= converged.objective + 1e-6 <= settled.upper_bound + 1e-3
    gap = solve(*replays3, options=SolveOptions(stop="converged", gap_tol=0.5, per_round=200))
    assert gap.stop_reason in ("gap", "converged") and gap.gap <= 0.5
    assert gap.objective <= converged.objective + 1e-6 <= gap.upper_bound + 1e-3


def test_relative_tolerance_stop_is_bounded(replays3, converged):
    """Stopping once no constraint is violated by more than 1% of its merge's count: the
    violation left is reported (and below the tolerance), and the answer stays close."""
    loose = solve(*replays3, options=SolveOptions(stop="converged", rel_tol=0.01, per_round=200))
    assert loose.stop_reason == "converged"
    assert loose.max_rel_violation <= 0.01 + 1e-9 and converged.max_rel_violation < 1e-6
    assert np.abs(loose.proportions - converged.proportions).max() < 2 * SolveOptions().alpha_tol


def test_dropping_slack_rows_keeps_the_optimum(replays3, converged):
    """Deleting rows that stayed slack (to keep the LP small) must not change the optimum."""
    dropping = solve(*replays3, options=SolveOptions(stop="converged", per_round=200, drop_after=1))
    assert dropping.stop_reason == "converged" and dropping.rows_dropped > 0
    assert abs(dropping.objective - converged.objective) <= 1e-6 * max(1.0, converged.objective)
    assert np.abs(dropping.proportions - converged.proportions).max() < 1e-4


def test_two_category_experiment_cli_and_query(cli, tmp_path):
    for i in range(2):
        write_category(tmp_path / f"s{i}.jsonl", make_text(i, 50_000, seed=3))
    code, out, err = cli(
        "mixture",
        "experiment",
        "--category",
        f"a={tmp_path / 's0.jsonl'}",
        "--category",
        f"b={tmp_path / 's1.jsonl'}",
        "--trials",
        "2",
        "--vocab",
        "800",
        "--out",
        tmp_path / "exp",
    )
    assert code == 0, err
    report = json.loads((tmp_path / "exp" / "experiment.json").read_text())
    assert len(report["rows"]) == 2 and "random guessing" in out
    assert all(r["max_abs_error"] < 0.03 for r in report["rows"]), report["rows"]
    code, out, err = cli(
        "query",
        "--out",
        tmp_path / "exp",
        "--format",
        "json",
        "SELECT mixture, category, proportion, truth FROM mixtures ORDER BY ALL",
    )
    assert code == 0, err
    rows = json.loads(out)
    assert len(rows) == 4 and all(abs(r["proportion"] - r["truth"]) < 0.03 for r in rows)


def test_mixture_flow(prefect_api, three, tmp_path):
    from thresher.flows.mixture import mixture

    d, cats, _truth, _ = three
    s = mixture(
        str(d / "tokenizer.json"),
        cats,
        str(tmp_path / "mixtures" / "m"),
        merges=500,
        cache_dir=str(d / "out" / "pretoken-cache"),
    )
    assert s["merges_used"] == 500 and set(s["proportions"]) == {"c0", "c1", "c2"}
    assert json.loads((tmp_path / "mixtures" / "m" / "mixture.json").read_text())["rounds"] >= 1


def test_replay_and_solve_reports_timings(three):
    d, cats, _, _ = three
    spec = load_merges(str(d / "tokenizer.json"))
    got = pair_counts.count_pretokens(
        spec, pair_counts.parse_categories(cats), d / "out" / "pretoken-cache"
    )
    res, timings = replay_and_solve(
        spec,
        [got[f"c{i}"][0] for i in range(3)],
        [got[f"c{i}"][1] for i in range(3)],
        100,
        SolveOptions(),
    )
    assert set(timings) == {"replay", "solve", "events"} and res.constraints > 0


def test_categories_absent_from_training_get_near_zero(three, tmp_path):
    """Two categories the tokenizer never saw are offered next to the three it did: each gets
    under 1%, and the three keep their shares."""
    d, cats, truth, _ = three
    unseen = [
        f"u{i}={write_category(tmp_path / f'u{i}.jsonl', make_text(i, 40_000, seed=2))}"
        for i in (3, 4)
    ]
    s = infer(str(d / "tokenizer.json"), cats + unseen, tmp_path / "out", merges=30000)
    assert s["proportions"]["u3"] < 0.01 and s["proportions"]["u4"] < 0.01, s["proportions"]
    est = np.array([s["proportions"][f"c{i}"] for i in range(3)])
    assert np.abs(est - truth).max() < 0.03, (est, truth)
    assert s["stop_reason"] in ("settled", "stable", "converged", "gap")


@pytest.fixture(scope="module")
def extra(tmp_path_factory):
    """A real-shaped merge list: the tokenizer also saw 25% of text from a category that
    inference is not offered, so some merges are explained by no category."""
    d = tmp_path_factory.mktemp("extra")
    weights = np.array([0.4, 0.2, 0.15, 0.25])
    train = [
        make_text(i, int(60_000 * w), seed=1) for i, w in zip((0, 1, 2, 5), weights, strict=True)
    ]
    mx.train_byte_level_bpe(train, 1200, d / "tokenizer.json")
    nb = np.array([mx.nbytes([t]) for t in train], dtype=float)[:3]
    cats = [
        f"c{i}={write_category(d / f'c{i}.jsonl', make_text(i, 40_000, seed=2))}" for i in range(3)
    ]
    return d, cats, nb / nb.sum()


def test_unexplained_merges_converge_and_are_reported(extra):
    """The stopping rule (not a round or time limit) ends the solve within 60 rounds; the
    answer says how many merges no category explains and what slack they take; the offered
    categories keep their relative shares."""
    d, cats, truth = extra
    s = infer(str(d / "tokenizer.json"), cats, d / "out", merges=30000)
    assert s["stop_reason"] in ("settled", "stable", "converged", "gap") and s["rounds"] <= 60, s
    u = s["unexplained"]
    assert 0 < u["steps"] < s["merges_used"] and 0 < u["share"] < 1
    assert u["slack_share"] >= 0 and s["upper_bound"] >= s["objective"]
    est = np.array([s["proportions"][f"c{i}"] for i in range(3)])
    assert np.abs(est - truth).max() < 0.05, (est, truth)
