"""`thresher dashboard` in a real browser (Debian's chromium through Playwright) over real
runs of the curate flow: every page loads without console errors, the funnel equals the
stats files, every planted reject reason is listed, planted markup stays text, and a
token, when set, is required on every request.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from chromium import CHROMIUM, launch  # tests/ is on sys.path (pytest rootdir conftest)

XSS = '<script>window.__x=1</script><img src=x onerror="window.__x=2">'
XSS_SOURCE = "<img src=x onerror=window.__x=3>"
PLANTED_REJECTS = {
    "invalid_json",
    "invalid_utf8",
    "not_an_object",
    "missing_text",
    "text_not_string",
    "empty_text",
    "text_too_long",
    "duplicate_id",
    "corrupt_file",
    "unreadable_file",
}
PLANTED_DROPS = {"exact_duplicate", "near_duplicate", "below_quality_threshold"}


def write_inputs(directory: Path) -> None:
    """The demo corpus (small) plus a file of planted markup: a document whose text is a
    script, its exact copy, markup in a source name and metadata, and a broken record
    holding a script (an invalid_json reject with that raw text)."""
    from thresher.flows.demo import write_demo_corpus

    write_demo_corpus(directory, docs_per_source=40)
    planted = [
        json.dumps({"id": "xss-1", "text": XSS, "source": XSS_SOURCE, "note": XSS}),
        json.dumps({"id": "xss-2", "text": XSS, "source": XSS_SOURCE}),
        '{"id": "xss-bad", "text": "<script>window.__x=4</script>',
    ]
    (directory / "planted-<b>&.jsonl").write_text("\n".join(planted) + "\n")


@pytest.fixture(scope="module")
def out(tmp_path_factory, prefect_api):
    """Two real runs in one --out (the second without scores or shards, so those pages
    have nothing to show and Trends has two points), plus a failed and a running run made
    from copies of the first (their run.json edited, the running one's lock held)."""
    import yaml

    from thresher.flows.cli import main
    from thresher.flows.demo_models import demo_score_settings, demo_shards_settings
    from thresher.pipelines import runlock

    root = tmp_path_factory.mktemp("dashboard")
    out, inputs = root / "out", root / "inputs"
    write_inputs(inputs)
    full = {
        "ingest": {"max_chars": 100_000},
        "score": demo_score_settings(out, inputs),
        "shards": demo_shards_settings(out, inputs),
    }
    (root / "full.yaml").write_text(yaml.safe_dump(full))
    (root / "lean.yaml").write_text(
        yaml.safe_dump({"ingest": {"max_chars": 100_000}, "near_dedup": {"threshold": 0.6}})
    )
    os.environ["THRESHER_DASHBOARD_URL"] = "http://dash.example:8765/"
    try:
        args = ["run", "--input", str(inputs), "--out", str(out)]
        assert main([*args, "--config", str(root / "full.yaml"), "--run-id", "nightly-1"]) == 0
    finally:
        del os.environ["THRESHER_DASHBOARD_URL"]
    assert main([*args, "--config", str(root / "lean.yaml"), "--run-id", "nightly-2"]) == 0

    runs = out / "runs"
    failed = runs / "zz-failed"
    shutil.copytree(runs / "nightly-1", failed)
    edit_record(failed, status="failed", error="RuntimeError: " + XSS)
    running = runs / "zz-running"
    shutil.copytree(runs / "nightly-1", running)
    for stage in ("score", "shards"):
        (running / "stats" / f"{stage}.json").unlink()
    edit_record(running, status="running", finished_at=None, seconds=None)
    counts = running / ".staging" / "score-0badcafe" / "_counts"
    counts.mkdir(parents=True)
    (counts / "score-0.json").write_text(json.dumps({"in": 50}))
    with runlock.hold(running):
        yield out


def edit_record(run_dir: Path, **changes) -> None:
    path = run_dir / "run.json"
    record = json.loads(path.read_text())
    record.update(changes, run_id=run_dir.name)
    path.write_text(json.dumps(record))


@pytest.fixture(scope="module")
def base(out):
    from thresher.flows.dashboard.server import running

    with running(str(out)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"the dashboard tests need Debian's chromium at {CHROMIUM}: "
            "`apt-get install -y chromium` (.ci/run installs it)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = launch(pw)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh page that records console errors and uncaught exceptions."""
    context = browser.new_context()
    p = context.new_page()
    p.errors = []
    p.on("console", lambda m: m.type == "error" and p.errors.append(m.text))
    p.on("pageerror", lambda e: p.errors.append(str(e)))
    yield p
    context.close()


def visit(page, url: str, status: int = 200):
    response = page.goto(url, wait_until="load")
    assert response.status == status, f"{url}: HTTP {response.status}"
    assert page.errors == [], f"{url}: console errors {page.errors}"
    assert page.evaluate("typeof window.__x") == "undefined", f"{url}: planted script ran"
    assert page.locator("img[src=x]").count() == 0, f"{url}: planted markup became an element"
    return response


def run_pages(run: str) -> list[str]:
    r = f"/runs/{quote(run)}"
    return [
        r,
        f"{r}/rejects",
        f"{r}/duplicates",
        f"{r}/duplicates?kind=exact",
        f"{r}/duplicates?kind=exact&keeper=xss-1",
        f"{r}/scores",
        f"{r}/mixture",
        f"{r}/shards",
        f"{r}/shards?checksums=1",
        f"{r}/document",
        f"{r}/document?id=xss-1",
        f"{r}/document?id=xss-2",
        f"{r}/document?id=no-such-id",
    ]


def stats(out: Path, run: str) -> dict[str, dict]:
    return {
        p.stem: json.loads(p.read_text()) for p in (out / "runs" / run / "stats").glob("*.json")
    }


def test_every_page_loads_without_console_errors(out, base, page):
    paths = ["/", "/trends"]
    for run in ("nightly-1", "nightly-2", "zz-failed", "zz-running"):
        paths += run_pages(run)
    near = json.loads((out / "runs" / "nightly-1" / "stats" / "near_dedup.json").read_text())
    assert near["clusters"] > 0
    keeper = page_text_first_keeper(out)
    paths.append(f"/runs/nightly-1/duplicates?kind=near&keeper={quote(keeper)}")
    for reason in sorted(PLANTED_REJECTS):
        paths.append(f"/runs/nightly-1/rejects?stage=ingest&reason={reason}&kind=rejected")
    for reason in sorted(PLANTED_DROPS):
        paths.append(
            f"/runs/nightly-1/rejects?reason={reason}&kind=dropped&stage="
            + {
                "exact_duplicate": "exact_dedup",
                "near_duplicate": "near_dedup",
                "below_quality_threshold": "score",
            }[reason]
        )
    for path in paths:
        visit(page, base + path)
    # charts are drawn (Plotly ran and made its SVG), from the package's own copy
    visit(page, base + "/runs/nightly-1/scores")
    assert page.locator("#score-histogram .main-svg").count() > 0
    visit(page, base + "/runs/nightly-1")
    assert page.locator("#funnel-chart .main-svg").count() > 0


def page_text_first_keeper(out: Path) -> str:
    import pyarrow.parquet as pq

    table = pq.read_table(out / "runs" / "nightly-1" / "dedup" / "clusters.parquet")
    return sorted(table.column("cluster_id").to_pylist())[0]


def test_unknown_run_is_a_404_page(base, page):
    visit_status = page.goto(base + "/runs/no-such-run", wait_until="networkidle").status
    assert visit_status == 404
    assert "no run no-such-run" in page.inner_text("main")


def test_funnel_on_the_page_equals_the_stats_files(out, base, page):
    for run in ("nightly-1", "nightly-2"):
        visit(page, f"{base}/runs/{run}")
        shown = {}
        for row in page.locator("table.funnel tbody tr").all():
            cells = {
                f: int(row.locator(f"td[data-field={f}]").inner_text())
                for f in ("in", "kept", "dropped", "rejected")
            }
            shown[row.get_attribute("data-stage")] = cells
        expected = {
            stage: {
                "in": s["in"],
                "kept": s["kept"],
                "dropped": sum(s["dropped"].values()),
                "rejected": s["rejected"],
            }
            for stage, s in stats(out, run).items()
        }
        assert shown == expected
        order = list(shown)
        assert order[0] == "ingest" and order.index("exact_dedup") < order.index("near_dedup")


def test_reject_page_lists_every_planted_reason_with_file_and_line(out, base, page):
    visit(page, base + "/runs/nightly-1/rejects")
    listed = {
        (row.get_attribute("data-kind"), row.get_attribute("data-reason"))
        for row in page.locator("table.reasons-table tbody tr").all()
    }
    assert {("rejected", r) for r in PLANTED_REJECTS} <= listed
    assert {("dropped", r) for r in PLANTED_DROPS} <= listed
    ingest = stats(out, "nightly-1")["ingest"]
    for reason, n in ingest["rejected_by_reason"].items():
        visit(page, f"{base}/runs/nightly-1/rejects?stage=ingest&reason={reason}&kind=rejected")
        rows = page.locator("table.samples tbody tr")
        assert rows.count() == min(n, 20), reason
        file_cell, line_cell = rows.first.locator("td").nth(0), rows.first.locator("td").nth(1)
        assert file_cell.inner_text().strip(), reason
        if reason != "unreadable_file":
            assert int(line_cell.inner_text()) >= 1, reason
    visit(page, f"{base}/runs/nightly-1/rejects?stage=ingest&reason=invalid_json&kind=rejected")
    assert "<script>window.__x=4</script>" in page.inner_text("table.samples")
    assert "planted-<b>&.jsonl" in page.inner_text("table.samples")


def test_planted_markup_shows_as_text_and_never_runs(out, base, page):
    visit(page, base + "/runs/nightly-1/document?id=xss-1")
    assert page.inner_text("#doc-text") == XSS
    assert XSS_SOURCE in page.inner_text("main")
    assert json.loads(page.inner_text("pre.metadata"))["note"] == XSS
    visit(page, base + "/runs/nightly-1/duplicates?kind=exact&keeper=xss-1")
    assert page.inner_text(".pair .side.keeper .text") == XSS
    assert page.inner_text(".pair .side.removed .text") == XSS
    visit(page, base + "/")  # the failed run's error message holds the script
    assert "RuntimeError: " + XSS in page.inner_text("tr[data-run=zz-failed]")
    visit(page, base + "/runs/zz-failed")
    assert "RuntimeError: " + XSS in page.inner_text("main")
    visit(page, base + "/runs/nightly-1/scores")  # the planted source is a chart label too
    assert page.evaluate("typeof window.__x") == "undefined"
    # what each stage did to the script document: kept by ingest, the copy removed
    visit(page, base + "/runs/nightly-1/document?id=xss-2")
    outcomes = {
        r.get_attribute("data-stage"): r.locator("td").nth(1).inner_text()
        for r in page.locator("table.timeline tbody tr").all()
    }
    assert outcomes["ingest"] == "kept" and outcomes["exact_dedup"] == "removed"
    assert outcomes["near_dedup"] == "not reached"


def test_runs_page_shows_status_progress_and_refreshes_while_running(out, base, page):
    visit(page, base + "/")
    order = [r.get_attribute("data-run") for r in page.locator("table.runs tbody tr").all()]
    assert set(order) == {"nightly-1", "nightly-2", "zz-failed", "zz-running"}
    started = [json.loads((out / "runs" / r / "run.json").read_text())["started_at"] for r in order]
    assert started == sorted(started, reverse=True)  # newest first
    running = page.locator("tr[data-run=zz-running]")
    assert "running" in running.locator(".status").inner_text()
    assert running.locator(".progress").get_attribute("data-stage") == "score"
    assert page.locator("meta[http-equiv=refresh]").count() == 1
    assert "failed" in page.locator("tr[data-run=zz-failed] .status").inner_text()
    n1 = page.locator("tr[data-run=nightly-1]").inner_text()
    tokens = stats(out, "nightly-1")["shards"]["tokens"]
    assert f"{tokens:,}" in n1 and "succeeded" in n1


def test_pages_without_data_say_so(base, page):
    visit(page, base + "/runs/nightly-2/scores")
    assert "no quality scores" in page.inner_text("main")
    visit(page, base + "/runs/nightly-2/shards")
    assert "has no shards" in page.inner_text("main")
    visit(page, base + "/runs/nightly-2/mixture")
    assert "wrote no shards" in page.inner_text("main")


def test_trends_mark_a_sudden_change(base, page):
    visit(page, base + "/trends")
    # nightly-2 has no score stage: it keeps many more documents than nightly-1
    kept = page.locator("table.trends tbody tr", has_text="documents kept")
    assert kept.locator("td.sudden").count() >= 1
    assert page.locator(".chart .main-svg").count() >= 2


def test_finished_run_links_prefect_and_dashboard(out):
    from concurrent.futures import ThreadPoolExecutor

    from prefect.artifacts import Artifact

    record = json.loads((out / "runs" / "nightly-1" / "run.json").read_text())
    assert record["prefect"]["flow_run_id"]
    # Playwright's sync API keeps an event loop on this thread: ask Prefect from another
    with ThreadPoolExecutor(1) as pool:
        artifact = pool.submit(Artifact.get, "curate-dashboard").result()
    assert artifact is not None and "http://dash.example:8765/runs/nightly-1" in artifact.data


def test_token_is_required_on_every_request_when_set(out, browser):
    from thresher.flows.dashboard.server import running

    with running(str(out), token="s3cret-token") as url:
        for path in ("/", "/runs/nightly-1", "/static/style.css", "/static/plotly.min.js"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(url + path, timeout=10)
            assert refused.value.code == 401, path
            wrong = urllib.request.Request(url + path, headers={"Authorization": "Bearer nope"})
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(wrong, timeout=10)
            assert refused.value.code == 401, path
            right = urllib.request.Request(
                url + path, headers={"Authorization": "Bearer s3cret-token"}
            )
            assert urllib.request.urlopen(right, timeout=10).status == 200, path
        context = browser.new_context()
        p = context.new_page()
        assert p.goto(url + "/runs/nightly-1").status == 401
        # once with ?token=: a cookie, and the token leaves the address bar
        assert p.goto(url + "/runs/nightly-1?token=s3cret-token").status == 200
        assert "token" not in p.url
        assert p.goto(url + "/runs/nightly-1/scores", wait_until="networkidle").status == 200
        assert p.locator("#score-histogram .main-svg").count() > 0  # static files got through
        context.close()


def test_only_get_requests_are_served(base):
    request = urllib.request.Request(base + "/runs/nightly-1", data=b"x=1", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 405


def test_foreign_host_header_is_refused_on_loopback(base):
    request = urllib.request.Request(base + "/", headers={"Host": "evil.example"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400
