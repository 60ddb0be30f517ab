"""Links between Prefect and the dashboard, used by the curate flow.

THRESHER_DASHBOARD_URL (e.g. http://dashboard.internal:8765) is where a dashboard over
the flow's --out is served; when it is set, each finished curate run publishes a Prefect
link artifact (`curate-dashboard`) to its Run page. The other way round, run.json records
the Prefect flow run (id, and its UI URL when Prefect knows one) for the Run page's link.
"""

from __future__ import annotations

import os
from urllib.parse import quote

URL_ENV = "THRESHER_DASHBOARD_URL"
ARTIFACT_KEY = "curate-dashboard"


def dashboard_url() -> str | None:
    url = os.environ.get(URL_ENV, "").strip().rstrip("/")
    return url or None


def run_page_url(run_id: str) -> str | None:
    base = dashboard_url()
    return f"{base}/runs/{quote(run_id, safe='')}" if base else None


def publish_run_link(run_id: str) -> str | None:
    """Publish the run's dashboard page as a link artifact (inside a flow run); returns the
    link, or None when no dashboard URL is configured."""
    link = run_page_url(run_id)
    if link is None:
        return None
    from prefect.artifacts import create_link_artifact

    create_link_artifact(
        key=ARTIFACT_KEY,
        link=link,
        link_text=f"Thresher dashboard: run {run_id}",
        description=f"Funnel, rejects, duplicates, scores and shards of {run_id}",
    )
    return link


def flow_run_info() -> dict:
    """{flow_run_id, flow_run_url} of the Prefect flow run this code runs in ({} outside)."""
    from prefect.runtime import flow_run

    if not flow_run.id:
        return {}
    return {"flow_run_id": str(flow_run.id), "flow_run_url": flow_run.ui_url}
