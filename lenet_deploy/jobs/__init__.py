"""Whole jobs composed from the parts: ``pipeline`` (train -> export -> verify -> bench)."""
