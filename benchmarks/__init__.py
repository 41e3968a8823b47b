"""Benchmarks: `python -m benchmarks` (see README). Not tests: no asserts."""
