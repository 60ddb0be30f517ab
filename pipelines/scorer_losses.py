"""Losses tables for scorer training: one row per (document, model), the LOSSES schema.

The model families live in scorers/ (charlm: built in; hf_losses: optional extra); this
module only turns their per-document NLLs into the keyed table `scorer train` reads.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

from thresher.pipelines import schemas


def _table(ids: pa.Array, n_chars: np.ndarray, per_model: dict[str, np.ndarray]) -> pa.Table:
    tables = []
    for model, nll in per_model.items():
        nll = np.asarray(nll, dtype=np.float64)
        tables.append(
            pa.table(
                {
                    "id": ids,
                    "model": pa.array([model] * len(ids), pa.string()),
                    "nll_sum": nll,
                    "n_chars": n_chars,
                    "bpc": nll / (np.maximum(n_chars, 1) * math.log(2)),
                },
                schema=schemas.LOSSES,
            )
        )
    return pa.concat_tables(tables)


def charlm_losses(
    docs: pa.Table,
    train: pa.Table,
    target: pa.Table,
    orders: list[int],
    sizes: list[float],
    mixtures: int = 0,
) -> tuple[pa.Table, dict]:
    """(losses of every char-LM member on `docs`, benchmark scores = -BPC on `target`).

    `mixtures` > 0: that many members trained on random mixtures of `train`'s sources
    instead of one member per (order, size)."""
    from thresher.scorers.charlm import benchmark_scores, train_family, train_mixture_family

    texts = train.column("text").to_pylist()
    if mixtures:
        family = train_mixture_family(texts, train.column("source").to_pylist(), members=mixtures)
    else:
        family = train_family(texts, orders=orders, sizes=sizes)
    texts = docs.column("text").to_pylist()
    per_model = {m.name: m.doc_nll(texts) for m in family}
    n_chars = docs.column("n_chars").to_numpy()
    return (
        _table(docs.column("id"), n_chars, per_model),
        benchmark_scores(family, target.column("text").to_pylist()),
    )


def hf_losses(
    docs: pa.Table, model_paths: list[str], batch_size: int = 8, max_length: int | None = None
) -> pa.Table:
    """Losses of local Hugging Face causal LMs, one model in memory at a time."""
    from thresher.scorers.hf_losses import HFCausalLM

    texts = docs.column("text").to_pylist()
    per_model = {}
    for path in model_paths:
        lm = HFCausalLM(path, max_length=max_length)
        per_model[lm.name] = lm.doc_nll(texts, batch_size=batch_size)
        del lm
    return _table(docs.column("id"), docs.column("n_chars").to_numpy(), per_model)
