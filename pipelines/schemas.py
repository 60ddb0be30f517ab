"""The one place each Parquet schema is defined. Every table is keyed by document `id`."""

import pyarrow as pa

DOCUMENTS = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("text", pa.large_string(), nullable=False),
        pa.field("n_chars", pa.int64(), nullable=False),
        pa.field("file", pa.string()),  # where the record came from, for lineage
        pa.field("line", pa.int64()),  # 1-based line (JSONL) or 0-based row (Parquet)
        pa.field("metadata", pa.string()),  # every other input field, as a JSON object
    ]
)

REJECTS = pa.schema(
    [
        pa.field("reason", pa.string(), nullable=False),  # a code from pipelines.reasons
        pa.field("file", pa.string()),
        pa.field("line", pa.int64()),
        pa.field("id", pa.string()),
        pa.field("detail", pa.string()),  # human-readable explanation
        pa.field("raw", pa.string()),  # the raw record, truncated
    ]
)

# Exact dedup: one row per removed document, pointing at the document kept in its place.
EXACT_DUPLICATES = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("kept_id", pa.string(), nullable=False),
        pa.field("text_hash", pa.string(), nullable=False),
    ]
)

# Near dedup (dedup/clusters.parquet): one row per document of a verified cluster of >= 2.
NEAR_CLUSTERS = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("cluster_id", pa.string(), nullable=False),  # the keeper's id
        pa.field("kept", pa.bool_(), nullable=False),  # true for exactly one row per cluster
        pa.field("similarity_to_keeper", pa.float64(), nullable=False),  # Jaccard, 1.0 for keeper
    ]
)

# Shards: one row per Megatron shard (<shard>.bin + <shard>.idx) of a shard set.
SHARDS_MANIFEST = pa.schema(
    [
        pa.field("shard", pa.string(), nullable=False),  # file prefix, <group>_NNNNN
        # the shard's group (split_by): its source, its language, or source.language
        pa.field("group", pa.string(), nullable=False),
        pa.field("source", pa.string()),  # null when split by language alone
        pa.field("language", pa.string()),  # null unless split by language
        pa.field("documents", pa.int64(), nullable=False),  # mixture repeats counted
        pa.field("tokens", pa.int64(), nullable=False),  # BOS/EOS included
        pa.field("dtype", pa.string(), nullable=False),  # uint16 or int32
        pa.field("bin_bytes", pa.int64(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),  # of the .bin
        pa.field("idx_sha256", pa.string(), nullable=False),
        pa.field("fingerprint", pa.string(), nullable=False),  # config + document list
    ]
)


# Quality scores (scores/<scorer>/part-NNNNN.parquet): P(positive label) per document.
SCORES = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
    ]
)

# Scorer training input (`thresher scorer losses`): one row per document per model.
LOSSES = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("nll_sum", pa.float64(), nullable=False),  # summed token NLL, nats
        pa.field("n_chars", pa.int64(), nullable=False),
        pa.field("bpc", pa.float64(), nullable=False),  # nll_sum / (n_chars * ln 2)
    ]
)

# Scorer training output (predictive_strength.parquet): S and the label each document got.
PREDICTIVE_STRENGTH = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("s", pa.float64(), nullable=False),
        pa.field("concordant_pairs", pa.int64(), nullable=False),
        pa.field("label", pa.string()),  # positive, negative or null (not used)
    ]
)

# Mixture inference: pretoken counts of one category's sample (cached per pre-tokeniser).
PRETOKEN_COUNTS = pa.schema(
    [
        pa.field("pretoken", pa.string(), nullable=False),  # in the merge list's alphabet
        pa.field("count", pa.int64(), nullable=False),
    ]
)

# Mixture inference result (<dir>/mixture.parquet): one row per category.
MIXTURE = pa.schema(
    [
        pa.field("mixture", pa.string(), nullable=False),  # the output directory's name
        pa.field("tokenizer", pa.string(), nullable=False),
        pa.field("category", pa.string(), nullable=False),
        pa.field("proportion", pa.float64(), nullable=False),  # share of training bytes
        pa.field("sample_bytes", pa.int64(), nullable=False),
        pa.field("merges_used", pa.int64(), nullable=False),
        pa.field("objective", pa.float64(), nullable=False),
        pa.field("truth", pa.float64()),  # known share in controlled experiments, else null
    ]
)


def empty(schema: pa.Schema) -> pa.Table:
    return schema.empty_table()
