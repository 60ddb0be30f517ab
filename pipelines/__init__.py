"""The data plane: Beam stages, record schemas, readers and writers."""
