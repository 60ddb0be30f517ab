"""A strict command line: typos and stray words are one-line errors, Beam options only after
`--` (checked by Beam's own parser), `--version`, an unreachable Prefect API in one line,
and no process-wide logging or warning changes."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import warnings

import pytest

DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"


@pytest.fixture
def tiny(jsonl, tmp_path):
    """A two-document input file and a not-yet-existing output root."""
    path = jsonl(
        tmp_path / "in.jsonl",
        [
            {"id": "a", "text": "the first little document"},
            {"id": "b", "text": "a second one, rather different"},
        ],
    )
    return path, tmp_path / "out"


def one_line_error(code: int, out: str, err: str) -> str:
    assert code == 1, err
    assert out == "" and err.startswith("thresher: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "usage:" not in err
    return err.strip()


def test_option_typo_suggests_the_option_and_runs_nothing(cli, tiny):
    path, out = tiny
    err = one_line_error(*cli("dedup", "--treshold", "0.5", "--input", path, "--out", out))
    assert err == "thresher: error: unknown option --treshold; did you mean --threshold?"
    assert not out.exists()


def test_unknown_option_without_a_close_match_points_to_help(cli, tiny):
    path, out = tiny
    err = one_line_error(*cli("run", "--input", path, "--out", out, "--zzzzzz"))
    assert "unknown option --zzzzzz" in err and "`thresher run --help`" in err
    assert not out.exists()


@pytest.mark.parametrize("command", ["run", "dedup"])
def test_stray_positional_suggests_input(cli, tiny, command):
    path, out = tiny
    err = one_line_error(*cli(command, path, "--out", out))
    assert f"unexpected argument '{path}'" in err and f"--input {path}" in err
    assert not out.exists()  # the demo corpus was not used instead


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["rnu"], "unknown command 'rnu'; did you mean 'run'?"),
        (["mixture", "infr"], "unknown mixture subcommand 'infr'; did you mean 'infer'?"),
        ([], "the following arguments are required: COMMAND"),
        (["query"], "the following arguments are required: sql"),
        (["dedup", "--threshold", "abc"], "argument --threshold: invalid float value: 'abc'"),
        (["query", "--format", "xml", "SELECT 1"], "invalid choice: 'xml'"),
    ],
)
def test_argparse_errors_are_one_line_exit_1(cli, args, needle):
    assert needle in one_line_error(*cli(*args))


def test_beam_options_after_double_dash_reach_the_run(cli, tiny, prefect_api):
    path, out = tiny
    code, _, err = cli("dedup", "--input", path, "--out", out, "--", "--direct_num_workers=1")
    assert code == 0, err
    record = json.loads(next((out / "runs").glob("*/run.json")).read_text())
    assert record["status"] == "succeeded"
    assert record["config"]["beam_args"] == ["--direct_num_workers=1"]


@pytest.mark.parametrize(
    ("beam", "needle"),
    [
        (
            ["--direct_num_worker=1"],
            "unknown Beam option --direct_num_worker; did you mean --direct_num_workers?",
        ),
        (["--direct_num_workers=abc"], "--direct_num_workers: invalid int value: 'abc'"),
        (["--runner", "NoSuchRunner"], "Beam runner 'NoSuchRunner'"),
        # a runner's own options are known once --runner names it
        (
            ["--runner", DASK_RUNNER, "--dask_client_addres", "tcp://h:1"],
            "did you mean --dask_client_address?",
        ),
        (["stray"], "unexpected Beam argument 'stray'"),
    ],
)
def test_bad_beam_options_are_one_line_and_run_nothing(cli, tiny, beam, needle):
    path, out = tiny
    err = one_line_error(*cli("dedup", "--input", path, "--out", out, "--", *beam))
    assert needle in err
    assert not out.exists()


def test_beam_options_for_a_command_without_beam(cli, tmp_path):
    err = one_line_error(
        *cli("query", "--out", tmp_path, "SELECT 1", "--", "--direct_num_workers=1")
    )
    assert "`thresher query` takes no Beam options" in err


def test_version(cli):
    from thresher import __version__

    code, out, err = cli("--version")
    assert code == 0 and out == f"thresher {__version__}\n" and err == ""


def test_debug_is_accepted_after_the_command_and_shows_the_error(cli, tmp_path):
    from thresher.scorers.errors import UserError

    with pytest.raises(UserError, match="does not exist"):
        cli("query", "--debug", "--out", tmp_path / "missing", "SELECT 1")


def test_main_changes_no_process_wide_logging_or_warnings(cli):
    from thresher.flows.prefect_env import _HideUserErrors

    root_level = logging.getLogger().level
    filters = list(warnings.filters)
    for _ in range(3):
        assert cli("--version")[0] == 0
    assert logging.getLogger().level == root_level
    assert warnings.filters == filters
    for name in ("prefect.flow_runs", "prefect.task_runs", "prefect.engine"):
        hiders = [f for f in logging.getLogger(name).filters if isinstance(f, _HideUserErrors)]
        assert len(hiders) == 1, name  # added once, however often main() runs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_prefect_api_is_one_line(tiny):
    path, out = tiny
    api = f"http://127.0.0.1:{_free_port()}/api"
    env = {**os.environ, "PREFECT_API_URL": api}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "thresher.flows.cli",
            "dedup",
            "--input",
            str(path),
            "--out",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith(f"thresher: error: cannot reach the Prefect API at {api}")
    assert "prefect server start" in proc.stderr
