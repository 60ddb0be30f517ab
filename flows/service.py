"""`thresher serve`: Prefect deployments of the `curate` flow (one per collection) and the
`mixture` flow, each with its schedule, served by Prefect's own runner.

The service file (YAML) names the output root, the collections and the mixture jobs:

    out: /data/thresher-out
    collections:
      - name: web                      # <out>/collections/web, runs web-b00001, ...
        inputs: ["/data/drops/web/*.jsonl.gz"]
        config: web.yaml               # stage settings (a `thresher run` config); optional
        cron: "0 3 * * *"              # or interval: 3600 (seconds)
    mixtures:
      - name: gpt2
        tokenizer: gpt2-ranks.tiktoken
        categories: ["en=/data/samples/en/*.txt", "code=/data/samples/code/*"]
        out: mixtures/gpt2
        interval: 86400

Relative paths in the file are relative to the file's own folder, so it means the same
from any working directory. Everything is validated when the service starts (each
collection's full run config, its models and tokenizers): a typo fails there, with one
line, not at 3 a.m. in a scheduled run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from thresher.flows.temporary_api import healthy
from thresher.flows.temporary_api import stop_with_parent as _stop_with_parent
from thresher.pipelines.collection import NAME_PATTERN
from thresher.pipelines.config import describe_validation_error, load_config
from thresher.scorers.errors import ConfigError, UserError


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cron: str | None = Field(None, description="cron schedule, e.g. '0 3 * * *'")
    interval: float | None = Field(None, gt=0, description="or: every this many seconds")
    timezone: str = Field("UTC", description="time zone of the cron schedule")

    @model_validator(mode="after")
    def _one_schedule(self):
        if (self.cron is None) == (self.interval is None):
            raise ValueError("give exactly one of cron or interval")
        return self

    def prefect_schedule(self):
        from prefect.schedules import Cron, Interval

        if self.cron is not None:
            return Cron(self.cron, timezone=self.timezone)
        return Interval(self.interval, timezone=self.timezone)


class CollectionService(Schedule):
    """One collection: its input drop, its stage settings and its schedule."""

    name: str = Field(pattern=NAME_PATTERN, description="collection (and deployment) name")
    inputs: list[str] = Field(min_length=1, description="input files or globs of each drop")
    config: str | None = Field(None, description="run config file with the stage settings")


class MixtureService(Schedule):
    """One mixture-inference job (`thresher mixture infer` on a schedule)."""

    name: str = Field(pattern=NAME_PATTERN, description="deployment name")
    tokenizer: str
    categories: list[str] = Field(min_length=2, description="NAME=GLOB per category")
    out: str
    merges: int = Field(30000, ge=1)


class ServiceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out: str = Field("thresher-out", description="output root of every collection")
    beam_args: list[str] = Field(default_factory=list, description="Beam pipeline flags")
    collections: list[CollectionService] = Field(default_factory=list)
    mixtures: list[MixtureService] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something_to_serve(self):
        names = [c.name for c in self.collections] + [m.name for m in self.mixtures]
        if not names:
            raise ValueError("nothing to serve: add a `collections:` or `mixtures:` entry")
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"deployment name {repeated[0]} is used twice: names must differ")
        return self


def _resolve(base: Path, path: str) -> str:
    """`path` relative to the service file's folder (URLs and absolute paths unchanged)."""
    if "://" in path or Path(path).is_absolute():
        return path
    return str(base / path)


def load_service(path: str) -> ServiceConfig:
    """The service file, validated, with its relative paths resolved."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"service file {path} does not exist: check the --config path")
    try:
        data = yaml.safe_load(p.read_text()) or {}
        service = ServiceConfig.model_validate(data)
    except yaml.YAMLError:
        raise ConfigError(f"service file {path} is not valid YAML: fix the syntax") from None
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, f"service file {path}")) from None
    base = p.resolve().parent
    service.out = _resolve(base, service.out)
    for c in service.collections:
        c.inputs = [_resolve(base, i) for i in c.inputs]
        c.config = _resolve(base, c.config) if c.config else None
    for m in service.mixtures:
        m.tokenizer = _resolve(base, m.tokenizer)
        m.out = _resolve(base, m.out)
        m.categories = [
            f"{name}={_resolve(base, glob)}"
            for name, glob in (c.split("=", 1) if "=" in c else (c, "") for c in m.categories)
        ]
    return service


def collection_run_config(service: ServiceConfig, c: CollectionService):
    """The `curate` parameters of one collection: its run config file plus the service's
    output root, the collection name and the drop's inputs."""
    from thresher.flows.curate import planned_stages

    config = load_config(
        c.config,
        inputs=c.inputs,
        out=service.out,
        collection=c.name,
        **({"beam_args": service.beam_args} if service.beam_args else {}),
    )
    for stage, cfg in planned_stages(config):  # models and tokenizers load now, not at 3 a.m.
        if stage.check is not None:
            stage.check(cfg)
    return config


def deployments(service: ServiceConfig) -> list:
    from prefect.deployments.runner import EntrypointType

    from thresher.flows.curate import curate
    from thresher.flows.mixture import mixture

    found = []
    for c in service.collections:
        config = collection_run_config(service, c)
        found.append(
            curate.to_deployment(
                name=c.name,
                parameters={"config": config.model_dump(mode="json")},
                description=f"collection {c.name}: a batch of new input files from "
                f"{', '.join(c.inputs)}, deduplicated against the collection",
                tags=["thresher", "collection"],
                concurrency_limit=1,  # batches of one collection run one after another
                entrypoint_type=EntrypointType.MODULE_PATH,
                schedule=c.prefect_schedule(),
            )
        )
    for m in service.mixtures:
        found.append(
            mixture.to_deployment(
                name=m.name,
                parameters={
                    "tokenizer": m.tokenizer,
                    "categories": m.categories,
                    "out": m.out,
                    "merges": m.merges,
                    "beam_args": service.beam_args or None,
                },
                description=f"mixture inference of {m.tokenizer}",
                tags=["thresher", "mixture"],
                concurrency_limit=1,
                entrypoint_type=EntrypointType.MODULE_PATH,
                schedule=m.prefect_schedule(),
            )
        )
    return found


def serve(path: str) -> None:
    """Serve the file's deployments until interrupted (Prefect's runner: it polls the API
    for scheduled or requested runs and starts each in its own process)."""
    from prefect import serve as prefect_serve

    service = load_service(path)
    with prefect_server():
        found = deployments(service)
        prefect_serve(*found, print_starting_message=True)


@contextmanager
def prefect_server(startup_seconds: float = 120):
    """The Prefect server at PREFECT_API_URL or, without one, a local `prefect server start`
    (SQLite under PREFECT_HOME) for as long as the block runs. Not Prefect's temporary API:
    that one runs no scheduler, so scheduled runs would never be created."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if PREFECT_API_URL.value():
        yield PREFECT_API_URL.value()
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api"
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    # In our process group, so Ctrl-C or a signal to the group reaches it too; and told by
    # the kernel to stop if this process dies without running the `finally` below.
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_stop_with_parent,
    )
    try:
        deadline = time.time() + startup_seconds
        while not healthy(url):
            if server.poll() is not None or time.time() > deadline:
                raise UserError(
                    f"the local Prefect server did not start (port {port}): start one with "
                    "`prefect server start` and export PREFECT_API_URL=http://127.0.0.1:4200/api"
                )
            time.sleep(0.5)
        print(f"thresher: no PREFECT_API_URL: started a Prefect server with its UI at {url[:-4]}")
        os.environ["PREFECT_API_URL"] = url  # for the flow runs the runner starts
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
