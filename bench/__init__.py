"""Benchmarks of the pipeline: `python -m bench` (or `make bench`). See bench/harness.py."""
