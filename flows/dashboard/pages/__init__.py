"""One module per dashboard page: `context(store, run, params) -> dict` for its template.

Every query is an aggregate or a LIMITed page over the catalog's views, filtered to one
run (DuckDB prunes the other runs' files by path before reading them).
"""
