"""Merge replay: incremental pair counts equal a brute-force recount after every step."""

from __future__ import annotations

from collections import Counter

import numpy as np
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from thresher.scorers.bpe_tokenizers import BYTE_CHARS, BPESpec
from thresher.scorers.merge_replay import SymbolTable, pair_counts, replay, replay_pretokens

CORPUS = (
    "aaaa abab aaa banana bandana abba the then there their other mother "
    "12121 1111 ab ab ab zzzz zz z\n"
) * 3


def naive_apply(words, a, b, z):
    """Textbook BPE merge of one pair, left to right, on fresh lists."""
    out = []
    for w in words:
        new, i = [], 0
        while i < len(w):
            if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                new.append(z)
                i += 2
            else:
                new.append(w[i])
                i += 1
        out.append(new)
    return out


def check_every_step(words, counts, merge_ids, v):
    r = replay([list(w) for w in words], counts, merge_ids, v)
    current = [list(w) for w in words]
    for t, (a, b, z) in enumerate(merge_ids):
        truth = pair_counts(current, counts, v)
        assert r.counts_at(t) == {k: c for k, c in truth.items() if c}, f"step {t}"
        assert r.merge_counts[t] == truth.get(a * v + b, 0), f"merge count at step {t}"
        current = naive_apply(current, a, b, z)
    final = pair_counts(current, counts, v)
    assert r.counts_at(len(merge_ids)) == {k: c for k, c in final.items() if c}
    return r


def test_replay_matches_bruteforce_on_repeats_and_overlaps():
    # symbols: a=0 b=1 c=2; merges that overlap themselves (a a), chain (aa a) and re-pair.
    words = [[0, 0, 0, 0, 0], [0, 1, 0, 1, 0, 1], [1, 0, 0, 1], [0, 0, 0], [2, 0, 1, 2]]
    counts = [3, 2, 5, 1, 4]
    merges = [(0, 0, 3), (0, 1, 4), (3, 0, 5), (4, 4, 6), (3, 3, 7), (1, 3, 8), (2, 4, 9)]
    check_every_step(words, counts, merges, v=10)


def test_replay_matches_bruteforce_with_a_trained_tokenizer():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(
        [CORPUS],
        trainers.BpeTrainer(
            vocab_size=320,
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    import json

    cfg = json.loads(tok.to_str())
    merges = [
        tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in cfg["model"]["merges"]
    ]
    spec = BPESpec(
        "hf-json",
        "-",
        merges,
        True,
        json.dumps({"normalizer": None, "pre_tokenizer": cfg["pre_tokenizer"]}),
    )
    counts = Counter(spec.pretokenize(CORPUS))
    table = SymbolTable.build(merges, spec.merged, BYTE_CHARS.values())
    ids = table.ids
    words = [[ids[s] for s in spec.initial_symbols(p)] for p in counts]
    merge_ids = [(ids[a], ids[b], ids[spec.merged(a, b)]) for a, b in merges]
    r = check_every_step(words, list(counts.values()), merge_ids, table.size)
    # The trainer picked the most frequent pair at every step: the replay must agree.
    for t in range(len(merges)):
        assert r.merge_counts[t] == max(r.counts_at(t).values())
    same = replay_pretokens(list(counts), list(counts.values()), merges, spec, table)
    assert np.array_equal(same.merge_counts, r.merge_counts)


def test_prefix_and_suffix_symbols():
    spec = BPESpec("hf-json", "-", [], False, "{}", continuing_subword_prefix="##")
    assert spec.initial_symbols("abc") == ["a", "##b", "##c"]
    assert spec.merged("a", "##b") == "ab" and spec.merged("##b", "##c") == "##bc"
    suf = BPESpec("hf-json", "-", [], False, "{}", end_of_word_suffix="</w>")
    assert suf.initial_symbols("ab") == ["a", "b</w>"]
