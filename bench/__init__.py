"""Reproducible benchmarks, run by ``make bench``: our code side by side with its peers."""
