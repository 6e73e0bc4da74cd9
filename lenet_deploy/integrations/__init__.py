"""Integrations with other serving engines: Ray Serve (``ray``, the ``[ray]`` extra)."""
