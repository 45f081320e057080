"""The HTTP API (docs/api.md): profiles, segments, explain, ingestion, privacy, the 360° page."""
