"""Benchmarks of DESIGN §9 against a real server subprocess; entry point ``bench/run.py``."""
