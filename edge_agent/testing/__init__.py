"""Helpers for tests and benchmarks (need the ``dev`` extra)."""
