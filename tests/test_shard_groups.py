"""Shard sets split per language, and per source and language (`shards.split_by`): every
document lands in the set of its own group, the manifest names the group, and the counts
match the run's final documents grouped the same way."""

from __future__ import annotations

import json
import random
from collections import Counter

import pyarrow.parquet as pq
import pytest
from test_shards import emitted, train_tokenizer, write_jsonl

from thresher.pipelines import io
from thresher.pipelines import shards as shards_stage
from thresher.scorers.errors import ConfigError

SENTENCES = {
    "en": [
        "The weather was cold and the river froze early this year.",
        "She opened the window and listened to the birds in the garden.",
        "Our train was late, so we walked to the old market instead.",
        "He wrote a long letter to his brother who lives by the sea.",
        "The children played football in the park until it was dark.",
        "Every morning the baker sells fresh bread to the whole village.",
        "They built a small house with a red roof near the forest.",
        "I think the library closes early on Sundays in winter.",
    ],
    "de": [
        "Das Wetter war kalt und der Fluss ist dieses Jahr früh gefroren.",
        "Sie öffnete das Fenster und hörte den Vögeln im Garten zu.",
        "Unser Zug hatte Verspätung, also gingen wir zum alten Markt.",
        "Er schrieb seinem Bruder, der am Meer wohnt, einen langen Brief.",
        "Die Kinder spielten im Park Fußball, bis es dunkel wurde.",
        "Jeden Morgen verkauft der Bäcker frisches Brot an das ganze Dorf.",
        "Sie bauten ein kleines Haus mit einem roten Dach am Waldrand.",
        "Ich glaube, die Bibliothek schließt im Winter sonntags früh.",
    ],
}


def documents() -> list[dict]:
    rng = random.Random(7)
    rows = []
    for source in ("web", "books"):
        for lang, pool in SENTENCES.items():
            for i in range(12):
                text = " ".join(rng.sample(pool, 5)) + f" {rng.randint(1000, 9999)}"
                rows.append({"id": f"{source}-{lang}-{i:02d}", "source": source, "text": text})
    return rows


def run(cli, tmp_path, tok, split_by: str, language_id: bool = True):
    cfg = tmp_path / f"{split_by}.yaml"
    cfg.write_text(
        ("language_id: {}\n" if language_id else "")
        + f"shards: {{tokenizer: {tok}, split_by: {split_by}, shard_tokens: 400}}\n"
    )
    return cli(
        "run", "--input", tmp_path / "in", "--out", tmp_path / "out", "--config", cfg,
        "--run-id", "r1",
    )  # fmt: skip


def final_groups(cli, tmp_path) -> dict[str, tuple[str, str]]:
    """text -> (source, language) of the run's final documents."""
    sql = "SELECT text, source, language FROM documents"
    rc, out, err = cli("query", "--out", tmp_path / "out", "--format", "json", sql)
    assert rc == 0, err
    return {r["text"]: (r["source"], r["language"]) for r in json.loads(out)}


def test_shards_split_per_source_and_language(cli, prefect_api, tmp_path):
    docs = documents()
    write_jsonl(tmp_path / "in" / "docs.jsonl", docs)
    tok = train_tokenizer(tmp_path / "tokenizer.json", [d["text"] for d in docs])
    shard_dir = tmp_path / "out" / "runs" / "r1" / "shards" / "default"

    # no language ID in the run: one line, before any work
    rc, _, err = run(cli, tmp_path, tok, "language", language_id=False)
    assert rc == 1 and "language_id" in err and err.count("\n") == 1

    rc, _, err = run(cli, tmp_path, tok, "source_language")
    assert rc == 0, err
    final = final_groups(cli, tmp_path)
    assert set(final.values()) == {(s, lang) for s in ("web", "books") for lang in ("en", "de")}
    manifest = pq.read_table(shard_dir / "manifest.parquet").to_pylist()
    for r in manifest:
        assert r["group"] == f"{r['source']}.{r['language']}"
        assert r["shard"].startswith(f"{r['source']}_{r['language']}_")  # no dot: see safe_name
    # every emitted document sits in its own (source, language) group, each exactly once
    got = [(text, group) for group, text in emitted_by_group(shard_dir, tok, manifest)]
    assert sorted(t for t, _ in got) == sorted(final)
    assert all(final[text] == group for text, group in got)
    blend = io.read_json(shard_dir / "blend.json")
    assert blend["split_by"] == "source_language" and set(blend["sources"]) == {
        r["group"] for r in manifest
    }
    assert cli("shards", "verify", shard_dir)[0] == 0

    # per language alone: the same run (earlier stages skipped), two groups, no source
    rc, _, err = run(cli, tmp_path, tok, "language")
    assert rc == 0, err
    manifest = pq.read_table(shard_dir / "manifest.parquet").to_pylist()
    assert {r["group"] for r in manifest} == {"en", "de"}
    assert all(r["source"] is None and r["language"] == r["group"] for r in manifest)
    docs_per_language = Counter(lang for _, lang in final.values())
    for lang in ("en", "de"):
        assert (
            sum(r["documents"] for r in manifest if r["group"] == lang) == docs_per_language[lang]
        )
    stats = io.read_json(tmp_path / "out" / "runs" / "r1" / "stats" / "shards.json")
    assert stats["in"] == stats["kept"] + sum(stats["dropped"].values()) + stats["rejected"]
    assert stats["kept"] == len(final)


def emitted_by_group(shard_dir, tok, manifest):
    """(group, decoded text) of every document, through `test_shards.emitted`."""
    by_shard = {r["shard"]: (r["source"], r["language"]) for r in manifest}
    texts = emitted(shard_dir, tok)  # (source, text) per document, in manifest order
    groups = [by_shard[r["shard"]] for r in manifest for _ in range(r["documents"])]
    return [
        (g, text.removesuffix("<|endoftext|>")) for g, (_, text) in zip(groups, texts, strict=True)
    ]


def test_standalone_shards_cannot_split_by_language(tmp_path):
    cfg = shards_stage.ShardsConfig(tokenizer="tok.json", split_by="language")
    with pytest.raises(ConfigError, match="split_by language needs"):
        shards_stage.run_standalone([], cfg, tmp_path / "out")
