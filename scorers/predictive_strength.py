"""PreSelect's predictive strength: which documents rank a model family like its benchmarks do.

With models ordered by benchmark score ascending (worst first) and C_i the i-th model's
normalised loss on a document,
    S = sum_{i<j} 1[C_i > C_j] / (N (N - 1) / 2),
so S = 1 when every better model has a strictly lower loss on the document (a tie counts
as disagreement: it is not evidence that the better model is better). Within a document
the ranking by summed NLL equals the ranking by bits per character, so either works.

Labels: positives are the documents with S = 1 (or, when asked, the top fraction by S);
negatives are as many of the lowest-S documents. Ties in S are broken by a hash of the
id, not by the id itself, so id order (often source order) cannot bias the labels.
A fastText classifier is then trained on them (`scorers.scorer_training`).
"""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from thresher.scorers.errors import ConfigError, InputError

LOSS_COLUMNS = ("bpc", "nll_sum")  # either ranks models the same way within a document


def order_models(benchmarks: dict) -> list[str]:
    """Model names by benchmark score ascending (worst first). Ties cannot be ordered."""
    if len(benchmarks) < 3:
        raise ConfigError(
            f"predictive strength needs benchmark scores for at least 3 models, got {len(benchmarks)}"
        )
    for name, score in benchmarks.items():
        if isinstance(score, bool) or not isinstance(score, int | float) or not np.isfinite(score):
            raise ConfigError(f"benchmark score of model '{name}' must be a number, got {score!r}")
    ordered = sorted(benchmarks, key=lambda m: benchmarks[m])
    for a, b in itertools.pairwise(ordered):
        if benchmarks[a] == benchmarks[b]:
            raise ConfigError(
                f"models '{a}' and '{b}' have the same benchmark score {benchmarks[a]}: "
                "predictive strength needs a strict order (drop one or use more benchmark digits)"
            )
    return ordered


def loss_matrix(losses: pa.Table, ids: pa.Array, models: list[str]) -> tuple[np.ndarray, str, int]:
    """Losses as an (n_docs, n_models) array in `models` order, validated.

    Returns (matrix, loss column used, number of loss rows for ids not in `ids`).
    """
    column = next((c for c in LOSS_COLUMNS if c in losses.column_names), None)
    if column is None or "id" not in losses.column_names or "model" not in losses.column_names:
        raise InputError(
            f"losses table needs columns id, model and one of {', '.join(LOSS_COLUMNS)}; "
            f"it has: {', '.join(losses.column_names)}"
        )
    in_table = set(pc.unique(losses.column("model")).to_pylist())
    unknown = sorted(in_table - set(models))
    if unknown:
        raise InputError(
            f"losses table has model(s) {', '.join(map(str, unknown))} with no benchmark score; "
            f"the benchmark file names: {', '.join(models)}"
        )
    ids = ids.cast(pa.string())
    matrix = np.full((len(ids), len(models)), np.nan)
    extra = 0
    for j, model in enumerate(models):
        rows = losses.filter(pc.equal(losses.column("model"), model))
        if rows.num_rows == 0:
            raise InputError(
                f"losses table has no rows for model '{model}' (named in the benchmark file)"
            )
        where = pc.index_in(rows.column("id").cast(pa.string()), value_set=ids)
        known = pc.is_valid(where)
        extra += rows.num_rows - pc.sum(known.cast(pa.int64())).as_py()
        pos = where.filter(known).to_numpy()
        if len(np.unique(pos)) != len(pos):
            raise InputError(f"losses table has more than one row per document for model '{model}'")
        values = rows.column(column).filter(known).to_numpy(zero_copy_only=False).astype(np.float64)
        matrix[pos, j] = values
        missing = np.flatnonzero(np.isnan(matrix[:, j]))
        if len(missing):
            raise InputError(
                f"{len(missing)} document(s) have no {column} for model '{model}' "
                f"(e.g. id {ids[int(missing[0])].as_py()!r}): compute losses for every document "
                "with every model, or pass only the scored documents"
            )
    return matrix, column, extra


def concordant_pairs(matrix: np.ndarray) -> np.ndarray:
    """Per document, the number of model pairs (i < j, i worse) with C_i > C_j strictly."""
    n = matrix.shape[1]
    count = np.zeros(matrix.shape[0], dtype=np.int64)
    for i in range(n):
        for j in range(i + 1, n):
            count += matrix[:, i] > matrix[:, j]
    return count


def predictive_strength(matrix: np.ndarray) -> np.ndarray:
    """S in [0, 1] per document; columns must be in ascending benchmark order."""
    n = matrix.shape[1]
    return concordant_pairs(matrix) / (n * (n - 1) / 2)


def _tiebreak(ids: list[str], seed: int) -> np.ndarray:
    return np.fromiter(
        (xxhash.xxh64_intdigest(i.encode("utf-8", "surrogatepass"), seed=seed) for i in ids),
        np.uint64,
        len(ids),
    )


def choose_labels(
    ids: list[str],
    concordant: np.ndarray,
    n_models: int,
    positive_fraction: float | None = None,
    seed: int = 0,
    negatives: str = "lowest",
) -> tuple[np.ndarray, np.ndarray, str]:
    """(positive row indices, negative row indices, the rule used for positives).

    Positives: the documents with S = 1; when `positive_fraction` is given and fewer than
    that share of documents have S = 1, the top `positive_fraction` by S instead.
    Negatives: the same number of lowest-S documents among the rest (PreSelect), or with
    `negatives="random"` a seeded random sample of the rest (a broader contrast when the
    lowest-S documents all come from one corner of the pool).
    """
    pairs = n_models * (n_models - 1) // 2
    tie = _tiebreak(ids, seed)
    by_s_desc = np.lexsort((tie, -concordant))
    positives, rule = np.flatnonzero(concordant == pairs), "S = 1"
    if positive_fraction is not None:
        if not 0 < positive_fraction < 1:
            raise ConfigError(f"positive fraction must be in (0, 1), got {positive_fraction}")
        k = max(1, round(positive_fraction * len(ids)))
        if len(positives) < k:  # too few perfect agreements: the top fraction by S instead
            positives, rule = by_s_desc[:k], f"top {positive_fraction:g} of documents by S"
    if len(positives) == 0:
        raise InputError(
            "no document has S = 1 (losses never rank the models like the benchmarks do); "
            "pass --positive-fraction 0.1 to use the top 10% by S instead"
        )
    chosen = np.zeros(len(ids), dtype=bool)
    chosen[positives] = True
    if negatives not in ("lowest", "random"):
        raise ConfigError(f"negatives must be 'lowest' or 'random', got {negatives!r}")
    rest = (
        np.lexsort((tie, concordant)) if negatives == "lowest" else np.argsort(tie, kind="stable")
    )
    rest = rest[~chosen[rest]]
    negatives = rest[: len(positives)]
    if len(negatives) == 0 or concordant[negatives].min() == pairs:
        raise InputError(
            "every document has S = 1, so there are no negatives: add documents the family "
            "ranks differently, or use --positive-fraction"
        )
    return np.sort(positives), np.sort(negatives), rule


def s_histogram(concordant: np.ndarray, n_models: int) -> dict[str, int]:
    """Exact histogram: S takes only the values k / (N(N-1)/2)."""
    pairs = n_models * (n_models - 1) // 2
    counts = np.bincount(concordant, minlength=pairs + 1)
    return {f"{k / pairs:.4f}": int(counts[k]) for k in range(pairs + 1)}


def train_scorer(
    documents: pa.Table,
    losses: pa.Table,
    benchmarks: dict,
    settings,
    positive_fraction: float | None = None,
    name: str = "scorer",
    negatives: str = "lowest",
):
    """The whole PreSelect recipe on in-memory tables.

    documents: id, text; losses: id, model, nll_sum or bpc; benchmarks: model -> score.
    Returns (fastText model, scorer card dict, per-document table id/s/label).
    """
    import fasttext

    from thresher.scorers.scorer_training import POSITIVE_LABEL, train_fasttext

    negative_mode = negatives
    models = order_models(benchmarks)
    ids = documents.column("id").combine_chunks()
    matrix, column, extra = loss_matrix(losses, ids, models)
    concordant = concordant_pairs(matrix)
    id_list = ids.to_pylist()
    positives, negatives, rule = choose_labels(
        id_list, concordant, len(models), positive_fraction, settings.seed, negative_mode
    )
    texts = documents.column("text").to_pylist()
    model, report = train_fasttext(
        [texts[i] for i in positives], [texts[i] for i in negatives], settings
    )
    pairs = len(models) * (len(models) - 1) // 2
    label = np.full(len(id_list), None, dtype=object)
    label[positives], label[negatives] = "positive", "negative"
    per_doc = pa.table(
        {
            "id": ids,
            "s": concordant / pairs,
            "concordant_pairs": concordant,
            "label": pa.array(label.tolist(), pa.string()),
        }
    )
    card = {
        "name": name,
        "method": "PreSelect predictive strength",
        "positive_label": POSITIVE_LABEL,
        "preprocessing": "newlines replaced by spaces, case kept (same function at inference)",
        "models": [{"name": m, "benchmark_score": benchmarks[m]} for m in models],
        "loss_column": column,
        "documents": len(id_list),
        "losses_without_document": extra,
        "s_histogram": s_histogram(concordant, len(models)),
        "positive_rule": rule,
        "positives": len(positives),
        "negatives": len(negatives),
        "negative_rule": "lowest S" if negative_mode == "lowest" else "random sample of the rest",
        "negative_max_s": round(float(concordant[negatives].max() / pairs), 4),
        "hyperparameters": settings.model_dump(),
        "validation": report,
        "fasttext": getattr(fasttext, "__version__", None) or "fasttext-numpy2-wheel",
    }
    return model, card, per_doc
