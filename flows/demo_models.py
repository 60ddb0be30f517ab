"""The demo's own models, trained on the demo corpus (nothing is downloaded): a small
fastText quality scorer and a small byte-level BPE tokenizer, each written once under
the output root and reused by later demo runs."""

from __future__ import annotations

from pathlib import Path

from thresher.pipelines import io
from thresher.pipelines.records import ReaderSettings, RecordReader

DEMO_SETTINGS = {"ingest": {"max_chars": 100_000}}


def _texts_by_source(demo_dir: Path) -> dict[str, list[str]]:
    reader = RecordReader(ReaderSettings())
    by_source: dict[str, list[str]] = {}
    for f in io.expand_inputs([str(demo_dir)]):
        for docs, _, _ in reader.read_file(f):
            for src, text in zip(docs["source"].to_pylist(), docs["text"].to_pylist(), strict=True):
                by_source.setdefault(src, []).append(text)
    return by_source


def demo_shards_settings(out: Path, demo_dir: Path) -> dict:
    """A 4k-token byte-level BPE trained on the demo corpus, at <out>/demo-tokenizer/."""
    path = (out / "demo-tokenizer" / "tokenizer.json").resolve()
    if not path.exists():
        from thresher.scorers.text_tokenizers import train_byte_level_bpe

        texts = [t for ts in _texts_by_source(demo_dir).values() for t in ts]
        io.write_text(train_byte_level_bpe(texts, 4096).to_str(), path)
    return {"tokenizer": str(path), "name": "demo", "shard_tokens": 250_000}


def demo_score_settings(out: Path, demo_dir: Path) -> dict:
    """A fastText scorer trained on the demo's known quality tiers (edited prose positive;
    spam and forum chatter negative), at <out>/demo-scorer/model.bin."""
    path = (out / "demo-scorer" / "model.bin").resolve()
    if not path.exists():
        from thresher.scorers.scorer_training import TrainSettings, train_fasttext

        tiers = _texts_by_source(demo_dir)
        settings = TrainSettings(dim=32, bucket=50_000, epoch=10, valid_fraction=0.1)
        model, _ = train_fasttext(
            tiers.get("news", []), tiers.get("spam", []) + tiers.get("forum", []), settings
        )
        io.write_with(model.save_model, path)
    return {"model": str(path), "name": "demo-quality", "keep_top_chars": 0.3}
