"""The benchmarks and experiments, each a module run from the repository root:
``python -m benchmarks.<name>`` (see benchmarks/README.md)."""
