"""Reason codes for rejected and dropped records. Tests and the dashboard key on these."""

# Rejected at ingest: the record could not become a document.
INVALID_JSON = "invalid_json"
INVALID_UTF8 = "invalid_utf8"
NOT_AN_OBJECT = "not_an_object"
MISSING_TEXT = "missing_text"
TEXT_NOT_STRING = "text_not_string"
EMPTY_TEXT = "empty_text"
TEXT_TOO_LONG = "text_too_long"
DUPLICATE_ID = "duplicate_id"
UNREADABLE_FILE = "unreadable_file"  # the rest of a file could not be decoded at all
CORRUPT_FILE = "corrupt_file"  # read from a gzip member / zstd frame that failed its check
INVALID_ID = "invalid_id"  # the id field holds a boolean
NESTING_TOO_DEEP = "nesting_too_deep"  # JSON nested deeper than the parser/writer allows

# Dropped by a curation decision: the record was fine, a stage chose not to keep it.
EXACT_DUPLICATE = "exact_duplicate"
NEAR_DUPLICATE = "near_duplicate"
BELOW_QUALITY_THRESHOLD = "below_quality_threshold"  # score/select: not in the kept share
MIXTURE_DOWNSAMPLED = "mixture_downsampled"  # shards: left out to meet a source's token share
