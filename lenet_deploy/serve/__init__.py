"""Serving: the browser drawing page and its image endpoint (``ui.py``, ``image_predict.py``)."""
