"""infra/compose.yaml is a valid compose file with the whole topology, checked by Debian's
`docker-compose config` (no Docker daemon needed; building the image needs one and is not
tested here)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

INFRA = Path(__file__).parents[1] / "infra"
COMPOSE = INFRA / "compose.yaml"


def compose_config(path: Path, token: str | None = "test-token") -> subprocess.CompletedProcess:
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose not found: apt-get install docker-compose (.ci/run installs it)"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "THRESHER_"))}
    if token:
        env["THRESHER_DASHBOARD_TOKEN"] = token
    return subprocess.run(
        [exe, "-f", str(path), "config"], env=env, capture_output=True, text=True, timeout=60
    )


def test_the_compose_file_is_valid_and_holds_the_topology():
    result = compose_config(COMPOSE)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert set(services) == {
        "postgres",
        "prefect-server",
        "thresher-serve",
        "dask-scheduler",
        "dask-worker",
        "dashboard",
    }
    assert services["postgres"]["image"].startswith("postgres:")
    database = services["prefect-server"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert database.startswith("postgresql+asyncpg://") and "@postgres:5432/" in database
    assert services["dask-worker"]["deploy"]["replicas"] == 2
    assert services["thresher-serve"]["command"][-2:] == ["--config", "/config/service.yaml"]
    # one shared volume for --out, at the same path in every Thresher container
    for name, service in services.items():
        if name != "postgres":
            assert service["image"] == "thresher:local"
            assert any(str(v).startswith("thresher-out:/data/out") for v in service["volumes"])


def test_compose_validation_fails_on_a_broken_file(tmp_path):
    broken = tmp_path / "compose.yaml"
    text = COMPOSE.read_text()
    assert "replicas: 2" in text
    broken.write_text(text.replace("replicas: 2", "replicas: two"))
    result = compose_config(broken)
    assert result.returncode != 0 and "replicas" in result.stderr
    # the dashboard listens beyond loopback, so the file refuses to start it without a token
    result = compose_config(COMPOSE, token=None)
    assert result.returncode != 0 and "THRESHER_DASHBOARD_TOKEN" in result.stderr


def test_the_compose_service_file_is_valid(cli):
    code, out, err = cli("serve", "--config", INFRA / "service.compose.yaml", "--check")
    assert code == 0, err
    assert "curate/web: collection web" in out
