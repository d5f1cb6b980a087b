"""A Python implementation of ``wasi:io`` and ``wasi:http`` for webhooks and allowlisted activities."""
