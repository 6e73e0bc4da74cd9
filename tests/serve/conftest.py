"""Fixtures for the serve tests (tests/serve is a package so this conftest keeps its own name)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ui_server(served_url):
    """Base URL (no trailing slash) of the session's real ``lenet-deploy serve`` process
    (tests/conftest.py ``served_url``): the page, /v1 and the OIP endpoints share one server."""
    return served_url.split("/v2/", 1)[0]
