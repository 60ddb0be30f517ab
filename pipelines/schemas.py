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


def empty(schema: pa.Schema) -> pa.Table:
    return schema.empty_table()
