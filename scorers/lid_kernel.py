"""fastText's top-label predict for language-ID models, compiled with numba: the same labels
and the same probabilities, bit for bit, ~5x faster on one core, and on every core at once.

Why: the LID stage's time is all fastText `predict` (hashing each word's character n-grams
and adding their rows), which holds the GIL, so several cores need forked helpers
(scorers.predict_pool). Here the model file is read once into flat arrays (the quantized
input matrix decoded to dense rows, the pruned bucket index as a dense lookup table), and
one compiled loop does per document what fastText does: split at its whitespace bytes, look
each word up, add the rows of its n-grams (FNV-1a hashes of 2-4 characters of "<word>"),
average, and walk the hierarchical-softmax tree for the best label. It releases the GIL, so
threads run it on every core. Float operations follow fastText's order and precision
(float32 sums, `expf`, log of p + 1e-5), which the tests check against fastText itself.

Covered: supervised models with a hierarchical-softmax output, word n-grams off, quantized
(.ftz, lid.176) or not; `Kernel.load` returns None for any other model (the caller then
uses fastText's own predict).
"""

from __future__ import annotations

import struct
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

_MAGIC, _VERSION = 793712314, 12
_LOSS_HS, _MODEL_SUPERVISED = 1, 3
_KSUB = 256  # centroids per product-quantizer subspace
# the header: magic, version, then these int32 arguments (a double, t, follows)
_ARGS = ("dim", "ws", "epoch", "min_count", "neg", "word_ngrams", "loss", "model", "bucket",
         "minn", "maxn", "lr_update_rate")  # fmt: skip
_HEADER_BYTES = 4 * (2 + len(_ARGS))
EOS = "</s>"
_LABEL = b"__label__"  # fastText's default label prefix (not saved in the model file)
_LABEL_BYTES = np.frombuffer(_LABEL, dtype=np.uint8)


def _covered(data: bytes) -> dict | None:
    """The model's arguments (from its header) if it is one the kernel covers, else None."""
    magic, version, *values = struct.unpack_from(f"<{_HEADER_BYTES // 4}i", data)
    args = dict(zip(_ARGS, values, strict=True))
    covered = (magic, version, args["loss"], args["model"]) == (
        _MAGIC, _VERSION, _LOSS_HS, _MODEL_SUPERVISED
    ) and args["word_ngrams"] <= 1  # fmt: skip
    return args if covered else None


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def take(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def array(self, dtype, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.at)
        self.at += out.nbytes
        return out

    def word(self) -> bytes:
        end = self.data.index(b"\0", self.at)
        out, self.at = self.data[self.at : end], end + 1
        return out

    def matrix(self, quantized: bool) -> np.ndarray:
        """A fastText matrix as dense float32 rows (a quantized one decoded)."""
        if not quantized:
            m, n = self.take("qq")
            return self.array(np.float32, m * n).reshape(m, n)
        qnorm = self.take("?")
        m, n = self.take("qq")
        codes = self.array(np.uint8, self.take("i"))
        dim, nsubq, dsub, lastdsub = self.take("iiii")
        centroids = self.array(np.float32, dim * _KSUB)
        norm = np.ones(m, dtype=np.float32)
        if qnorm:  # each row's norm, quantized apart (one subspace of width 1)
            norm_codes = self.array(np.uint8, m)
            self.take("iiii")
            norm = self.array(np.float32, _KSUB)[norm_codes]
        codes = codes.reshape(m, nsubq)
        out = np.empty((m, n), dtype=np.float32)
        for q in range(nsubq):
            width = lastdsub if q == nsubq - 1 else dsub
            table = centroids[q * _KSUB * dsub : q * _KSUB * dsub + _KSUB * width]
            # fastText adds norm * centroid, rounded to float32, to the sum: the same row
            out[:, q * dsub : q * dsub + width] = (
                table.reshape(_KSUB, width)[codes[:, q]] * norm[:, None]
            )
        return out


class Kernel:
    """A loaded model's arrays; `predict(texts)` -> (label index per text, -1 if none;
    probability as fastText reports it, exp(log(p + 1e-5)))."""

    @classmethod
    def load(cls, path) -> Kernel | None:
        """The kernel of the model file at `path`, or None if it is not one this covers (or
        no model at all: fastText then says so). Only the header is read for a model of
        another kind, which may be large (GlotLID: 1.6 GB)."""
        try:
            with open(path, "rb") as f:
                if _covered(f.read(_HEADER_BYTES)):
                    f.seek(0)
                    return cls(f.read())
        except (OSError, ValueError, struct.error, IndexError):
            pass
        return None

    def __init__(self, data: bytes):
        args = _covered(data)
        if args is None:
            raise ValueError("not a hierarchical-softmax fastText classifier without word n-grams")
        r = _Reader(data)
        r.at = _HEADER_BYTES
        r.take("d")  # the sampling threshold t, last of the arguments
        dim, bucket, minn, maxn = args["dim"], args["bucket"], args["minn"], args["maxn"]
        size, nwords, nlabels = r.take("iii")
        _ntokens, prune_size = r.take("qq")
        entries = [(r.word(), r.take("q"), r.take("b")) for _ in range(size)]
        prune = r.array(np.int32, 2 * max(prune_size, 0)).reshape(-1, 2)
        quantized = r.take("?")
        rows = r.matrix(quantized)
        quantized_out = r.take("?")
        out = r.matrix(quantized and quantized_out)  # output rows: one per inner tree node
        if rows.shape[1] != dim or out.shape != (nlabels, dim) or r.at != len(data):
            raise ValueError("unexpected matrix shapes")
        # fastText keeps its words first: a word's id is its input row, then the buckets'
        if [t for _, _, t in entries] != [0] * nwords + [1] * nlabels:
            raise ValueError("dictionary not ordered words, then labels")
        self.labels = [w.decode("utf-8") for w, _, _ in entries[nwords:]]
        words = [w for w, _, _ in entries[:nwords]]
        # bucket -> row (or -1: pruned); no index at all means every bucket is its own row
        self.bucket_row = np.full(bucket, -1, dtype=np.int32)
        if prune_size < 0:
            self.bucket_row[:] = np.arange(bucket, dtype=np.int32) + nwords
        else:
            self.bucket_row[prune[:, 0]] = prune[:, 1] + nwords
        self.rows, self.out = np.ascontiguousarray(rows), np.ascontiguousarray(out)
        self.minn, self.maxn = minn, maxn
        self._words(words)
        self._tree([c for _, c, t in entries if t == 1])

    def _words(self, words: list[bytes]) -> None:
        """An open-addressing table of the vocabulary (FNV hash -> word id) and each word's
        precomputed rows: itself and its n-grams, as fastText's dictionary has them."""
        slots = 1 << max(4, (4 * len(words)).bit_length())
        self.word_slot = np.full(slots, -1, dtype=np.int32)
        self.word_bytes = np.frombuffer(b"".join(words), dtype=np.uint8)
        self.word_start = np.cumsum([0] + [len(w) for w in words]).astype(np.int64)
        subwords: list[int] = []
        self.sub_start = np.zeros(len(words) + 1, dtype=np.int64)
        for i, w in enumerate(words):
            s = _fnv(np.frombuffer(w, dtype=np.uint8), 0, len(w)) & (slots - 1)
            if w.startswith(_LABEL):  # fastText never looks such a word up (a label)
                raise ValueError("a word that reads as a label")
            while self.word_slot[s] >= 0:
                s = (s + 1) & (slots - 1)
            self.word_slot[s] = i
            subwords.append(i)
            if w != EOS.encode():
                b = np.frombuffer(b"<" + w + b">", dtype=np.uint8)
                subwords += _ngram_rows(b, self.minn, self.maxn, self.bucket_row)
            self.sub_start[i + 1] = len(subwords)
        self.subwords = np.array(subwords, dtype=np.int32)
        eos = np.frombuffer(EOS.encode(), dtype=np.uint8)
        self.eos = _find(eos, 0, len(eos), self.word_slot, self.word_bytes, self.word_start)

    def _tree(self, counts: list[int]) -> None:
        """fastText's Huffman tree over the label counts (labels sorted by count, falling),
        with its tie-breaking: a leaf is taken only when strictly rarer than the next node."""
        osz = len(counts)
        count = np.full(2 * osz - 1, 10**15, dtype=np.int64)
        count[:osz] = counts
        left = np.full(2 * osz - 1, -1, dtype=np.int32)
        right = np.full(2 * osz - 1, -1, dtype=np.int32)
        leaf, node = osz - 1, osz
        for i in range(osz, 2 * osz - 1):
            pick = []
            for _ in range(2):
                if leaf >= 0 and count[leaf] < count[node]:
                    pick.append(leaf)
                    leaf -= 1
                else:
                    pick.append(node)
                    node += 1
            left[i], right[i] = pick
            count[i] = count[pick[0]] + count[pick[1]]
        self.left, self.right, self.osz = left, right, osz

    def predict(self, texts: list[str], threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Per text (newlines already made spaces): the best label's index (-1: none) and
        its probability as fastText reports it. `threads` > 1 cuts the batch into that many
        slices run at once (the compiled loop releases the GIL)."""
        data = [t.encode("utf-8") for t in texts]
        text = np.frombuffer(b"".join(data), dtype=np.uint8)
        starts = np.cumsum([0] + [len(d) for d in data]).astype(np.int64)
        label = np.full(len(texts), -1, dtype=np.int32)
        prob = np.zeros(len(texts), dtype=np.float32)
        # slices of about equal bytes (the work is per byte), at least one text each
        even = np.linspace(0, starts[-1], max(1, min(threads, len(texts))) + 1)
        cuts = np.unique(np.r_[0, np.searchsorted(starts, even[1:-1]), len(texts)])

        def run(a: int, b: int) -> None:
            _predict_all(
                text, starts[a : b + 1], label[a:b], prob[a:b], self.word_slot,
                self.word_bytes, self.word_start, self.subwords, self.sub_start, self.eos,
                self.bucket_row, self.rows, self.out, self.left, self.right, self.osz,
                self.minn, self.maxn,
            )  # fmt: skip

        if len(cuts) <= 2:
            run(0, len(texts))
        else:
            with ThreadPoolExecutor(len(cuts) - 1) as pool:
                list(pool.map(run, cuts[:-1], cuts[1:]))
        return label, prob


def _compiled(**options):
    """numba's njit with its on-disk cache (the ~3.5 s compile then happens once per machine
    and version), or without it where numba finds no writable place for one (a read-only
    install and home): compiled in each process then, instead of failing to import."""

    def wrap(func):
        try:
            return njit(cache=True, **options)(func)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return njit(**options)(func)

    return wrap


_BASIS, _PRIME, _LOW32 = 2166136261, 16777619, 0xFFFFFFFF


@_compiled(inline="always")
def _fnv_byte(h: int, byte: int) -> int:
    """One byte of fastText's FNV-1a (the byte read as a signed char, then widened)."""
    v = byte if byte < 128 else byte | 0xFFFFFF00
    return ((h ^ v) * _PRIME) & _LOW32


@_compiled()
def _fnv(buf, a: int, b: int) -> int:
    h = _BASIS
    for i in range(a, b):
        h = _fnv_byte(h, buf[i])
    return h


@_compiled(inline="always")
def _is_space(c: int) -> bool:  # fastText's word separators
    return c == 32 or c == 10 or c == 13 or c == 9 or c == 11 or c == 12 or c == 0


@_compiled()
def _find(text, a: int, b: int, word_slot, word_bytes, word_start) -> int:
    """The vocabulary id of text[a:b], -1 if it is not a word of the model."""
    mask = len(word_slot) - 1
    s = _fnv(text, a, b) & mask
    while word_slot[s] >= 0:
        w = word_slot[s]
        ws, we = word_start[w], word_start[w + 1]
        if we - ws == b - a:
            same = True
            for k in range(b - a):
                if word_bytes[ws + k] != text[a + k]:
                    same = False
                    break
            if same:
                return w
        s = (s + 1) & mask
    return -1


@_compiled()
def _ngrams(buf, n: int, minn: int, maxn: int, bucket_row, emit, hidden, rows) -> int:
    """fastText's character n-grams of buf[:n] ("<word>"), minn to maxn characters (UTF-8
    continuation bytes ride along), without the single '<' or '>': each n-gram's row (if its
    bucket was not pruned) is added to `hidden`, or, with `emit`, written there instead.
    Returns how many rows."""
    count = 0
    nbucket = len(bucket_row)
    for i in range(n):
        if (buf[i] & 0xC0) == 0x80:
            continue
        h = _BASIS
        j = i
        chars = 1
        while j < n and chars <= maxn:
            h = _fnv_byte(h, buf[j])
            j += 1
            while j < n and (buf[j] & 0xC0) == 0x80:
                h = _fnv_byte(h, buf[j])
                j += 1
            if chars >= minn and not (chars == 1 and (i == 0 or j == n)):
                row = bucket_row[h % nbucket]
                if row >= 0:
                    if emit is not None:
                        emit[count] = row
                    else:
                        for k in range(rows.shape[1]):
                            hidden[k] += rows[row, k]
                    count += 1
            chars += 1
    return count


def _ngram_rows(word: np.ndarray, minn: int, maxn: int, bucket_row: np.ndarray) -> list[int]:
    emit = np.empty(len(word) * maxn, dtype=np.int32)
    n = _ngrams(
        word,
        len(word),
        minn,
        maxn,
        bucket_row,
        emit,
        np.zeros(1, np.float32),
        np.zeros((1, 1), np.float32),
    )
    return emit[:n].tolist()


@_compiled(inline="always")
def _std_log(x) -> np.float32:  # fastText's log(x + 1e-5), x a float32, the sum in double
    return np.float32(np.log(np.float64(x) + 1e-5))


@_compiled(nogil=True)
def _predict_all(
    text, starts, label, prob, word_slot, word_bytes, word_start, subwords, sub_start, eos,
    bucket_row, rows, out, left, right, osz, minn, maxn,
):  # fmt: skip
    dim = rows.shape[1]
    hidden = np.zeros(dim, dtype=np.float32)
    longest = 0
    for d in range(len(starts) - 1):
        longest = max(longest, starts[d + 1] - starts[d])
    buf = np.empty(longest + 2, dtype=np.uint8)
    stack_node = np.empty(2 * osz, dtype=np.int64)
    stack_score = np.empty(2 * osz, dtype=np.float32)
    log_threshold = _std_log(np.float32(0.0))
    for d in range(len(starts) - 1):
        hidden[:] = 0
        n = 0
        i, end = starts[d], starts[d + 1]
        while i < end:
            if _is_space(text[i]):
                i += 1
                continue
            j = i
            while j < end and not _is_space(text[j]):
                j += 1
            label_word = j - i >= 9  # fastText's label prefix: not a word of the text
            if label_word:
                for k in range(9):
                    if text[i + k] != _LABEL_BYTES[k]:
                        label_word = False
                        break
            if not label_word:
                w = _find(text, i, j, word_slot, word_bytes, word_start)
                if w >= 0:
                    for s in range(sub_start[w], sub_start[w + 1]):
                        row = subwords[s]
                        for k in range(dim):
                            hidden[k] += rows[row, k]
                    n += sub_start[w + 1] - sub_start[w]
                    if w == eos:  # fastText's reader ends the line at the word "</s>"
                        break
                else:
                    buf[0] = 60  # '<'
                    buf[1 : j - i + 1] = text[i:j]
                    buf[j - i + 1] = 62  # '>'
                    n += _ngrams(buf, j - i + 2, minn, maxn, bucket_row, None, hidden, rows)
            i = j
        if eos >= 0 and i >= end:  # the end of the line fastText's reader appends
            for s in range(sub_start[eos], sub_start[eos + 1]):
                row = subwords[s]
                for k in range(dim):
                    hidden[k] += rows[row, k]
            n += sub_start[eos + 1] - sub_start[eos]
        if n == 0:
            continue
        scale = np.float32(1.0 / n)
        for k in range(dim):
            hidden[k] *= scale
        # the best leaf of the hierarchical softmax: fastText's depth-first walk, left first,
        # pruned below log(1e-5) and below the best leaf so far
        best, best_score = -1, np.float32(0.0)
        stack_node[0], stack_score[0] = 2 * osz - 2, np.float32(0.0)
        top = 1
        while top > 0:
            top -= 1
            node, score = stack_node[top], stack_score[top]
            if score < log_threshold or (best >= 0 and score < best_score):
                continue
            if left[node] == -1 and right[node] == -1:
                best, best_score = node, score
                continue
            f = np.float32(0.0)
            for k in range(dim):
                f += out[node - osz, k] * hidden[k]
            f = np.float32(1.0 / np.float64(np.float32(1.0) + np.exp(-f)))
            stack_node[top], stack_score[top] = right[node], score + _std_log(f)
            stack_node[top + 1] = left[node]
            stack_score[top + 1] = score + _std_log(np.float32(1.0 - np.float64(f)))
            top += 2
        label[d] = best
        prob[d] = np.exp(best_score)
