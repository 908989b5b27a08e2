"""Benchmarks: run as modules (``python -m bench.radio``) so ``bench/solvers.py`` does not shadow ``solvers``."""
