"""Megatron indexed dataset (`.bin` + `.idx`): a streaming writer, a reader, a checker.

Format (little-endian), as Megatron-LM's `IndexedDataset` reads it:

    .idx  b"MMIDIDX\\x00\\x00" | uint64 version=1 | uint8 dtype code
          | uint64 sequence_count | uint64 document_count (= documents + 1)
          | int32 sequence_lengths[sequence_count]
          | int64 sequence_pointers[sequence_count]   byte offsets into .bin
          | int64 document_indices[document_count]    0, 1, ..., documents
    .bin  the tokens of every sequence, concatenated, no header

Here one document is one sequence (Megatron's `--append-eod` layout), so
`document_indices` is simply 0..n. Pure numpy: no Beam, no torch.
"""

from __future__ import annotations

import hashlib
import os
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from thresher.scorers.errors import ConfigError, InputError

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
HEADER = struct.Struct("<9sQBQQ")  # magic, version, dtype code, sequences, documents + 1
DTYPE_CODES = {
    1: np.uint8,
    2: np.int8,
    3: np.int16,
    4: np.int32,
    5: np.int64,
    6: np.float64,
    7: np.float32,
    8: np.uint16,
}
CODE_OF = {np.dtype(t).name: code for code, t in DTYPE_CODES.items()}
TOKEN_DTYPES = ("uint16", "int32")  # what a token shard may use
# Megatron switches to int32 a little below 2**16, leaving room for added tokens.
UINT16_VOCAB_LIMIT = 65_500


def choose_dtype(vocab_size: int, requested: str = "auto") -> np.dtype:
    """Token dtype for a vocabulary: Megatron's rule for 'auto', else the one requested
    when every id fits in it. A vocabulary that does not fit is an error, never a wrap.

    >>> choose_dtype(32_000).name, choose_dtype(100_277).name
    ('uint16', 'int32')
    """
    if requested == "auto":
        return np.dtype(np.uint16 if vocab_size < UINT16_VOCAB_LIMIT else np.int32)
    if requested not in TOKEN_DTYPES:
        raise ConfigError(
            f"token dtype '{requested}' is not one of auto, {', '.join(TOKEN_DTYPES)}"
        )
    dtype = np.dtype(requested)
    if vocab_size - 1 > np.iinfo(dtype).max:
        raise ConfigError(
            f"tokenizer vocabulary of {vocab_size:,} ids does not fit dtype {requested} "
            f"(max id {np.iinfo(dtype).max:,}): use dtype int32 or auto"
        )
    return dtype


class ShardWriter:
    """Append documents to `<prefix>.bin`, then `close()` writes `<prefix>.idx`.

    Both files are written under temporary names and renamed on close, so a crash never
    leaves a shard that looks complete. Token ids are range-checked against the dtype.
    """

    def __init__(self, prefix: str | os.PathLike, dtype: np.dtype | str):
        self.prefix = Path(prefix)
        self.prefix.parent.mkdir(parents=True, exist_ok=True)
        self.dtype = np.dtype(dtype)
        if self.dtype.name not in CODE_OF:
            raise ConfigError(f"dtype {self.dtype} has no Megatron code")
        self._max = np.iinfo(self.dtype).max if self.dtype.kind in "iu" else None
        tag = uuid.uuid4().hex[:8]
        self._tmp_bin = self.prefix.with_name(f".tmp-{tag}-{self.prefix.name}.bin")
        self._tmp_idx = self.prefix.with_name(f".tmp-{tag}-{self.prefix.name}.idx")
        self._bin = open(self._tmp_bin, "wb")  # noqa: SIM115 - closed in close()/abort()
        self._bin_hash = hashlib.sha256()
        self.lengths: list[int] = []
        self.tokens = 0

    def add(self, tokens: np.ndarray) -> None:
        """One document (a 1-D array of token ids, EOS already appended)."""
        if self._max is not None and len(tokens) and int(tokens.max()) > self._max:
            self.abort()
            raise ConfigError(
                f"token id {int(tokens.max())} does not fit dtype {self.dtype.name}: use int32"
            )
        data = np.ascontiguousarray(tokens, dtype=self.dtype).tobytes()
        self._bin.write(data)
        self._bin_hash.update(data)
        self.lengths.append(len(tokens))
        self.tokens += len(tokens)

    def close(self) -> dict:
        """Finish both files; returns sha256 of each and the counts."""
        self._bin.close()
        idx = index_bytes(self.dtype, np.asarray(self.lengths, dtype=np.int32))
        self._tmp_idx.write_bytes(idx)
        os.replace(self._tmp_bin, self.prefix.with_suffix(".bin"))
        os.replace(self._tmp_idx, self.prefix.with_suffix(".idx"))
        return {
            "documents": len(self.lengths),
            "tokens": self.tokens,
            "sha256": self._bin_hash.hexdigest(),
            "idx_sha256": hashlib.sha256(idx).hexdigest(),
        }

    def abort(self) -> None:
        self._bin.close()
        self._tmp_bin.unlink(missing_ok=True)
        self._tmp_idx.unlink(missing_ok=True)


def index_bytes(dtype: np.dtype, lengths: np.ndarray) -> bytes:
    """The complete `.idx` for sequences of `lengths` (one document per sequence)."""
    dtype = np.dtype(dtype)
    n = len(lengths)
    pointers = np.zeros(n, dtype=np.int64)
    if n > 1:
        np.cumsum(lengths[:-1].astype(np.int64) * dtype.itemsize, out=pointers[1:])
    doc_index = np.arange(n + 1, dtype=np.int64)
    header = HEADER.pack(MAGIC, VERSION, CODE_OF[dtype.name], n, n + 1)
    return b"".join(
        [
            header,
            lengths.astype("<i4").tobytes(),
            pointers.astype("<i8").tobytes(),
            doc_index.astype("<i8").tobytes(),
        ]
    )


@dataclass
class Index:
    dtype: np.dtype
    version: int
    lengths: np.ndarray
    pointers: np.ndarray
    document_indices: np.ndarray

    @property
    def sequence_count(self) -> int:
        return len(self.lengths)


def read_index(path: str | os.PathLike) -> Index:
    """Parse an `.idx`; an unreadable or malformed file is an `InputError`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} does not exist: pass a shard prefix or its .idx/.bin path")
    data = path.read_bytes()
    if len(data) < HEADER.size or data[:9] != MAGIC:
        raise InputError(f"{path} is not a Megatron index (magic bytes are not MMIDIDX)")
    _, version, code, n_seq, n_doc = HEADER.unpack_from(data)
    if code not in DTYPE_CODES:
        raise InputError(f"{path}: unknown dtype code {code}")
    expected = HEADER.size + 4 * n_seq + 8 * n_seq + 8 * n_doc
    if len(data) != expected:
        raise InputError(f"{path}: {len(data)} bytes, header promises {expected}")
    off = HEADER.size
    lengths = np.frombuffer(data, "<i4", n_seq, off)
    pointers = np.frombuffer(data, "<i8", n_seq, off + 4 * n_seq)
    docs = np.frombuffer(data, "<i8", n_doc, off + 12 * n_seq)
    return Index(np.dtype(DTYPE_CODES[code]), version, lengths, pointers, docs)


class Shard:
    """Read-only view of one shard: `len(shard)` documents, `shard[i]` -> token array."""

    def __init__(self, prefix: str | os.PathLike):
        prefix = str(prefix)
        for suffix in (".bin", ".idx"):
            prefix = prefix.removesuffix(suffix)
        self.prefix = Path(prefix)
        self.index = read_index(self.prefix.with_suffix(".idx"))
        bin_path = self.prefix.with_suffix(".bin")
        if not bin_path.is_file():
            raise InputError(f"{bin_path} does not exist: a shard needs both .bin and .idx")
        size = bin_path.stat().st_size
        self.tokens = (
            np.memmap(bin_path, dtype=self.index.dtype, mode="r")
            if size
            else np.zeros(0, self.index.dtype)
        )

    def __len__(self) -> int:
        return self.index.sequence_count

    def __getitem__(self, i: int) -> np.ndarray:
        start = int(self.index.pointers[i]) // self.index.dtype.itemsize
        return np.asarray(self.tokens[start : start + int(self.index.lengths[i])])


def check_shard(prefix: str | os.PathLike) -> list[str]:
    """Every way the shard breaks the format; an empty list means it is valid."""
    try:
        shard = Shard(prefix)
    except InputError as exc:
        return [str(exc)]
    ix, problems = shard.index, []
    if ix.version != VERSION:
        problems.append(f"version {ix.version} != {VERSION}")
    if len(ix.document_indices) == 0 or ix.document_indices[0] != 0:
        problems.append("document_indices does not start with 0")
    elif ix.document_indices[-1] != ix.sequence_count:
        problems.append("document_indices[-1] != sequence_count")
    if np.any(np.diff(ix.document_indices) < 0):
        problems.append("document_indices not increasing")
    if np.any(ix.lengths < 0):
        problems.append("negative sequence length")
    expected = (
        np.concatenate([[0], np.cumsum(ix.lengths.astype(np.int64))[:-1]]) * ix.dtype.itemsize
    )
    if ix.sequence_count and not np.array_equal(ix.pointers, expected):
        problems.append("sequence_pointers are not the running byte offsets of the lengths")
    bin_bytes = int(ix.lengths.astype(np.int64).sum()) * ix.dtype.itemsize
    if bin_bytes != len(shard.tokens) * ix.dtype.itemsize:
        problems.append(
            f".bin holds {len(shard.tokens)} tokens, index says {bin_bytes // ix.dtype.itemsize}"
        )
    return problems


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
