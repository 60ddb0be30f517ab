"""The CLI end to end: the demo through the curate flow, queries, one-line user errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory, prefect_api):
    """One demo run shared by the tests below (it is the slow part)."""
    from thresher.flows.cli import main

    out = tmp_path_factory.mktemp("demo") / "thresher-out"
    assert main(["run", "--out", str(out)]) == 0
    return out


def test_demo_run_prints_funnel_and_writes_layout(demo_out):
    runs = list((demo_out / "runs").iterdir())
    assert len(runs) == 1
    run = runs[0]
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "succeeded"
    assert record["versions"]["apache-beam"]
    for stage in ("ingest", "exact_dedup"):
        stats = json.loads((run / "stats" / f"{stage}.json").read_text())
        assert {"in", "kept", "dropped", "rejected", "seconds"} <= stats.keys()
        assert stats["in"] == stats["kept"] + sum(stats["dropped"].values()) + stats["rejected"]
    assert list((run / "documents" / "stage=ingest").glob("part-*.parquet"))
    assert list((run / "rejects" / "stage=ingest").glob("part-*.parquet"))
    assert not list(run.rglob(".tmp-*")) and not any((run / ".staging").iterdir())


def test_demo_rerun_resumes_and_changes_nothing(demo_out, cli):
    run = next((demo_out / "runs").iterdir())
    before = {p: p.read_bytes() for p in run.rglob("*.parquet")}
    code, out, _ = cli("run", "--out", demo_out)
    assert code == 0
    funnel = printed_funnel(out)
    assert list(funnel) == ["ingest", "exact_dedup", "near_dedup", "score", "shards"]
    for stage, row in funnel.items():  # the printed numbers are the stage's stats, all skipped
        stats = json.loads((run / "stats" / f"{stage}.json").read_text())
        assert row == {
            "in": stats["in"],
            "kept": stats["kept"],
            "dropped": sum(stats["dropped"].values()),
            "rejected": stats["rejected"],
            "skipped": "True",
        }, stage
    assert {p: p.read_bytes() for p in run.rglob("*.parquet")} == before


def printed_funnel(out: str) -> dict[str, dict]:
    """The funnel table `thresher run` prints: stage -> its numbers and skipped flag."""
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["stage", "in"])
    rows = {}
    for line in lines[header + 2 :]:
        cells = line.split()
        if len(cells) != 7:
            break
        stage, n_in, kept, dropped, rejected, _seconds, skipped = cells
        rows[stage] = {
            "in": int(n_in),
            "kept": int(kept),
            "dropped": int(dropped),
            "rejected": int(rejected),
            "skipped": skipped,
        }
    return rows


def test_query_counts_match_stats(demo_out, cli):
    import pyarrow.parquet as pq

    run = next((demo_out / "runs").iterdir())

    def stats(stage):
        return json.loads((run / "stats" / f"{stage}.json").read_text())

    record = json.loads((run / "run.json").read_text())
    final_rows = sum(
        pq.ParquetFile(p).metadata.num_rows
        for p in (run / record["final_documents"]).glob("part-*.parquet")
    )
    code, out, _ = cli(
        "query",
        "--out",
        demo_out,
        "--format",
        "json",
        "SELECT (SELECT count(*) FROM rejects) AS rejects, "
        "(SELECT count(*) FROM duplicates WHERE kind = 'exact') AS exact, "
        "(SELECT count(*) FROM duplicates WHERE kind = 'near') AS near, "
        "(SELECT count(*) FROM documents) AS docs, "
        "(SELECT sum(rejected) FROM stage_stats) AS stat_rejects, "
        "(SELECT count(*) FROM runs WHERE status = 'succeeded') AS runs",
    )
    assert code == 0
    row = json.loads(out)[0]
    assert row["rejects"] == stats("ingest")["rejected"] == row["stat_rejects"]
    assert row["exact"] == stats("exact_dedup")["dropped"]["exact_duplicate"] > 0
    assert row["near"] == stats("near_dedup")["dropped"]["near_duplicate"] > 0
    assert row["docs"] == final_rows > 0
    assert row["runs"] == 1
    code, out, _ = cli(
        "query",
        "--out",
        demo_out,
        "--format",
        "csv",
        "SELECT reason, count(*) AS n FROM rejects GROUP BY ALL ORDER BY reason",
    )
    reasons = dict(line.split(",") for line in out.strip().splitlines()[1:])
    assert set(reasons) >= {
        "invalid_json",
        "invalid_utf8",
        "missing_text",
        "text_not_string",
        "empty_text",
        "text_too_long",
        "duplicate_id",
        "unreadable_file",
    }


def test_query_is_read_only(demo_out, cli):
    code, _, err = cli("query", "--out", demo_out, "COPY (SELECT 1) TO 'x.csv'")
    assert code == 1 and err.count("\n") == 1 and "read-only" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--input", "/nonexistent/*.jsonl", "--out", "{tmp}"], "no input files match"),
        (["run", "--config", "{tmp}/missing.yaml"], "does not exist"),
        (["run", "--config", "{tmp}/bad.yaml", "--out", "{tmp}"], "ingest.max_chars"),
        (
            ["run", "--config", "{tmp}/typo.yaml", "--out", "{tmp}"],
            "unknown setting 'exact_dedup.lowercas'",
        ),
        (["query", "--out", "{tmp}/none", "SELECT 1"], "does not exist"),
        (["query", "--out", "{tmp}", "SELEC nonsense"], "SQL error"),
    ],
)
def test_user_errors_are_one_line_exit_1(tmp_path, cli, args, message):
    (tmp_path / "bad.yaml").write_text("ingest:\n  max_chars: 0\n")
    (tmp_path / "typo.yaml").write_text("exact_dedup:\n  lowercas: false\n")
    code, out, err = cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert code == 1
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err + out


def test_help_lists_commands(cli):
    code, out, _ = cli("--help")
    assert code == 0
    assert "run" in out and "query" in out
    from thresher.pipelines.stages import STAGES

    # the help's stage line is the real stage list, in run order
    order = " -> ".join(s.name + (" (optional)" if s.optional else "") for s in STAGES)
    assert order in out
    code, out, _ = cli("run", "--help")
    assert code == 0 and "--input" in out and "Beam" in out


def test_beam_flags_pass_through_unchanged():
    from apache_beam.options.pipeline_options import DebugOptions, DirectOptions

    from thresher.pipelines.beam_util import make_pipeline

    p = make_pipeline(["--experiments", "thresher_test_flag"])
    assert "thresher_test_flag" in p.options.view_as(DebugOptions).experiments
    assert type(p.runner).__name__ == "FnApiRunner"  # never the downloading Prism runner
    assert p.options.view_as(DirectOptions).direct_running_mode == "multi_threading"  # default
    # a flag the user gives wins over the default, even without its companion flag
    p = make_pipeline(["--direct_running_mode=multi_processing"])
    assert p.options.view_as(DirectOptions).direct_running_mode == "multi_processing"
    assert (
        make_pipeline(["--direct_num_workers=3"]).options.view_as(DirectOptions).direct_num_workers
        == 3
    )


def test_demo_corpus_is_deterministic(tmp_path):
    from thresher.flows.demo import write_demo_corpus

    a = write_demo_corpus(tmp_path / "a")
    b = write_demo_corpus(tmp_path / "b")
    for pa_, pb in zip(a, b, strict=True):
        assert Path(pa_).read_bytes() == Path(pb).read_bytes()


def test_documents_view_leaves_out_what_exact_dedup_removed(tmp_path, cli, jsonl, prefect_api):
    """Exact dedup writes only its decisions; with near dedup off, the run's documents are
    ingest's minus those, in the view as in run.json."""
    recs = [{"id": f"d{i:02d}", "text": f"Text number {i % 7}."} for i in range(30)]
    src = jsonl(tmp_path / "in.jsonl", recs)
    (tmp_path / "cfg.yaml").write_text("near_dedup: {enabled: false}\n")
    code, _, err = cli(
        "run", "--input", src, "--out", tmp_path / "out", "--config", tmp_path / "cfg.yaml"
    )
    assert code == 0, err
    run = next((tmp_path / "out" / "runs").iterdir())
    assert (
        json.loads((run / "run.json").read_text())["final_documents"]
        == "documents/stage=ingest - dedup/exact"
    )
    code, out, _ = cli(
        "query",
        "--out",
        tmp_path / "out",
        "--format",
        "json",
        "SELECT (SELECT count(*) FROM documents) AS docs, "
        "(SELECT count(*) FROM documents WHERE id IN (SELECT id FROM exact_duplicates)) AS leaked, "
        "(SELECT list(id ORDER BY id) FROM documents) AS ids",
    )
    row = json.loads(out)[0]
    assert row["docs"] == 7 and row["leaked"] == 0
    assert row["ids"] == [f"d{i:02d}" for i in range(7)]  # the smallest id of each text is kept


def test_stage_counts_and_the_run_report_reach_the_prefect_api(demo_out):
    """The Prefect UI shows each stage's counts (log lines) and the run report (a markdown
    artifact with the funnel, reasons and reject samples)."""
    import time

    from prefect.client.orchestration import get_client

    run = next((demo_out / "runs").iterdir())
    near = json.loads((run / "stats" / "near_dedup.json").read_text())
    line = f"near_dedup: in {near['in']}, kept {near['kept']}"
    with get_client(sync_client=True) as client:
        for _ in range(100):  # logs are shipped in the background
            if any(line in log.message for log in client.read_logs()):
                break
            time.sleep(0.2)
        assert any(line in log.message for log in client.read_logs())
        reports = [a for a in client.read_artifacts() if a.key == "curate-report"]
    assert reports and any(f"# Run {run.name}" in r.data for r in reports)
    report = next(r.data for r in reports if f"# Run {run.name}" in r.data)
    assert f"| near_dedup | {near['in']} | {near['kept']} |" in report
    assert "## Reject samples" in report and "invalid_json" in report
