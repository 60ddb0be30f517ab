"""`thresher dashboard`: a read-only web app over the catalog (flows/catalog.py).

Server-rendered pages (Starlette + Jinja2 with autoescaping), charts drawn in the browser
by Plotly.js served from the `plotly` wheel's own copy (no CDN, no build step). Every
number comes from a DuckDB aggregate over the catalog's views; samples are paged with
LIMIT, so no page loads a whole table into Python. Modules:

  store.py     the locked-down catalog connection, reopened when runs change
  runinfo.py   run.json/stats summaries, whether a run is live, its progress
  pages/       one module per page: its queries and template context
  charts.py    Plotly figure specs (JSON) for the templates
  textdiff.py  differing spans of two texts, for the duplicate browser
  access.py    bind policy and the token check
  app.py       routes, templates, security headers
  server.py    binds the socket and runs uvicorn
  links.py     the Prefect link artifact a finished curate run publishes
"""
