"""Tokenizers for shards: an HF `tokenizer.json` or a tiktoken rank file, local paths only.

Special tokens are never produced from document text (a literal "<|endoftext|>" in a
document is encoded as ordinary text), so BOS/EOS ids appear only where they are placed.

`load_tokenizer(spec)` returns a `TextTokenizer` whose `encode_batch(texts)` gives one flat
token array plus per-document lengths, with BOS/EOS already placed, which is the shape
a shard writer wants. Nothing is downloaded.

Fast path: a byte-level BPE `tokenizer.json` can be re-expressed as a tiktoken `Encoding`
(ranks = token ids, the same pre-tokenisation regex, added tokens as specials). tiktoken
merges by the rank of the merged bytes while HF merges by its merge list, and these agree
for tokenizers trained the usual way, but not for every conceivable merge list, so the
fast path is only trusted after `agrees_on(texts)` (see pipelines.shards).
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from thresher.scorers.bpe_tokenizers import (
    HF_BYTE_LEVEL_PATTERN,
    byte_decoder,
    infer_pattern,
    read_tiktoken_ranks,
)
from thresher.scorers.errors import ConfigError, InputError

EOS_CANDIDATES = ("<|endoftext|>", "</s>", "<eos>", "<|end_of_text|>", "[SEP]")


@dataclass(frozen=True)
class TokenizerSpec:
    """Picklable description of a tokenizer; `load_tokenizer` turns it into one."""

    path: str
    eos: str | None = "auto"  # token name, id as digits, "auto" (a common EOS name), or None
    bos: str | None = None
    fast_path: bool = True  # use tiktoken for byte-level BPE tokenizer.json when possible
    # pre-tokenisation regex for tiktoken rank files; None: known from the file name
    # (cl100k_base, o200k_base, ...), else GPT-2's
    pattern: str | None = None
    special_tokens: dict = field(default_factory=dict)  # extra specials for rank files


class TextTokenizer:
    """Encode/decode with EOS/BOS placement; `kind` is 'hf', 'tiktoken' or 'hf+tiktoken'."""

    def __init__(self, spec: TokenizerSpec, threads: int | None = None):
        self.spec = spec
        # Encoding threads inside one call (tiktoken path; HF's Rust encoder has its own
        # pool). 1 by default: in a stage, Beam's worker threads (one per core) already
        # share this one tokenizer and encode in parallel, since tiktoken lets go of the GIL;
        # more threads per call only made them take turns (bench/results/end_to_end.md).
        self.threads = threads or 1
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        path = Path(spec.path)
        if not path.is_file():
            raise InputError(
                f"tokenizer file {spec.path} does not exist: pass a local "
                "tokenizer.json or .tiktoken rank file"
            )
        self.hf = None
        self.tk = None
        if _is_json(path):
            self._load_hf(path)
        else:
            self._load_rank_file(path)
        self.eos_id = self._resolve(spec.eos, "eos")
        self.bos_id = self._resolve(spec.bos, "bos")

    # -- loading -------------------------------------------------------------------
    def _load_hf(self, path: Path) -> None:
        from tokenizers import Tokenizer

        try:
            tj = json.loads(path.read_bytes())
        except (ValueError, UnicodeDecodeError) as exc:
            where = f" at line {exc.lineno} column {exc.colno}" if hasattr(exc, "lineno") else ""
            raise InputError(
                f"tokenizer {path} is not valid JSON ({getattr(exc, 'msg', exc)}"
                f"{where}): pass an HF tokenizer.json or a .tiktoken rank file"
            ) from None
        try:
            self.hf = Tokenizer.from_file(str(path))
        except Exception as exc:
            raise InputError(f"cannot load tokenizer {path}: {str(exc).splitlines()[0]}") from None
        # Document text never turns into special tokens: a literal "<|endoftext|>" inside a
        # document is encoded as text, so the only EOS ids are the ones we append.
        self.hf.encode_special_tokens = True
        self.kind = "hf"
        self.vocab_size = self.hf.get_vocab_size(with_added_tokens=True)
        self.specials = {t.content: i for i, t in self.hf.get_added_tokens_decoder().items()}
        if self.spec.fast_path:
            ranks = hf_byte_level_ranks(tj)
            if ranks is not None:
                self.tk = _tiktoken(path.stem, *ranks)
                self.kind = "hf+tiktoken"

    def _load_rank_file(self, path: Path) -> None:
        ranks = read_tiktoken_ranks(path)
        specials = dict(self.spec.special_tokens) or {"<|endoftext|>": max(ranks.values()) + 1}
        pattern = self.spec.pattern or infer_pattern(str(path)) or HF_BYTE_LEVEL_PATTERN
        self.tk = _tiktoken(path.stem, pattern, ranks, specials)
        self.kind = "tiktoken"
        self.vocab_size = self.tk.n_vocab
        self.specials = specials

    def _resolve(self, name: str | None, role: str) -> int | None:
        if name is None or name == "none":
            return None
        if name == "auto":
            found = next((c for c in EOS_CANDIDATES if self.token_to_id(c) is not None), None)
            if found is None:
                raise ConfigError(
                    f"tokenizer {self.spec.path} has none of the usual EOS tokens "
                    f"({', '.join(EOS_CANDIDATES)}): pass --eos NAME or --eos ID"
                )
            return self.token_to_id(found)
        if str(name).isdigit():
            if int(name) >= self.vocab_size:
                raise ConfigError(
                    f"{role} id {name} is outside the vocabulary (size "
                    f"{self.vocab_size}) of {self.spec.path}"
                )
            return int(name)
        tid = self.token_to_id(name)
        if tid is None:
            known = ", ".join(sorted(self.specials)[:8]) or "none"
            raise ConfigError(
                f"tokenizer {self.spec.path} has no {role} token '{name}' "
                f"(its special tokens: {known}): pass --{role} with one of them or an id"
            )
        return tid

    def token_to_id(self, name: str) -> int | None:
        if self.hf is not None:
            return self.hf.token_to_id(name)
        if name in self.specials:
            return self.specials[name]
        return (
            self.tk._mergeable_ranks.get(name.encode())
            if hasattr(self.tk, "_mergeable_ranks")
            else None
        )

    # -- encoding ------------------------------------------------------------------
    def encode_raw(self, texts: list[str], use_fast: bool = True) -> list:
        """Token ids per text (uint32 arrays on the tiktoken path, lists on HF's), no BOS/EOS."""
        if self.tk is not None and (use_fast or self.hf is None):
            return self._encode_tiktoken(texts)
        encode = getattr(self.hf, "encode_batch_fast", self.hf.encode_batch)
        return [e.ids for e in encode(texts, add_special_tokens=False)]

    def _encode_tiktoken(self, texts: list[str]) -> list[np.ndarray]:
        """tiktoken releases the GIL while it encodes, so `threads` threads each encode one
        contiguous slice and the slices are joined in input order (same ids as one thread).
        Each text comes back as a uint32 buffer, not a Python list: building the list cost as
        much as the encoding (bench/results/end_to_end.md)."""
        encode = functools.partial(
            self.tk.encode_to_numpy, allowed_special=frozenset(), disallowed_special=()
        )
        n = min(self.threads, max(1, len(texts) // 16))
        if n == 1:
            return [encode(t) for t in texts]
        with self._lock:  # one pool, even when several Beam worker threads share this
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="tokenize")
        step = -(-len(texts) // n)
        slices = [texts[i : i + step] for i in range(0, len(texts), step)]
        done = self._pool.map(lambda part: [encode(t) for t in part], slices)
        return list(itertools.chain.from_iterable(done))

    def encode_batch(
        self, texts: list[str], use_fast: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """(flat uint32 tokens, int64 lengths) with BOS/EOS in place for every text."""
        ids = self.encode_raw(texts, use_fast)
        extra = (self.bos_id is not None) + (self.eos_id is not None)
        body_len = np.fromiter(map(len, ids), np.int64, len(ids))
        lengths = body_len + extra
        flat = np.empty(int(lengths.sum()), np.uint32)
        ends = np.cumsum(lengths)
        body = np.ones(len(flat), bool)
        if self.bos_id is not None:
            flat[ends - lengths] = self.bos_id
            body[ends - lengths] = False
        if self.eos_id is not None:
            flat[ends - 1] = self.eos_id
            body[ends - 1] = False
        if ids and isinstance(ids[0], np.ndarray):
            flat[body] = np.concatenate(ids)
        else:
            chained = itertools.chain.from_iterable(ids)
            flat[body] = np.fromiter(chained, np.uint32, int(body_len.sum()))
        return flat, lengths

    def agrees_on(self, texts: list[str]) -> int | None:
        """Index of the first text where the fast path and HF disagree, else None."""
        if self.hf is None or self.tk is None:
            return None
        fast, slow = self.encode_raw(texts, True), self.encode_raw(texts, False)
        return next(
            (
                i
                for i, (a, b) in enumerate(zip(fast, slow, strict=True))
                if np.asarray(a).tolist() != b
            ),
            None,
        )

    def decode(self, ids) -> str:
        ids = [int(i) for i in ids]
        if self.hf is not None:
            return self.hf.decode(ids, skip_special_tokens=False)
        return self.tk.decode_bytes(ids).decode("utf-8", errors="replace")


def load_tokenizer(spec: TokenizerSpec | str, threads: int | None = None, **kw) -> TextTokenizer:
    """`load_tokenizer("tok/tokenizer.json", eos="<|endoftext|>")`; `threads` > 1 splits
    each `encode_batch` over that many threads on the tiktoken path (same ids)."""
    spec = spec if isinstance(spec, TokenizerSpec) else TokenizerSpec(spec, **kw)
    try:
        st = os.stat(spec.path)
    except OSError:
        return TextTokenizer(spec, threads)  # raises the one-line "does not exist" error
    # A run loads the same file to check it, to plan and in every worker: build it once per
    # process (a 32k BPE takes ~0.5 s: the JSON, the HF model, tiktoken's rank table).
    key = (
        spec.path, spec.eos, spec.bos, spec.fast_path, spec.pattern,
        tuple(sorted(spec.special_tokens.items())), threads, st.st_size, st.st_mtime_ns,
    )  # fmt: skip
    if key not in _LOADED:
        if len(_LOADED) >= 4:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[key] = TextTokenizer(spec, threads)
    return _LOADED[key]


_LOADED: dict[tuple, TextTokenizer] = {}


def _is_json(path: Path) -> bool:
    """A tokenizer.json by name or by content (rank files are never JSON)."""
    if path.suffix.lower() == ".json":
        return True
    with open(path, "rb") as f:
        return f.read(64).lstrip().startswith(b"{")


def _tiktoken(name: str, pattern: str, ranks: dict, specials: dict):
    import tiktoken

    try:
        return tiktoken.Encoding(
            name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials
        )
    except Exception as exc:  # bad regex, overlapping ids
        raise ConfigError(f"cannot build a tiktoken encoding from {name}: {exc}") from None


def hf_byte_level_ranks(tj: dict) -> tuple[str, dict, dict] | None:
    """(pattern, ranks, specials) when a tokenizer.json is a plain byte-level BPE that
    tiktoken can run, else None. Ranks are the HF ids, which must grow with merge order."""
    model = tj.get("model") or {}
    if model.get("type") != "BPE" or model.get("dropout") or model.get("byte_fallback"):
        return None
    if model.get("continuing_subword_prefix") or model.get("end_of_word_suffix"):
        return None
    if tj.get("normalizer") is not None:
        return None
    pattern = _byte_level_pattern(tj.get("pre_tokenizer"))
    added = tj.get("added_tokens") or []
    if pattern is None or any(t.get(k) for t in added for k in ("lstrip", "rstrip", "single_word")):
        return None
    if not all(t.get("special") for t in added):
        return None  # HF matches non-special added tokens inside text; tiktoken would not
    specials = {t["content"]: t["id"] for t in added}
    to_byte = byte_decoder()
    ranks: dict[bytes, int] = {}
    special_ids = set(specials.values())
    for token, tid in model["vocab"].items():
        if tid in special_ids:
            continue
        try:
            ranks[bytes(to_byte[c] for c in token)] = tid
        except KeyError:
            return None  # not a byte-level vocabulary
    if len(ranks) != len(set(ranks.values())) or not all(bytes([b]) in ranks for b in range(256)):
        return None
    last = -1
    for merge in model.get("merges") or []:
        a, b = merge.split(" ", 1) if isinstance(merge, str) else merge
        tid = model["vocab"].get(a + b)
        if tid is None or tid <= last:
            return None  # merge priority would not follow the ranks
        last = tid
    return pattern, ranks, specials


def _byte_level_pattern(pre: dict | None) -> str | None:
    if not pre:
        return None
    if pre.get("type") == "ByteLevel":
        ok = pre.get("use_regex", True) and not pre.get("add_prefix_space")
        return HF_BYTE_LEVEL_PATTERN if ok else None
    steps = pre.get("pretokenizers") if pre.get("type") == "Sequence" else None
    if not steps or len(steps) != 2:
        return None
    split, level = steps
    if level.get("type") != "ByteLevel" or level.get("use_regex") or level.get("add_prefix_space"):
        return None
    if split.get("type") != "Split" or split.get("behavior") != "Isolated" or split.get("invert"):
        return None
    return (split.get("pattern") or {}).get("Regex")


def train_byte_level_bpe(texts, vocab_size: int, special_tokens=("<|endoftext|>",)):
    """A small GPT-2-style byte-level BPE trained on `texts` (for demos and tests; no
    download). All 256 bytes are in the alphabet, so any text encodes. Returns the HF
    `Tokenizer`; save it with `.save(path)`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special_tokens),
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer)
    return tok
