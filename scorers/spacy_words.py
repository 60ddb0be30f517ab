"""spaCy's own word tokenizer per language (optional: `pip install 'thresher[spacy]'`).

`quality_filters: {word_tokenizer: spacy}` cuts each document into the tokens of
`spacy.blank(lang).tokenizer` for its language, the object datatrove's word tokenizers call
(its SpaCyTokenizer: `spacy.blank(lang)`, tokens stripped, whitespace-only ones dropped), so
English contractions (`do n't`), French elisions (`l'`), hyphenated compounds and the other
per-language rules come out as datatrove counts them. Blank languages ship inside the spaCy
wheel: no model is downloaded.

Which tokenizer a document gets (`language_for`):
- no language column (language_id did not run): English, as datatrove's default;
- a language spaCy has a blank tokenizer for that needs no further package: that one;
- ko, vi (spaCy's need mecab-ko / pyvi) and any language spaCy lacks: spaCy's multilingual
  `xx` tokenizer, which is what datatrove's fallback (WhitespaceTokenizer) calls;
- languages written without spaces (zh, ja, th, ...) keep Thresher's regex words (one per
  character) unless `word_segmenters` names a dictionary segmenter for them.
"""

from __future__ import annotations

from functools import cache
from importlib import metadata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from thresher.scorers.errors import ConfigError

FALLBACK = "xx"
NEEDS_PACKAGE = frozenset({"ko", "vi", "th", "ja"})  # spaCy's blank tokenizers that import more


def version() -> str:
    return f"spacy=={metadata.version('spacy')}"


def require() -> None:
    """A one-line ConfigError when spaCy is not installed."""
    try:
        import spacy  # noqa: F401
    except ImportError:
        raise ConfigError(
            "quality_filters.word_tokenizer: spacy needs `pip install 'thresher[spacy]'` "
            "(or word_tokenizer: regex)"
        ) from None


@cache
def language_for(lang: str) -> str:
    """The spaCy language code whose blank tokenizer cuts documents of `lang`."""
    require()
    import spacy.util

    if lang in NEEDS_PACKAGE:
        return FALLBACK
    try:
        spacy.util.get_lang_class(lang)
    except Exception:  # spaCy has no such language
        return FALLBACK
    return lang


@cache
def load(lang: str):
    """The blank pipeline for a spaCy language code, once per worker."""
    require()
    import spacy

    nlp = spacy.blank(lang)
    # tokenizing never reads lexical attributes (is_alpha, like_num, shape...), which spaCy
    # computes for every new string: ~25% of the time; the tokens are the same (tests)
    nlp.vocab.lex_attr_getters = {}
    return nlp


def tokens(texts, lang: str) -> tuple[pa.Array, np.ndarray]:
    """(every token of every text, the index of its text), as `text_units.tokens` lays them
    out: spaCy's tokens of `lang`, whitespace-only ones dropped (datatrove's strip_strings).

    spaCy's tokenizer cuts a text at whitespace (str.isspace) first and then each chunk on
    its own (prefixes, suffixes, infixes, special cases; its cache is keyed by the chunk),
    so the batch is split into whitespace chunks with Arrow and each *distinct* chunk is
    tokenized once (all of them joined by single spaces, one tokenizer call): the same
    tokens as whole-text tokenization (checked in tests/test_spacy_words.py and on every
    25th bench document, English) for a fraction of the work. Inside a memory zone, so a
    long-running worker's vocabulary does not grow."""
    from spacy.attrs import IDX, ORTH

    texts = pa.array(texts, pa.large_string()) if isinstance(texts, list) else texts
    texts = texts.cast(pa.large_string())
    split = pc.utf8_split_whitespace(texts)  # Arrow's whitespace class is str.isspace's
    chunks = pc.list_flatten(split)
    parent = pc.list_parent_indices(split).to_numpy(zero_copy_only=False).astype(np.int64)
    keep = pc.greater(pc.utf8_length(chunks), 0)
    chunks, parent = chunks.filter(keep), parent[keep.to_numpy(zero_copy_only=False)]
    encoded = pc.dictionary_encode(chunks)
    distinct = encoded.dictionary.to_pylist()
    nlp = load(lang)
    # the distinct chunks joined by single spaces: one call, no Doc per chunk; each token
    # finds its chunk by its character offset, its text by its ORTH hash (one lookup per
    # distinct token)
    starts = np.cumsum([0] + [len(c) + 1 for c in distinct[:-1]]) if distinct else np.zeros(0)
    with nlp.memory_zone():
        array = nlp.tokenizer(" ".join(distinct)).to_array([IDX, ORTH]).reshape(-1, 2)
        hashes, inverse = np.unique(array[:, 1].astype(np.uint64), return_inverse=True)
        strings = [nlp.vocab.strings[h] for h in hashes.tolist()]
    chunk_of = np.searchsorted(starts, array[:, 0].astype(np.int64), side="right") - 1
    counts = np.bincount(chunk_of, minlength=len(distinct)).astype(np.int64)
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]), pa.int64())
    flat = pa.array(strings, pa.large_string()).take(pa.array(inverse.reshape(-1)))
    which = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    words = pc.list_flatten(pa.LargeListArray.from_arrays(offsets, flat).take(pa.array(which)))
    return words, np.repeat(parent, counts[which])
