"""The compiled LID predict (scorers.lid_kernel) gives fastText's own answers, bit for bit:
on the shipped lid.176, and on small models trained here in each form the kernel reads
(dense, quantized with pruned buckets and quantized norms); other models are left to
fastText."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import fasttext
import numpy as np
import pytest

from thresher.scorers.lid import LanguageIdentifier, shipped_model_path
from thresher.scorers.lid_kernel import Kernel
from thresher.scorers.scorer_training import _train_with_retry

ALPHABETS = {
    "en": "the quick brown fox jumps over lazy dog and then some",
    "de": "der schnelle braune fuchs springt über den faulen hund ß",
    "fr": "le renard brun rapide saute par dessus le chien paresseux é è à",
    "ru": "быстрая коричневая лиса прыгает через ленивую собаку",
    "el": "η γρήγορη καφέ αλεπού πηδά πάνω από τον τεμπέλη σκύλο",
    "ja": "すばやい茶色の狐がのろまな犬を飛び越える",
    "zh": "敏捷的棕色狐狸跳过了懒狗",
    "ar": "الثعلب البني السريع يقفز فوق الكلب الكسول",
    "hi": "तेज भूरी लोमड़ी आलसी कुत्ते के ऊपर कूदती है",
    "ko": "빠른 갈색 여우가 게으른 개를 뛰어넘는다",
    "tr": "hızlı kahverengi tilki tembel köpeğin üzerinden atlar ğ ş",
    "pl": "szybki brązowy lis przeskakuje nad leniwym psem ł ż",
}


def sample_text(rng: random.Random, lang: str, words: int) -> str:
    pool = ALPHABETS[lang].split()
    return " ".join(rng.choice(pool) for _ in range(words))


def awkward_texts(rng: random.Random) -> list[str]:
    """Texts that touch each corner of fastText's reader: empty, separators only, a word
    that reads as a label, the end-of-line word inside the text, control whitespace, very
    long words, 4-byte characters, mixed scripts, lone continuation bytes never occur (the
    texts are valid UTF-8)."""
    texts = ["", " ", "\t\x0b\x0c\x00", "__label__en hello world", "hello __label__xx world",
             "</s>", "a </s> b c", "x" * 3000, "ab" * 700 + " tail", "😀🚀 emoji 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
             "a\x00b\x0bc\x0cd\re", "i", "é", "  leading and trailing  "]  # fmt: skip
    langs = sorted(ALPHABETS)
    for _ in range(300):
        parts = [sample_text(rng, rng.choice(langs), rng.randint(0, 12)) for _ in range(3)]
        texts.append(rng.choice([" ", "", "  ", "\t"]).join(parts))
    return texts


def fasttext_answers(model, texts):
    labels, probs = model.predict(texts, k=1)
    names = list(model.labels)
    best = np.array([names.index(lab[0]) if lab else -1 for lab in labels])
    return best, np.array([p[0] if len(p) else 0.0 for p in probs], dtype=np.float64)


def assert_same_as_fasttext(path, texts):
    kernel = Kernel.load(path)
    assert kernel is not None
    want_best, want_prob = fasttext_answers(fasttext.load_model(str(path)), texts)
    best, prob = kernel.predict(texts)
    np.testing.assert_array_equal(best, want_best)
    np.testing.assert_array_equal(prob.astype(np.float64), want_prob)  # bit for bit
    two_best, two_prob = kernel.predict(texts, threads=3)
    np.testing.assert_array_equal(two_best, best)
    np.testing.assert_array_equal(two_prob, prob)


def test_the_shipped_lid_model_answers_as_fasttext():
    rng = random.Random(1)
    assert_same_as_fasttext(shipped_model_path(), awkward_texts(rng))


def train(tmp_path, name: str, **options) -> fasttext.FastText._FastText:
    rng = random.Random(7)
    lines = [
        f"__label__{lang} {sample_text(rng, lang, rng.randint(3, 15))}"
        for _ in range(40)
        for lang in sorted(ALPHABETS)
    ]
    data = tmp_path / f"{name}.txt"
    data.write_text("\n".join(lines) + "\n")
    settings = {"loss": "hs", "minn": 2, "maxn": 4, "dim": 8, "epoch": 3, "bucket": 5000,
                "minCount": 5, "thread": 1, "seed": 1} | options  # fmt: skip
    # this fastText build stops on "Encountered NaN" at random: retried in fresh processes
    return _train_with_retry(fasttext, str(data), settings, attempts=12), data


def test_trained_models_dense_and_quantized_answer_as_fasttext(tmp_path):
    model, data = train(tmp_path, "lid")
    texts = awkward_texts(random.Random(2))
    model.save_model(str(tmp_path / "lid.bin"))
    assert_same_as_fasttext(tmp_path / "lid.bin", texts)
    # quantized: product-quantized rows, norms quantized apart, buckets pruned to 1,000 rows
    model.quantize(input=str(data), qnorm=True, cutoff=1000, retrain=False)
    model.save_model(str(tmp_path / "lid.ftz"))
    assert_same_as_fasttext(tmp_path / "lid.ftz", texts)


@pytest.mark.parametrize("options", [{"loss": "softmax"}, {"wordNgrams": 2}])
def test_models_the_kernel_does_not_cover_run_on_fasttext(tmp_path, options):
    model, _ = train(tmp_path, "other", **options)
    path = tmp_path / "other.bin"
    model.save_model(str(path))
    assert Kernel.load(path) is None
    identifier = LanguageIdentifier(str(path), processes=1)
    try:
        texts = awkward_texts(random.Random(3))[14:60]
        langs, _ = identifier.predict(texts)
        want_best, _ = fasttext_answers(model, texts)
        assert langs == [model.labels[i][len("__label__") :] for i in want_best]
    finally:
        identifier.close()


def test_language_id_works_where_numba_cannot_cache():
    # no writable cache place (a read-only install and home): compiled per process instead
    env = os.environ | {"NUMBA_CACHE_LOCATOR_CLASSES": "IPythonCacheLocator"}
    code = (
        "from thresher.scorers.lid import LanguageIdentifier; "
        "print(LanguageIdentifier().predict(['Der Hund schläft im Garten.'])[0])"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "['de']"


def test_a_truncated_lid_model_is_one_line_that_says_so(tmp_path):
    from thresher.scorers.errors import InputError

    cut = tmp_path / "lid.176.ftz"
    cut.write_bytes(shipped_model_path().read_bytes()[:300_000])  # header fine, body cut
    assert Kernel.load(cut) is None
    with pytest.raises(InputError, match="truncated or damaged") as err:
        LanguageIdentifier(str(cut))
    assert "\n" not in str(err.value)
