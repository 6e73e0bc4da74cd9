"""Measuring: ``runner`` (runtimes side by side), ``measurement`` (results with raw samples),
``reports`` (JSON, CSV, Markdown, plots), ``loadtest`` (N requests in flight against a server) and
``machine`` (what a figure was measured on)."""
