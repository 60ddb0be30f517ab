"""Pure models and algorithms (no Beam, no Prefect): usable from a notebook."""
