"""JSON infer requests read by simdjson, when pysimdjson is installed ([serve] installs it).

``loads`` reads the pixel list straight into one float64 buffer, about half orjson's cost
(orjson builds a Python float per pixel), and gives everything else as orjson would. Whatever
it does not read cleanly comes back as None: codec.py then parses the body with orjson, which
also words the errors.
"""

from __future__ import annotations

import threading

import numpy as np

try:
    from simdjson import Array, Object, Parser
except ImportError:  # pragma: no cover - codec.py's orjson path gives the same requests
    Parser = None

AVAILABLE = Parser is not None

_local = threading.local()


def loads(text: bytes) -> dict | None:
    """The request as orjson would give it, except that the input's ``data`` is a flat float64
    array (its numbers in document order, as Triton reads nested data); None for anything
    else: not an object, duplicate keys, non-numbers in ``data``, malformed JSON."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = Parser()
    try:
        try:
            doc = parser.parse(text)
        except RuntimeError:  # a document of an earlier parse is still referenced somewhere
            parser = _local.parser = Parser()
            doc = parser.parse(text)
        if type(doc) is not Object:
            return None
        obj = _plain(doc, "inputs")
        if obj is None:
            return None
        inputs = doc.get("inputs")
        if type(inputs) is Array and len(inputs) == 1 and type(inputs[0]) is Object:
            tensor = _plain(inputs[0], "data")
            if tensor is None:
                return None
            data = inputs[0].get("data")
            if type(data) is Array:
                data = np.frombuffer(data.as_buffer(of_type="d"), np.float64)
            elif data is not None:  # a scalar or an object: the orjson way words the error
                return None
            if data is not None:
                tensor["data"] = data
            obj["inputs"] = [tensor]
        elif inputs is not None:
            obj["inputs"] = _python(inputs)
        return obj
    except (ValueError, TypeError, UnicodeDecodeError, RuntimeError):
        return None  # malformed, or not numbers: orjson parses it again and says what is wrong


def _plain(obj, skip: str) -> dict | None:
    """A simdjson object as a dict of plain Python values, without ``skip``; None if a key
    repeats (orjson keeps the last, simdjson's lookup the first)."""
    keys = list(obj.keys())
    if len(set(keys)) != len(keys):
        return None
    return {key: _python(obj[key]) for key in keys if key != skip}


def _python(value):
    kind = type(value)
    if kind is Object:
        return value.as_dict()
    if kind is Array:
        return value.as_list()
    return value
