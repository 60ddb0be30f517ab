"""Controlled mixture experiments: known mixtures, byte-level BPE trained on them, errors.

Each category's documents are cut into chunks of whole lines (~`chunk_bytes`), shuffled with
a fixed seed and split into a training part and a disjoint counting part. Cutting below the
document level matters on small corpora: a few long documents per side would make the two
parts differ by topic, which is sampling error the method cannot remove.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from thresher.scorers.errors import ConfigError


def chunk_text(text: str, chunk_bytes: int = 1000) -> list[str]:
    """Consecutive whole lines, about `chunk_bytes` UTF-8 bytes each."""
    chunks, cur, size = [], [], 0
    for line in text.split("\n"):
        cur.append(line)
        size += len(line.encode("utf-8", "surrogatepass")) + 1
        if size >= chunk_bytes:
            chunks.append("\n".join(cur))
            cur, size = [], 0
    if cur and any(s.strip() for s in cur):
        chunks.append("\n".join(cur))
    return chunks


@dataclass
class Split:
    train: list[str]
    count: list[str]

    @staticmethod
    def of(
        texts: list[str], train_fraction: float = 0.5, seed: int = 0, chunk_bytes: int = 1000
    ) -> Split:
        chunks = [c for t in texts for c in chunk_text(t, chunk_bytes)]
        random.Random(seed).shuffle(chunks)
        k = round(len(chunks) * train_fraction)
        return Split(chunks[:k], chunks[k:])


def nbytes(texts: list[str]) -> int:
    return sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)


def head_bytes(texts: list[str], limit: int) -> list[str]:
    """The first texts, taken while fewer than `limit` bytes are taken (so the last one
    taken may pass the limit)."""
    keep, taken = [], 0
    for t in texts:
        if taken >= limit:
            break
        keep.append(t)
        taken += len(t.encode("utf-8", "surrogatepass"))
    return keep


def sample_weights(n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform on the simplex (Dirichlet(1, ..., 1))."""
    return rng.dirichlet(np.ones(n))


def draw_training_text(train: list[list[str]], weights, budget: int, rng: np.random.Generator):
    """Chunks drawn without replacement so category i supplies ~weights[i] of the bytes.

    The byte budget shrinks when a category's training part cannot cover its share (no text
    is repeated). Returns (texts, realised bytes per category); the realised byte shares are
    the experiment's ground truth."""
    avail = np.array([nbytes(t) for t in train], dtype=float)
    w = np.asarray(weights, dtype=float)
    budget = min(budget, float(np.min(np.where(w > 0, avail / np.maximum(w, 1e-300), np.inf))))
    texts, got = [], []
    for part, wi in zip(train, w, strict=True):
        want, b = wi * budget, 0
        for j in rng.permutation(len(part)):
            if b >= want:
                break
            texts.append(part[j])
            b += len(part[j].encode("utf-8", "surrogatepass"))
        got.append(b)
    order = rng.permutation(len(texts))  # interleave categories, as a real corpus would be
    return [texts[j] for j in order], np.array(got, dtype=np.int64)


def train_byte_level_bpe(texts: list[str], vocab_size: int, path) -> None:
    """HF `tokenizers` byte-level BPE (GPT-2 regex), saved as tokenizer.json."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    if vocab_size <= 256:
        raise ConfigError(f"--vocab {vocab_size} must exceed the 256 byte symbols")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer)
    tok.save(str(path))


def log10_mse(truth, estimate) -> float:
    err = np.mean((np.asarray(truth) - np.asarray(estimate)) ** 2)
    return float(np.log10(max(err, 1e-300)))


def random_guess_log10_mse(n: int) -> float:
    """Expected MSE of a uniform-simplex guess against a uniform-simplex truth:
    2 Var(Dirichlet(1)_i) = 2 (n - 1) / (n^2 (n + 1))."""
    return float(np.log10(2 * (n - 1) / (n * n * (n + 1))))
