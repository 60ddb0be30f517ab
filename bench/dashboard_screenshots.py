"""Screenshots of every dashboard page for the README (docs/screenshots/*.png).

    python bench/dashboard_screenshots.py [--out thresher-out] [--dest docs/screenshots]

Serves the dashboard over --out (default: the demo's output; run `thresher run` first) on
a free local port and photographs each page with Debian's chromium through Playwright.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from chromium import launch


def pages(out: Path) -> dict[str, str]:
    """name -> path of every page, for the newest finished run under `out`."""
    runs = sorted(
        (json.loads(p.read_text()) for p in out.glob("runs/*/run.json")),
        key=lambda r: r.get("started_at") or "",
    )
    run = quote(runs[-1]["run_id"])
    clusters = sorted(out.glob(f"runs/{runs[-1]['run_id']}/dedup/clusters.parquet"))
    keeper = ""
    if clusters:
        import pyarrow.parquet as pq

        table = pq.read_table(clusters[0], columns=["cluster_id"])
        keeper = table.column("cluster_id")[0].as_py() if table.num_rows else ""
    return {
        "runs": "/",
        "run": f"/runs/{run}",
        "rejects": f"/runs/{run}/rejects",
        "duplicates": f"/runs/{run}/duplicates",
        "duplicate-cluster": f"/runs/{run}/duplicates?kind=near&keeper={quote(keeper)}",
        "scores": f"/runs/{run}/scores",
        "mixture": f"/runs/{run}/mixture",
        "shards": f"/runs/{run}/shards",
        "trends": "/trends",
        "document": f"/runs/{run}/document?id={quote(keeper or 'news-00001')}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="thresher-out")
    parser.add_argument("--dest", default="docs/screenshots")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from thresher.flows.dashboard.server import running

    dest = Path(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    with running(args.out) as base, sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        for name, path in pages(Path(args.out)).items():
            page.goto(base + path, wait_until="networkidle")
            page.screenshot(path=str(dest / f"{name}.png"))
            print(f"{dest / name}.png  <- {path}")
        browser.close()


if __name__ == "__main__":
    main()
