"""Where the filter stages run (`filters_after`), and the language column of `documents`.

Both placements go through the same runner: every stage's counts add up and each reads
what its upstream kept; on a corpus where every near-duplicate cluster gets one filter
decision, the final documents are the same whichever order the stages run in.
"""

from __future__ import annotations

import itertools

import pytest
from test_quality_filters import varied_prose

from thresher.flows import catalog
from thresher.flows.dashboard import runinfo
from thresher.pipelines import io
from thresher.pipelines.config import load_config
from thresher.pipelines.stages import run_order
from thresher.scorers.errors import ConfigError

GERMAN = (
    "Der Hund schläft im Garten, und die Katze sitzt auf dem Dach. Am Abend kommen die "
    "Kinder nach Hause und essen mit ihren Eltern. Danach lesen sie ein Buch über Berge."
)


def corpus() -> list[dict]:
    """Good prose, texts the rules drop, a German text; each with a near-duplicate copy
    (one word added), so near dedup has work and every copy gets its original's verdict."""
    texts = [varied_prose(seed) for seed in range(6)]
    texts += ["# " * 80 + varied_prose(10), "\n".join(["the cat and the dog have a home."] * 9)]
    texts += [GERMAN]
    rows = []
    for i, text in enumerate(texts):
        rows.append({"id": f"d{i:02d}a", "text": text})
        rows.append({"id": f"d{i:02d}b", "text": text + " Indeed."})
    return rows


CONFIG = """
language_id: {keep: [en]}
quality_filters: {gopher_quality: {}, gopher_repetition: {}}
near_dedup: {threshold: 0.7}
"""


def run(cli, tmp_path, run_id: str, config: str) -> dict:
    path = tmp_path / f"{run_id}.yaml"
    path.write_text(config)
    rc, _, err = cli(
        "run", "--input", tmp_path / "in", "--out", tmp_path / "out", "--config", path,
        "--run-id", run_id,
    )  # fmt: skip
    assert rc == 0, err
    return io.read_json(tmp_path / "out" / "runs" / run_id / "run.json")


def stats(tmp_path, run_id: str) -> dict:
    directory = tmp_path / "out" / "runs" / run_id / "stats"
    return {p.stem: io.read_json(p) for p in directory.glob("*.json")}


def test_run_order_moves_the_filter_pair_and_a_bad_value_is_one_line():
    names = [s.name for s in run_order("near_dedup")]
    assert names.index("near_dedup") < names.index("language_id") < names.index("quality_filters")
    assert names.index("quality_filters") < names.index("score")
    names = [s.name for s in run_order()]
    assert names.index("quality_filters") < names.index("near_dedup")
    with pytest.raises(ConfigError) as err:
        load_config(filters_after="score")
    assert "filters_after" in str(err.value) and "\n" not in str(err.value)


def test_both_placements_keep_the_same_documents(cli, jsonl, tmp_path, prefect_api):
    jsonl(tmp_path / "in" / "docs.jsonl", corpus())
    before = run(cli, tmp_path, "before", CONFIG)
    after = run(cli, tmp_path, "after", CONFIG + "filters_after: near_dedup\n")
    run(cli, tmp_path, "plain", "quality_filters: {gopher_quality: {}}\n")

    # the placement is recorded (config) and shows in the order the stages ran
    assert before["config"]["filters_after"] == "exact_dedup"
    assert after["config"]["filters_after"] == "near_dedup"
    assert after["stage_order"] == [
        "ingest", "exact_dedup", "near_dedup", "language_id", "quality_filters"
    ]  # fmt: skip
    assert before["stage_order"] == [
        "ingest", "exact_dedup", "language_id", "quality_filters", "near_dedup"
    ]  # fmt: skip

    for run_id, record in (("before", before), ("after", after)):
        s = stats(tmp_path, run_id)
        names = record["stage_order"]
        for up, down in itertools.pairwise(names):
            assert s[down]["in"] == s[up]["kept"], (run_id, down)
        for one in s.values():
            assert one["in"] == one["kept"] + sum(one["dropped"].values()) + one["rejected"]
    b, a = stats(tmp_path, "before"), stats(tmp_path, "after")
    # after near dedup the filters measure fewer documents (the copies are gone)
    assert a["language_id"]["in"] == a["near_dedup"]["kept"] < b["language_id"]["in"]
    assert b["near_dedup"]["dropped"]["near_duplicate"] >= 1

    con = catalog.connect(tmp_path / "out")
    final = {
        r: con.execute(
            "SELECT id, language FROM documents WHERE run_id = ? ORDER BY id", [r]
        ).fetchall()
        for r in ("before", "after", "plain")
    }
    assert final["before"] == final["after"]
    assert len(final["before"]) >= 6 and {lang for _, lang in final["before"]} == {"en"}
    # without language ID the column is there and NULL
    assert final["plain"] and {lang for _, lang in final["plain"]} == {None}
    # the language is the one language ID wrote for that document
    attrs = dict(
        con.execute(
            "SELECT id, language FROM attributes_language_id WHERE run_id = 'after'"
        ).fetchall()
    )
    assert all(attrs[i] == lang for i, lang in final["after"])

    # the dashboard lists the stages in the order this run ran them
    summary = runinfo.load(tmp_path / "out" / "runs" / "after")
    assert summary.stage_names == after["stage_order"]
    assert summary.docs_final == a["quality_filters"]["kept"] == len(final["after"])

    # resume: the same config again finishes with every stage skipped
    again = run(cli, tmp_path, "after", CONFIG + "filters_after: near_dedup\n")
    assert all(v["skipped"] for v in again["stages"].values())
