"""The serving fast path: uvicorn's httptools protocol answering infer requests inside its parser
callbacks (``protocol``) over a transport that joins each response into one write (``transport``).
It relies on uvicorn internals; ``serve.server`` is its one seam."""
