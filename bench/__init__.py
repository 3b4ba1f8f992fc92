"""Benchmarks: speed, memory and quality of the product beside a plain LangChain pipeline.

`python -m bench.run` measures and writes BENCHMARKS.md; see bench/run.py. Nothing here is
imported by the product, and nothing here runs at import time.
"""
