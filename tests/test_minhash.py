"""MinHash building blocks: shingles, signatures, bands, components (pure numpy, fast)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from datasketch import MinHash
from datasketch.lsh import _optimal_param

from thresher.scorers import minhash
from thresher.scorers.components import anchor_clusters, connected_components
from thresher.scorers.minhash import ShingleSpec, jaccard, shingle_hashes, signatures
from thresher.scorers.textnorm import make_normalizer

RNG = random.Random(7)
LATIN = "abcdefghijklmnopqrstuvwxyzéèàüöß"


def words(n, alphabet=LATIN):
    return ["".join(RNG.choice(alphabet) for _ in range(RNG.randint(1, 7))) for _ in range(n)]


def doc_sets(texts, spec=None):
    h, off = shingle_hashes(texts, spec or ShingleSpec())
    return [h[off[i] : off[i + 1]] for i in range(len(texts))]


def reference_shingles(text, n=5):
    """Plain-Python shingles over textnorm's hashing normaliser (no CJK in the text)."""
    norm = make_normalizer(strip_punctuation=True, normalize_digits=True, remove_accents=True)
    toks = norm(text).split()
    if len(toks) < n:
        return {tuple(toks)} if toks else set()
    return {tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)}


def test_vectorised_shingles_agree_with_plain_python_reference():
    for _ in range(30):
        base = words(RNG.randint(1, 60))
        other = list(base)
        for _ in range(RNG.randint(0, 6)):
            other[RNG.randrange(len(other))] = RNG.choice(["Foo,", "BAR!", "1999", "Crème"])
        a = " ".join(base) + " ..."
        b = "  ".join(other).upper()
        ref_a, ref_b = reference_shingles(a), reference_shingles(b)
        sa, sb = doc_sets([a, b])
        assert len(np.unique(sa)) == len(ref_a)
        expected = len(ref_a & ref_b) / len(ref_a | ref_b)
        assert jaccard(sa, sb) == pytest.approx(expected)


def test_normaliser_defaults_fold_case_punctuation_digits_accents_spacing():
    a, b = doc_sets(["Crème brûlée, 1999 edition!  Best", "creme BRULEE 2024 edition best"])
    assert np.array_equal(a, b)


def test_cjk_text_without_spaces_is_shingled_per_character():
    han = [chr(c) for c in range(0x4E00, 0x4E00 + 2000)]
    zh = [RNG.choice(han) for _ in range(300)]
    edited = list(zh)
    edited[150] = "字"
    ja = "これは日本語のテストです。カタカナも含みます" * 3
    sets = doc_sets(["".join(zh), "".join(edited), ja, ja.replace("テスト", "試験")])
    assert len(sets[0]) == 300 - 4  # one shingle per 5 consecutive characters
    assert jaccard(sets[0], sets[1]) > 0.95  # a single edit breaks only 5 shingles
    assert 0.5 < jaccard(sets[2], sets[3]) < 1


def test_char_unit_collapses_whitespace_and_keeps_documents_apart():
    spec = ShingleSpec(ngram=3, unit="char")
    a, b, c, empty = doc_sets(["ab  cd", " ab\tcd\n", "abcd", "..."], spec)
    assert np.array_equal(a, b)
    assert len(a) == 3 and len(c) == 2 and len(empty) == 0


def test_signature_rows_match_datasketch_affine32_bit_for_bit():
    import datasketch

    assert datasketch.__version__.startswith("2.0"), "hash scheme pinned to datasketch 2.0.x"
    texts = [" ".join(words(80)) for _ in range(5)] + ["", "solo"]
    h, off = shingle_hashes(texts, ShingleSpec())
    sig = signatures(h, off, num_perm=64, seed=3, chunk=50)  # small chunks: many slices
    for i in range(len(texts)):
        m = MinHash(num_perm=64, seed=3, scheme="affine32", hashfunc=lambda x: x)
        m.update_batch([int(v) & 0xFFFFFFFF for v in h[off[i] : off[i + 1]]])
        assert np.array_equal(sig[i], m.hashvalues)
    assert (sig[5] == minhash.MAX_HASH).all()


def test_signature_of_a_document_does_not_depend_on_its_batch():
    texts = [" ".join(words(50)) for _ in range(6)]
    together = signatures(*shingle_hashes(texts, ShingleSpec()))
    alone = np.vstack([signatures(*shingle_hashes([t], ShingleSpec())) for t in texts[::-1]])
    assert np.array_equal(together, alone[::-1])


@pytest.mark.parametrize("num_perm", [128, 256])
def test_estimated_jaccard_tracks_exact_jaccard(num_perm):
    base = words(400)
    texts, errors = [], []
    for rate in np.linspace(0.0, 0.2, 21):
        copy = list(base)
        for i in RNG.sample(range(len(copy)), int(rate * len(copy))):
            copy[i] = "x" + copy[i]
        texts.append(" ".join(copy))
    sets = doc_sets([" ".join(base), *texts])
    sig = signatures(*shingle_hashes([" ".join(base), *texts], ShingleSpec()), num_perm=num_perm)
    for i in range(1, len(sets)):
        exact = jaccard(sets[0], sets[i])
        est = minhash.estimated_jaccard(sig[0], sig[i : i + 1])[0]
        sd = max(np.sqrt(exact * (1 - exact) / num_perm), 1 / num_perm)
        assert abs(est - exact) <= 4 * sd, (exact, est)
        errors.append(est - exact)
    assert abs(np.mean(errors)) < 0.02  # unbiased


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.8, 0.9])
def test_band_choice_matches_s_curve_optimum(threshold):
    for fp in (0.5, 0.1):
        assert minhash.optimal_bands(threshold, 128, fp, 1 - fp) == _optimal_param(
            threshold, 128, fp, 1 - fp
        )


def test_default_bands_favour_recall_above_the_threshold():
    from thresher.pipelines.near_dedup import NearDedupConfig

    b, r = NearDedupConfig().band_rows()
    assert b * r <= 128
    assert minhash.s_curve(0.85, b, r) >= 0.95  # candidates: verification handles precision
    assert minhash.s_curve(0.5, b, r) < 0.05


def test_band_keys_equal_exactly_when_band_rows_equal():
    sig = np.arange(40, dtype=np.uint32).reshape(2, 20)
    sig[1, :5] = sig[0, :5]
    keys = minhash.band_keys(sig, bands=4, rows=5)
    assert keys[0, 0] == keys[1, 0]
    assert (keys[0, 1:] != keys[1, 1:]).all()
    same_values = np.zeros((1, 20), np.uint32)
    assert len(set(minhash.band_keys(same_values, 4, 5)[0].tolist())) == 4  # band index mixed in


def test_components_are_named_by_smallest_id_whatever_the_edge_order():
    edges = [("d", "e"), ("b", "a"), ("c", "b"), ("x", "y")]
    for _ in range(5):
        RNG.shuffle(edges)
        src, dst = zip(*[(b, a) if RNG.random() < 0.5 else (a, b) for a, b in edges], strict=True)
        nodes, comp = connected_components(list(src), list(dst))
        assert dict(zip(nodes.tolist(), comp.tolist(), strict=True)) == {
            "a": "a",
            "b": "a",
            "c": "a",
            "d": "d",
            "e": "d",
            "x": "x",
            "y": "x",
        }


def test_anchor_verification_splits_weak_chains():
    # 0~1~2~3 each 0.9 to the next, but 0 and 3 share little: two clusters, not one
    sims = np.array(
        [[1, 0.9, 0.82, 0.3], [0.9, 1, 0.9, 0.6], [0.82, 0.9, 1, 0.9], [0.3, 0.6, 0.9, 1]]
    )
    anchor, sim = anchor_clusters(4, lambda a, rest: sims[a, rest], 0.8)
    assert anchor.tolist() == [0, 0, 0, -1]
    assert sim.tolist() == [1.0, 0.9, 0.82, 0.0]
