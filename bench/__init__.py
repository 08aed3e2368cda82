"""Benchmarks: each prints a table and writes a JSON report under bench/results/."""
