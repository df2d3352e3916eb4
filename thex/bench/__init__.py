"""Benchmarks that print figures (never timed tests): `python -m thex.bench NAME [options]`.

Each NAME is a module `thex.bench.NAME` with a `main(argv)` function.
"""
