"""A quality scorer backed by any fastText supervised model: score = P(positive label).

Works with PreSelect's released classifier (`__label__1`), DCLM's (`__label__hq`) and the
models `thresher scorer train` writes. Training and scoring share `preprocess`, so the
text a model sees at inference is exactly the text it was trained on (the PreSelect
reference pipeline replaced newlines with spaces in training but deleted them at
inference, gluing words together; one function on both sides rules that out).

>>> scorer = FastTextScorer("model.bin", positive_label="__label__1")  # doctest: +SKIP
>>> scorer.score_batch(["A well written paragraph.", "BUY NOW cheap pills"])  # doctest: +SKIP
array([0.93, 0.02])
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from thresher.scorers.errors import InputError, UserError
from thresher.scorers.predict_pool import PredictPool


def preprocess(text: str) -> str:
    """The text a fastText scorer sees: newlines become spaces; case is kept.

    fastText reads one example per line, so a newline inside a document would end it.
    (str.replace, not str.translate: replace is ~30x faster on long texts.)
    """
    return text.replace("\n", " ").replace("\r", " ")


def scorer_name(model_path: str | os.PathLike) -> str:
    """A directory-safe scorer name from the model file: 'models/PreSelect-v1.bin' -> 'PreSelect-v1'."""
    stem = Path(model_path).name
    stem = stem[:-4] if stem.endswith(".bin") else stem
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "scorer"


def load_fasttext(path: str | os.PathLike):
    """Load a fastText model, turning the library's failures into one-line user errors."""
    import fasttext

    p = Path(path)
    if not p.is_file():
        raise InputError(f"model file {path} does not exist: check the --model path")
    try:
        return fasttext.load_model(str(p))
    except (ValueError, RuntimeError, MemoryError) as exc:
        raise InputError(
            f"cannot load {path} as a fastText model ({exc}): it is not one, or it is "
            "truncated or damaged; copy the model file again"
        ) from None


class FastTextScorer:
    """`score_batch(texts)` -> numpy float64 array of P(positive_label), one per text."""

    def __init__(
        self,
        model_path: str | os.PathLike,
        positive_label: str = "__label__1",
        name: str | None = None,
        processes: int = 1,
    ):
        """`processes` > 1: predict also runs in helpers forked from this process, which
        share the loaded model (scorers.predict_pool); same scores as one process."""
        self._attach(load_fasttext(model_path), positive_label, str(model_path), processes)
        self.name = name or scorer_name(model_path)

    @classmethod
    def from_model(
        cls, model, positive_label: str = "__label__1", name: str = "scorer", processes: int = 1
    ):
        """Wrap an already loaded (e.g. just trained) fastText model."""
        scorer = cls.__new__(cls)
        scorer._attach(model, positive_label, "<in memory>", processes)
        scorer.name = name
        return scorer

    def _attach(self, model, positive_label: str, where: str, processes: int = 1) -> None:
        self.model_path = where
        self.model = model
        self.predictor = PredictPool(model, processes)
        if not model.is_quantized() and model.f.getArgs().model.name != "supervised":
            raise UserError(
                f"{where} is an unsupervised fastText model (word vectors); "
                "a scorer needs a supervised classifier"
            )
        self.labels = list(model.get_labels())
        if positive_label not in self.labels:
            shown = ", ".join(self.labels[:10]) + (" ..." if len(self.labels) > 10 else "")
            raise UserError(
                f"model {where} has no label '{positive_label}'; its labels are: {shown} "
                "(pass one of them as --positive-label)"
            )
        self.positive_label = positive_label

    def score_batch(self, texts: Sequence[str]) -> np.ndarray:
        """P(positive) for each text. One fastText call per batch (lists avoid numpy-2 issues)."""
        if not len(texts):
            return np.zeros(0, dtype=np.float64)
        # k=-1: every label's probability, so the score is exact for any loss (softmax,
        # one-vs-all, hierarchical) and any number of labels.
        labels, probs = self.predictor.predict([preprocess(t) for t in texts], k=-1)
        pos = self.positive_label
        out = np.fromiter(
            (_prob_of(pos, lab, pr) for lab, pr in zip(labels, probs, strict=True)),
            dtype=np.float64,
            count=len(texts),
        )
        # fastText reports exp(log(p + 1e-5)): take the epsilon back off, so P is in [0, 1].
        return np.clip(out - 1e-5, 0.0, 1.0)

    def close(self) -> None:
        """Stop the forked helpers, if any (they also stop with this process)."""
        self.predictor.close()


def _prob_of(label: str, labels, probs) -> float:
    if labels and labels[0] == label:  # the common case: the positive label ranks first
        return float(probs[0])
    try:
        return float(probs[labels.index(label)])
    except ValueError:
        return 0.0
