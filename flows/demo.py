"""The built-in demo corpus: generated deterministically, no download, a few MB.

Several sources of varying quality (edited prose, forum chatter, spam, code, Cyrillic and
CJK text), planted exact duplicates (case/whitespace variants), planted near duplicates
(a few percent of words edited), and malformed records of every reject reason.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

SYLLABLES = [
    "ba",
    "be",
    "bi",
    "bo",
    "bu",
    "ka",
    "ke",
    "ki",
    "ko",
    "ku",
    "la",
    "le",
    "li",
    "lo",
    "lu",
    "ma",
    "me",
    "mi",
    "mo",
    "mu",
    "na",
    "ne",
    "ni",
    "no",
    "nu",
    "ra",
    "re",
    "ri",
    "ro",
    "ru",
    "sa",
    "se",
    "si",
    "so",
    "su",
    "ta",
    "te",
    "ti",
    "to",
    "tu",
    "va",
    "ve",
    "vi",
    "vo",
    "vu",
    "dra",
    "tre",
    "pli",
    "sto",
    "gar",
]
CYRILLIC = dict(zip("abdegiklmnoprstuv", "абдегиклмнопрстув", strict=True))
SPAM = [
    "BUY",
    "NOW",
    "cheap",
    "pills",
    "click",
    "here",
    "FREE",
    "offer",
    "winner",
    "casino",
    "$$$",
    "limited",
    "deal",
    "act",
    "fast",
]


class DemoWriter:
    def __init__(self, seed: int = 7, docs_per_source: int = 400):
        self.rng = random.Random(seed)
        self.n = docs_per_source
        words = sorted({self._word() for _ in range(3000)})
        self.rng.shuffle(words)
        self.vocab = words
        # Zipf-like weights: real text reuses a few words a lot.
        self.weights = [1.0 / (rank + 1) for rank in range(len(words))]

    def _word(self) -> str:
        return "".join(self.rng.choice(SYLLABLES) for _ in range(self.rng.randint(1, 3)))

    def _sentence(self, lo=6, hi=18) -> str:
        words = self.rng.choices(self.vocab, self.weights, k=self.rng.randint(lo, hi))
        return words[0].capitalize() + " " + " ".join(words[1:]) + self.rng.choice(".....?!")

    def prose(self, paragraphs=(3, 6)) -> str:
        return "\n\n".join(
            " ".join(self._sentence() for _ in range(self.rng.randint(3, 6)))
            for _ in range(self.rng.randint(*paragraphs))
        )

    def forum(self) -> str:
        lines = []
        for _ in range(self.rng.randint(3, 8)):
            who = self.rng.choice(self.vocab)
            lines.append(
                f"{who}: "
                + self._sentence(3, 12).lower().rstrip(".?!")
                + self.rng.choice(["", " lol", " +1", "!!"])
            )
        return "\n".join(lines)

    def spam(self) -> str:
        words = self.rng.choices(SPAM + self.vocab[:20], k=self.rng.randint(30, 120))
        return (
            " ".join(words)
            + f" http://{self.rng.choice(self.vocab)}.example/{self.rng.randint(1, 999)}"
        )

    def code(self) -> str:
        name = self.rng.choice(self.vocab)
        body = "\n".join(
            f"    {self.rng.choice(self.vocab)} = {self.rng.choice(self.vocab)}({self.rng.randint(0, 99)})"
            for _ in range(self.rng.randint(3, 12))
        )
        return f"def {name}(x):\n{body}\n    return x\n"

    def cyrillic(self) -> str:
        return "".join(CYRILLIC.get(c, c) for c in self.prose((2, 4)))

    def cjk(self) -> str:
        chars = [chr(0x4E00 + self.rng.randint(0, 400)) for _ in range(self.rng.randint(200, 600))]
        for i in range(20, len(chars), self.rng.randint(15, 30)):
            chars[i] = "。"
        return "".join(chars)

    # -- planted duplicates -----------------------------------------------------------
    def exact_variant(self, text: str) -> str:
        """Same text to a reader: different case and spacing."""
        return (
            "  ".join(text.upper().split(" "))
            if self.rng.random() < 0.5
            else text.replace(" ", " \t ")
        )

    def near_variant(self, text: str, rate: float) -> str:
        words = text.split(" ")
        for _ in range(max(1, int(len(words) * rate))):
            i = self.rng.randrange(len(words))
            op = self.rng.random()
            if op < 0.4:
                words[i] = self.rng.choice(self.vocab)
            elif op < 0.7:
                words.insert(i, self.rng.choice(self.vocab))
            elif len(words) > 10:
                del words[i]
        return " ".join(words)


def _write(path: Path, data: bytes) -> None:
    """Leave an identical file untouched: its mtime is part of the run fingerprint, so a
    second `thresher run` resumes the first run instead of starting a new one."""
    if not (path.exists() and path.read_bytes() == data):
        path.write_bytes(data)


def write_demo_corpus(
    directory: str | Path, seed: int = 7, docs_per_source: int = 400
) -> list[str]:
    """Write the demo input files under `directory`; returns their paths."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    w = DemoWriter(seed, docs_per_source)
    sources = {
        "news": w.prose,
        "forum": w.forum,
        "spam": w.spam,
        "code": w.code,
        "wiki-ru": w.cyrillic,
        "wiki-zh": w.cjk,
    }
    records: dict[str, list[dict]] = {}
    for source, make in sources.items():
        docs = [{"id": f"{source}-{i:05d}", "text": make(), "source": source} for i in range(w.n)]
        planted = []
        for i, doc in enumerate(docs[: w.n // 10]):
            if i % 2 == 0:
                planted.append(
                    {
                        "id": f"{source}-exact-{i:05d}",
                        "text": w.exact_variant(doc["text"]),
                        "source": source,
                        "planted": f"exact:{doc['id']}",
                    }
                )
            elif source != "wiki-zh":
                planted.append(
                    {
                        "id": f"{source}-near-{i:05d}",
                        "text": w.near_variant(doc["text"], 0.03),
                        "source": source,
                        "planted": f"near:{doc['id']}",
                    }
                )
            else:
                chars = list(doc["text"])
                for _ in range(len(chars) // 50):
                    chars[w.rng.randrange(len(chars))] = chr(0x4E00 + w.rng.randint(0, 400))
                planted.append(
                    {
                        "id": f"{source}-near-{i:05d}",
                        "text": "".join(chars),
                        "source": source,
                        "planted": f"near:{doc['id']}",
                    }
                )
        records[source] = docs + planted

    paths = []

    def jsonl_bytes(recs):
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs).encode()

    for source in ("news", "wiki-ru", "wiki-zh"):
        p = d / f"{source}.jsonl.gz"
        _write(p, gzip.compress(jsonl_bytes(records[source]), mtime=0))
        paths.append(p)
    p = d / "forum.jsonl"
    _write(p, jsonl_bytes(records["forum"]))
    paths.append(p)
    p = d / "spam.jsonl.zst"
    _write(p, zstandard.ZstdCompressor(level=3).compress(jsonl_bytes(records["spam"])))
    paths.append(p)
    p = d / "code.parquet"
    buf = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(records["code"]), buf)
    _write(p, buf.getvalue().to_pybytes())
    paths.append(p)

    # Malformed records, one of each reason, among good ones.
    bad = [
        b'{"id": "bad-0", "text": "A fine record before the bad ones."}',
        b'{"id": "bad-1", "text": "unterminated',
        b'{"id": "bad-2", "text": "caf\xe9 in latin-1"}',
        b'{"id": "bad-3", "body": "no text field"}',
        b'{"id": "bad-4", "text": 42}',
        b'{"id": "bad-5", "text": "   \\n\\t "}',
        b'{"id": "bad-0", "text": "the id bad-0 was already used"}',
        b'["not", "an", "object"]',
        json.dumps({"id": "bad-7", "text": "x" * 150_000}).encode(),
        b'{"id": "bad-8", "text": "Another fine record after the bad ones."}',
    ]
    p = d / "broken.jsonl"
    _write(p, b"\n".join(bad) + b"\n")
    paths.append(p)
    mirrored = [{**r, "id": r["id"] + "-mirror"} for r in records["forum"][:50]]
    whole = gzip.compress(jsonl_bytes(mirrored), mtime=0)
    p = d / "truncated.jsonl.gz"
    _write(p, whole[: len(whole) // 2])  # cut mid-stream: a download that died
    paths.append(p)
    return [str(p) for p in paths]
