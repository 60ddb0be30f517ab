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
from pathlib import Path

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


def test_flow_commands_are_exactly_the_commands_that_start_a_flow():
    """The temporary Prefect API starts from the command word, before parsing: the list it
    reads must name every command whose parser says it runs a flow, and only those."""
    from thresher.flows.cli import FLOW_COMMANDS, build_parser

    parser = build_parser()
    (commands,) = [a for a in parser._actions if a.dest == "command"]
    flows = {n for n, p in commands.choices.items() if p.get_default("starts_flow")}
    assert flows == FLOW_COMMANDS


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["run", "--input", "x"], True),
        (["--debug", "dedup", "--input", "x", "--", "--direct_num_workers", "2"], True),
        (["run", "--help"], False),
        (["--version"], False),
        (["query", "--out", "x", "SELECT 1"], False),
        ([], False),
    ],
)
def test_starts_flow_reads_the_command_word(argv, expected):
    from thresher.flows.cli import starts_flow

    assert starts_flow(argv) is expected


def test_console_entry_keeps_exit_codes_and_everything_printed(tmp_path):
    """`entry` skips the interpreter's teardown: exit codes and all of a piped (so block
    buffered) stdout must still come out."""

    def thresher(*args):
        command = [sys.executable, "-m", "thresher.flows.cli", *args]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
        return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)

    printed = thresher("config")
    assert printed.returncode == 0, printed.stderr
    example = Path(__file__).parent.parent / "infra" / "run.example.yaml"
    assert printed.stdout.strip() == example.read_text().strip()
    failed = thresher("query", "--out", str(tmp_path), "SELEC")
    assert failed.returncode == 1
    assert failed.stderr.startswith("thresher: error:") and failed.stderr.endswith("\n")


def test_console_entry_still_runs_exit_handlers(tmp_path):
    """Skipping the teardown must not skip cleanup registered to run at exit (temporary
    directories of a query's DuckDB connection, logging's flush)."""
    marker = tmp_path / "ran"
    script = (
        "import atexit, sys\n"
        f"atexit.register(lambda: open({str(marker)!r}, 'w').write('ran'))\n"
        "sys.argv = ['thresher', 'config']\n"
        "from thresher.flows.cli import entry\n"
        "entry()\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert marker.read_text() == "ran"
