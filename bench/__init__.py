"""The benchmarks of ``bench/README.md``, against a real server subprocess; entry point ``bench/run.py``."""
