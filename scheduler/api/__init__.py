"""The gRPC API: request validation, conversions, the thin servicer and its server."""
