"""The dashboard's ASGI app: routes, templates (autoescaped), security headers.

Every route is a GET; there is no form or endpoint that writes or that takes SQL. Pages
build their context in `pages/` and render a Jinja2 template with autoescaping on, so any
text from the data (documents, metadata, file names, reject records) reaches the browser
as text. A Content-Security-Policy that allows scripts only from this server is the second
line: an inline script that slipped through escaping would still not run.
"""

from __future__ import annotations

import logging
from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import FileResponse, HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from thresher.flows.dashboard import access, runinfo
from thresher.flows.dashboard.pages import (
    document,
    duplicates,
    mixture,
    rejects,
    run,
    runs,
    scores,
    shards,
    trends,
)
from thresher.flows.dashboard.store import Store
from thresher.scorers.errors import UserError

HERE = Path(__file__).parent
log = logging.getLogger("thresher.dashboard")

SECURITY_HEADERS = {
    # Plotly adds <style> elements as it draws, hence 'unsafe-inline' for styles only.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

# (URL suffix under /runs/{run_id}, page module, template, nav label)
RUN_PAGES = [
    ("", run, "run.html", "Run"),
    ("/rejects", rejects, "rejects.html", "Rejects and drops"),
    ("/duplicates", duplicates, "duplicates.html", "Duplicates"),
    ("/scores", scores, "scores.html", "Scores"),
    ("/mixture", mixture, "mixture.html", "Mixture"),
    ("/shards", shards, "shards.html", "Shards"),
    ("/document", document, "document.html", "Document"),
]


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every {{ }} is escaped unless a template says otherwise
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        num=lambda v: "—" if v is None else f"{v:,}" if isinstance(v, int) else f"{v:,.4g}",
        pct=lambda v: "—" if v is None else f"{100 * v:.1f}%",
        mb=lambda v: "—" if v is None else f"{v / 2**20:,.1f} MB",
        secs=_seconds,
        basename=lambda p: (p or "").rsplit("/", 1)[-1],
    )
    env.globals["run_pages"] = [(suffix, label) for suffix, _, _, label in RUN_PAGES]
    return env


def _seconds(v) -> str:
    if v is None:
        return "—"
    v = float(v)
    if v < 120:
        return f"{v:.1f} s"
    return f"{int(v // 3600)}h{int(v % 3600 // 60):02d}m" if v >= 3600 else f"{v / 60:.1f} min"


def create_app(out: str | Path, token: str | None = None, local_only: bool = True) -> Starlette:
    """The app over the runs under `out`. With `token`, every request must carry it; with
    `local_only`, requests must name a loopback host (a DNS-rebinding guard)."""
    store = Store(out)
    env = _templates()

    def render(request, template: str, status: int = 200, **context) -> HTMLResponse:
        context.setdefault("page", "")
        html = env.get_template(template).render(request=request, **context)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def find_run(run_id: str) -> runinfo.RunSummary:
        run_dir = store.root / "runs" / run_id
        if "/" in run_id or run_id.startswith(".") or not (run_dir / "run.json").is_file():
            raise HTTPException(404, f"no run {run_id} under {store.root}")
        summary = runinfo.load(run_dir)
        summary.extras["run_dir"] = run_dir
        return summary

    def runs_page(request):
        all_runs = runinfo.load_all(store.root)
        return render(request, "runs.html", page="runs", **runs.context(store, all_runs))

    def trends_page(request):
        all_runs = runinfo.load_all(store.root)
        return render(request, "trends.html", page="trends", **trends.context(store, all_runs))

    def run_page(module, template: str, name: str):
        def endpoint(request):
            summary = find_run(request.path_params["run_id"])
            if module is run:
                context = module.context(store, summary)
            else:
                context = module.context(store, summary, request.query_params)
            return render(request, template, page=name, run=summary, **context)

        return endpoint

    def plotly_js(request):
        import plotly

        path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
        return FileResponse(path, headers={"Cache-Control": "max-age=86400"})

    async def not_found(request, exc: HTTPException):
        return render(request, "error.html", status=exc.status_code, message=exc.detail)

    async def user_error(request, exc: UserError):
        return render(request, "error.html", status=503, message=str(exc))

    async def server_error(request, exc: Exception):
        log.exception("dashboard page %s failed", request.url.path)
        return render(request, "error.html", status=500, message=f"{type(exc).__name__}: {exc}")

    routes = [
        Route("/", runs_page, name="runs"),
        Route("/trends", trends_page, name="trends"),
        Route("/static/plotly.min.js", plotly_js),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    for suffix, module, template, _ in RUN_PAGES:
        name = suffix.strip("/") or "run"
        routes.append(Route(f"/runs/{{run_id}}{suffix}", run_page(module, template, name)))
    middleware = []
    if local_only:
        hosts = ["localhost", "127.0.0.1", "[::1]", "::1"]
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=hosts))
    if token:
        middleware.append(Middleware(access.TokenGate, token=token))
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            HTTPException: not_found,
            UserError: user_error,
            Exception: server_error,
        },
    )
    app.state.store = store
    _warm_up(store)
    return app


def _warm_up(store: Store) -> None:
    """Pay the one-time costs at start-up rather than on the first page: the stage list
    (imports every stage module), plotly's figure classes, and the catalog connection."""
    from thresher.flows.dashboard import charts

    runinfo.stage_names()
    charts.warm_up()
    store.rows("SELECT 1")
