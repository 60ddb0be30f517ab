"""The service: Prefect flows, the CLI, the DuckDB catalog."""
