"""`thresher dashboard` on the command line: one-line errors for every mistake a user can
make before the server starts, and the pieces of the app that need no browser."""

from __future__ import annotations

import json
import socket

import pytest


def fake_run(out, run_id="r1", **record):
    run = out / "runs" / run_id
    (run / "stats").mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"run_id": run_id, "status": "succeeded", **record}))
    return run


def one_line_error(result, *words):
    code, out, err = result
    assert code == 1, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("thresher: error: "), err
    for w in words:
        assert w in lines[0], lines[0]


def test_a_missing_out_is_one_line_and_an_empty_one_says_no_runs_yet(cli, tmp_path):
    from starlette.testclient import TestClient

    from thresher.flows.dashboard.app import create_app

    one_line_error(cli("dashboard", "--out", tmp_path / "missing"), "does not exist")
    (tmp_path / "empty").mkdir()  # a service's output root before its first scheduled run
    page = TestClient(create_app(tmp_path / "empty"), base_url="http://127.0.0.1").get("/")
    assert page.status_code == 200 and "No runs under this output directory yet" in page.text


def test_non_loopback_host_needs_a_token(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("THRESHER_DASHBOARD_TOKEN", raising=False)
    fake_run(tmp_path)
    one_line_error(cli("dashboard", "--out", tmp_path, "--host", "0.0.0.0"), "--token")


def test_port_in_use_is_one_line(cli, tmp_path):
    fake_run(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        one_line_error(
            cli("dashboard", "--out", tmp_path, "--port", port), f"port {port}", "in use"
        )


def test_bad_port_and_unknown_option(cli, tmp_path):
    fake_run(tmp_path)
    one_line_error(cli("dashboard", "--out", tmp_path, "--port", "70000"), "not a port")
    one_line_error(cli("dashboard", "--prot", "1"), "did you mean --port")


def test_loopback_check():
    from thresher.flows.dashboard.access import check_bind, is_loopback
    from thresher.scorers.errors import UserError

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    check_bind("0.0.0.0", "t")
    with pytest.raises(UserError):
        check_bind("0.0.0.0", None)


def test_sudden_change_rule():
    from thresher.flows.dashboard.pages.trends import sudden_changes

    assert sudden_changes([100, 102, 98, 101, 160]) == [False] * 4 + [True]
    assert sudden_changes([0.10, 0.11, 0.10]) == [False] * 3
    assert sudden_changes([0.10, 0.10, 0.30]) == [False, False, True]
    assert sudden_changes([None, 5, None]) == [False] * 3


def test_diff_marks_only_the_edited_words():
    from thresher.flows.dashboard.textdiff import side_by_side

    keeper, other, cut = side_by_side("one two three four", "one two 3 four five")
    assert not cut
    assert "".join(s.text for s in keeper) == "one two three four"
    assert "".join(s.text for s in other) == "one two 3 four five"
    assert [s.text.strip() for s in keeper if s.changed] == ["three"]
    assert [s.text.strip() for s in other if s.changed] == ["3", "five"]


def test_interrupted_run_is_not_shown_as_running(tmp_path):
    from thresher.flows.dashboard import runinfo
    from thresher.pipelines import runlock

    run = fake_run(tmp_path, status="running")
    assert runinfo.load(run).status == "interrupted"  # nobody holds its lock
    with runlock.hold(run):
        assert runinfo.load(run).status == "running"


def test_link_artifact_only_with_a_dashboard_url(monkeypatch):
    from thresher.flows.dashboard import links

    monkeypatch.delenv(links.URL_ENV, raising=False)
    assert links.publish_run_link("r1") is None
    monkeypatch.setenv(links.URL_ENV, "http://host:8765/")
    assert links.run_page_url("run/1") == "http://host:8765/runs/run%2F1"
