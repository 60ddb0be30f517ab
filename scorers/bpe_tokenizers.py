"""BPE tokenizer files: the one place that knows their formats (GPT-2's byte map, tiktoken
rank files, pre-tokenisation regexes and how to infer them from a file name), and
`load_merges`, which reads a tokenizer's ordered merge list with the normaliser and
pre-tokeniser it used (for mixture inference). Encoding text for shards is
`scorers.text_tokenizers`, built on these.

Three sources are understood:
  * an HF `tokenizer.json` whose model is BPE (byte-level or character-level);
  * a GPT-2 style merges file (`merges.txt` / `vocab.bpe`), byte-level with the GPT-2 regex;
  * a tiktoken rank file (`*.tiktoken`: base64 token, rank), whose merges are rebuilt from
    the ranks; its pre-tokenisation regex comes from `pattern` or the file name.

Pre-tokenisation always goes through HF `tokenizers` objects, so the pretokens counted here
are exactly what the tokenizer's trainer saw. Byte-level pretokens come out already in the
GPT-2 byte-to-unicode alphabet, which is also the alphabet the merges are written in.

>>> spec = load_merges("tokenizer.json")  # doctest: +SKIP
>>> spec.merges[:2], spec.pretokenize("Hello world")  # doctest: +SKIP
([('Ġ', 't'), ('h', 'e')], ['Hello', 'Ġworld'])
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from thresher.scorers.errors import InputError, UserError

# The pre-tokenisation regexes of OpenAI's encodings (as published with tiktoken), for HF's
# Oniguruma engine: cl100k's possessive `\p{N}{1,3}+` is written `\p{N}{1,3}` because
# Oniguruma reads `{1,3}+` as "one or more runs of 1-3 digits" (same matches otherwise).
PATTERNS = {
    "gpt2": r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s""",
    "cl100k": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
    "o200k": "|".join(
        [
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""\p{N}{1,3}""",
            r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
            r"""\s*[\r\n]+""",
            r"""\s+(?!\S)""",
            r"""\s+""",
        ]
    ),
}
# HF's ByteLevel pre-tokenizer regex (GPT-2's, as HF writes it): what a byte-level
# tokenizer.json splits by, and the default for rank files of unknown origin.
HF_BYTE_LEVEL_PATTERN = (
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)
# Known rank-file names -> pattern (r50k/p50k share GPT-2's regex).
KNOWN_FILES = {
    "cl100k_base": "cl100k",
    "o200k_base": "o200k",
    "o200k_harmony": "o200k",
    "r50k_base": "gpt2",
    "p50k_base": "gpt2",
    "p50k_edit": "gpt2",
    "gpt2": "gpt2",
}


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map (the byte-level alphabet)."""
    keep = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:  # unprintable bytes are moved above 255, in byte order
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE_CHARS = bytes_to_unicode()


def to_byte_chars(data: bytes) -> str:
    return "".join(BYTE_CHARS[b] for b in data)


def byte_decoder() -> dict[str, int]:
    """The byte-level alphabet read back: stand-in character -> byte value."""
    return {c: b for b, c in BYTE_CHARS.items()}


@dataclass
class BPESpec:
    """What mixture inference needs from a tokenizer; the pre-tokeniser is built lazily."""

    kind: str  # hf-json | merges-file | tiktoken
    path: str
    merges: list[tuple[str, str]]
    byte_level: bool
    pretokenizer_json: str  # HF JSON of the normaliser + pre-tokeniser pipeline
    continuing_subword_prefix: str = ""
    end_of_word_suffix: str = ""
    _pipeline: tuple | None = field(default=None, repr=False, compare=False)

    @property
    def pretokenizer_fingerprint(self) -> str:
        """Identifies the pretoken counts: the same for every tokenizer that splits alike."""
        return hashlib.sha256(self.pretokenizer_json.encode()).hexdigest()[:16]

    @property
    def fingerprint(self) -> str:
        h = hashlib.sha256(self.pretokenizer_json.encode())
        h.update(f"{self.continuing_subword_prefix}\0{self.end_of_word_suffix}".encode())
        for a, b in self.merges:
            h.update(f"{a}\0{b}\n".encode())
        return h.hexdigest()[:16]

    def _build(self) -> tuple:
        if self._pipeline is None:
            cfg = json.loads(self.pretokenizer_json)
            self._pipeline = (
                _from_json("normalizer", cfg.get("normalizer")),
                _from_json("pre_tokenizer", cfg.get("pre_tokenizer")),
            )
        return self._pipeline

    def pretokenize(self, text: str) -> list[str]:
        """Normalise, then split into pretokens (in the merge list's alphabet)."""
        norm, pre = self._build()
        if norm is not None:
            text = norm.normalize_str(text)
        if pre is None:
            return [text] if text else []
        return [piece for piece, _ in pre.pre_tokenize_str(text)]

    def initial_symbols(self, pretoken: str) -> list[str]:
        """A pretoken's symbols before any merge (characters, with prefix/suffix markers)."""
        syms = list(pretoken)
        if self.continuing_subword_prefix:
            syms = syms[:1] + [self.continuing_subword_prefix + s for s in syms[1:]]
        if self.end_of_word_suffix and syms:
            syms[-1] += self.end_of_word_suffix
        return syms

    def merged(self, left: str, right: str) -> str:
        """The token a merge produces (the continuation prefix is not repeated inside)."""
        p = self.continuing_subword_prefix
        if p and right.startswith(p):
            right = right[len(p) :]
        return left + right


def _from_json(key: str, obj):
    """An HF normaliser / pre-tokeniser object from its JSON, or None."""
    if not obj:
        return None
    # tokenizers has no public from_json on these classes; a minimal Tokenizer carries them.
    from tokenizers import Tokenizer

    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [],
        "normalizer": None,
        "pre_tokenizer": None,
        "post_processor": None,
        "decoder": None,
        "model": {"type": "BPE", "vocab": {}, "merges": []},
    }
    tok[key] = obj
    built = Tokenizer.from_str(json.dumps(tok))
    return getattr(built, key)


def _has_byte_level(obj) -> bool:
    if not isinstance(obj, dict):
        return False
    if obj.get("type") == "ByteLevel":
        return True
    return any(_has_byte_level(o) for o in obj.get("pretokenizers", []) or [])


def _pipeline_json(normalizer, pre_tokenizer) -> str:
    return json.dumps({"normalizer": normalizer, "pre_tokenizer": pre_tokenizer}, sort_keys=True)


def _split_merge(m) -> tuple[str, str]:
    if isinstance(m, str):
        a, _, b = m.partition(" ")
        return a, b
    return m[0], m[1]


def load_hf_json(path: str) -> BPESpec:
    try:
        cfg = json.loads(Path(path).read_text(encoding="utf-8"))
        model = cfg["model"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"cannot read tokenizer {path}: {exc}") from None
    mtype = model.get("type") or ("BPE" if "merges" in model else None)
    if mtype != "BPE":
        raise UserError(
            f"tokenizer {path} is a {mtype or 'unknown'} model; mixture inference needs a BPE "
            "merge list (tokenizer.json with a BPE model, merges.txt/vocab.bpe, or a .tiktoken file)"
        )
    pre = cfg.get("pre_tokenizer")
    return BPESpec(
        kind="hf-json",
        path=str(path),
        merges=[_split_merge(m) for m in model.get("merges", [])],
        byte_level=_has_byte_level(pre),
        pretokenizer_json=_pipeline_json(cfg.get("normalizer"), pre),
        continuing_subword_prefix=model.get("continuing_subword_prefix") or "",
        end_of_word_suffix=model.get("end_of_word_suffix") or "",
    )


def _byte_level_regex(pattern: str) -> dict:
    """Split by a tiktoken-style regex, then map bytes to the byte-level alphabet."""
    return {
        "type": "Sequence",
        "pretokenizers": [
            {
                "type": "Split",
                "pattern": {"Regex": pattern},
                "behavior": "Isolated",
                "invert": False,
            },
            {
                "type": "ByteLevel",
                "add_prefix_space": False,
                "trim_offsets": False,
                "use_regex": False,
            },
        ],
    }


def load_merges_file(path: str, pattern: str | None = None) -> BPESpec:
    """GPT-2 `vocab.bpe` / `merges.txt`: one 'left right' per line, '#version' header."""
    merges = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line or line.startswith("#version"):
                continue
            parts = line.split(" ")
            if len(parts) != 2:
                raise InputError(
                    f"{path}: line '{line[:40]}' is not 'left right'; not a merges file"
                )
            merges.append((parts[0], parts[1]))
    return BPESpec(
        kind="merges-file",
        path=str(path),
        merges=merges,
        byte_level=True,
        pretokenizer_json=_pipeline_json(
            None, _byte_level_regex(resolve_pattern(pattern or "gpt2"))
        ),
    )


def infer_pattern(path: str) -> str | None:
    """The pre-tokenisation regex a rank file's name says it uses (cl100k_base.tiktoken ->
    cl100k's), or None for a name we do not know."""
    known = KNOWN_FILES.get(Path(path).name.split(".")[0])
    return PATTERNS[known] if known else None


def resolve_pattern(pattern: str | None, path: str | None = None) -> str:
    if pattern is None and path is not None:
        pattern = infer_pattern(path)
        if pattern is None:
            raise UserError(
                f"cannot tell the pre-tokenisation regex of {path}: pass --pattern "
                "gpt2|cl100k|o200k|REGEX"
            )
    return PATTERNS.get(pattern, pattern)


def read_tiktoken_ranks(path: str | Path) -> dict[bytes, int]:
    """A tiktoken rank file: one '<base64 token> <rank>' per line."""
    ranks = {}
    with open(path, "rb") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                token, rank = line.split()
                ranks[base64.b64decode(token, validate=True)] = int(rank)
            except ValueError:
                raise InputError(
                    f"{path}:{n}: expected '<base64 token> <rank>': not a tiktoken "
                    "rank file (HF tokenizers must be a .json file)"
                ) from None
    if not ranks:
        raise InputError(f"{path} is empty: not a tiktoken rank file")
    return ranks


def merges_from_ranks(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """Rebuild the merge list: each token of rank r is what BPE makes of its bytes using only
    ranks below r, stopped when two parts remain; those two parts are its merge."""
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(token) < 2:
            continue
        parts = [token[i : i + 1] for i in range(len(token))]
        while len(parts) > 2:
            best, at = None, -1
            for i in range(len(parts) - 1):
                r = ranks.get(parts[i] + parts[i + 1])
                if r is not None and r < rank and (best is None or r < best):
                    best, at = r, i
            if best is None:
                break
            parts[at : at + 2] = [parts[at] + parts[at + 1]]
        if len(parts) != 2:
            raise InputError(
                f"token of rank {rank} cannot be built from lower ranks: not a BPE rank file"
            )
        merges.append((parts[0], parts[1]))
    return merges


def load_tiktoken(path: str, pattern: str | None = None) -> BPESpec:
    merges = merges_from_ranks(read_tiktoken_ranks(path))
    return BPESpec(
        kind="tiktoken",
        path=str(path),
        merges=[(to_byte_chars(a), to_byte_chars(b)) for a, b in merges],
        byte_level=True,
        pretokenizer_json=_pipeline_json(None, _byte_level_regex(resolve_pattern(pattern, path))),
    )


def load_merges(path: str, pattern: str | None = None) -> BPESpec:
    """The merge list of any supported BPE tokenizer, by file name / content."""
    p = Path(path)
    if p.is_dir():
        for name in ("tokenizer.json", "merges.txt", "vocab.bpe"):
            if (p / name).is_file():
                return load_merges(str(p / name), pattern)
        raise InputError(f"{path}: no tokenizer.json, merges.txt or vocab.bpe inside")
    if not p.is_file():
        raise InputError(f"tokenizer {path} does not exist")
    name = p.name.lower()
    if name.endswith(".tiktoken") or (name.split(".")[0] in KNOWN_FILES and "." not in name):
        return load_tiktoken(path, pattern)
    if name.endswith(".json"):
        return load_hf_json(path)
    if name.endswith((".txt", ".bpe")):
        return load_merges_file(path, pattern)
    raise UserError(
        f"unsupported tokenizer file {path}: give a BPE tokenizer.json, merges.txt/vocab.bpe "
        "or a .tiktoken rank file"
    )
