"""Serve any registered runtime over the Open Inference Protocol v2 (KServe v2 / Triton HTTP).

``codec`` (wire format), ``batcher`` (dynamic micro-batching), ``metrics`` (stats, Prometheus),
``app`` (``create_app``, ``ServeSettings``), ``server`` (``run_server`` on uvicorn) and
``transport`` (one write per response); the browser page is ``ui`` (routes, ``static/``),
``upload`` (bounded image bodies) and ``image_predict`` (image bytes -> label). Needs the
``serve`` extra (starlette, uvicorn); importing this package alone imports neither.
"""
