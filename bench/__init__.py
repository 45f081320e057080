"""Benchmarks for Portrait (run from the repository root: ``python -m bench.throughput``)."""
