"""Installing Thresher adds one import package, `thresher`: a user's own `pipelines` package
(or another distribution's) keeps working next to it."""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

USER_CHECK = """
import importlib.util, sys
import pipelines.io  # the user's own module, not Thresher's
assert pipelines.io.OWNER == "user", pipelines.io.__file__
import thresher
from thresher.flows.catalog import connect
from thresher.pipelines import io as thresher_io
assert thresher_io.__name__ == "thresher.pipelines.io"
assert "site-packages" in thresher.__file__, thresher.__file__
for name in ("scorers", "flows"):
    assert importlib.util.find_spec(name) is None, f"{name} is importable on its own"
from importlib.resources import files
dashboard = files("thresher.flows.dashboard")  # its templates and static files are package data
for name in ("templates/base.html", "templates/run.html", "static/style.css", "static/charts.js"):
    assert dashboard.joinpath(name).is_file(), f"the wheel lacks thresher/flows/dashboard/{name}"
print(thresher.__version__)
"""


@pytest.mark.slow
def test_fresh_venv_install_imports_thresher_next_to_a_user_pipelines_package(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # Dependencies come from this test's environment (a .pth line is only a sys.path entry,
    # so this environment's own editable-install hooks stay out); Thresher itself is built
    # and installed into the new environment as a regular wheel.
    (Path(purelib) / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    # A copy of the source: building in place would leave build/ in the checkout.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv*", "build", "*.egg-info", "__pycache__", "thresher-out", "bench"
        ),
    )
    # `--python` installs into the new environment only; `--prefix` would uninstall the
    # running environment's own (editable) thresher first.
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-warn-script-location",
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr[-2000:]

    user = tmp_path / "user-project"
    (user / "pipelines").mkdir(parents=True)
    (user / "pipelines" / "__init__.py").write_text("")
    (user / "pipelines" / "io.py").write_text('OWNER = "user"\n')
    check = subprocess.run([python, "-c", USER_CHECK], cwd=user, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr[-2000:]
    from thresher import __version__

    assert check.stdout.strip() == __version__ != "0.0.0+unknown"
