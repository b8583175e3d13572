"""Benchmarks behind ``semcomm bench``: each module exposes ``register(subparsers)``."""
