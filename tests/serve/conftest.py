"""Fixtures for the serve tests (tests/serve is a package so this conftest keeps its own name)."""

from __future__ import annotations

import pytest

from .harness import MAX_BODY_BYTES, MAX_PIXELS, decode_for_tests, running_app, served_info


@pytest.fixture(scope="session")
def ui_server(exported_dir):
    """Base URL (no trailing slash) of a running server; stopped at the end of the session."""
    from starlette.applications import Starlette

    from lenet_deploy.runtimes import load_runtime
    from lenet_deploy.serve.image_predict import make_predict_image
    from lenet_deploy.serve.ui import ui_routes

    runtime = load_runtime("ort-cpu", exported_dir, threads=1)
    info = served_info(runtime, exported_dir / "lenet.onnx")
    app = Starlette(
        routes=ui_routes(
            predict_image=make_predict_image(runtime, decode_for_tests),
            info=lambda: info,
            max_body_bytes=MAX_BODY_BYTES,
            max_pixels=MAX_PIXELS,
        )
    )
    with running_app(app) as url:
        yield url
    runtime.close()
