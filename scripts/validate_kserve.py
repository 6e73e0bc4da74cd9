"""Validate InferenceService manifests with KServe's own Python models (the ``kserve`` SDK).

Run by the Python of a side environment with ``pip install kserve`` (it pins protobuf below
7, so it never enters lenet-deploy's own environment)::

    /path/to/kserve-venv/bin/python scripts/validate_kserve.py OUT/inferenceservice-*.yaml

Each manifest is built into ``V1beta1InferenceService`` from the SDK's models (and the
``kubernetes`` client models they refer to) following their ``openapi_types``: every key must
be a field of its model (an unknown or misspelt field is named), every value of its declared
type, and each model's constructor runs its setters, which refuse missing required fields
(client-side validation). Exits 1 naming every problem, 0 when all pass.
"""

import json
import sys

_PRIMITIVES = {"str": str, "int": int, "float": (int, float), "bool": bool}


def _model_class(name):
    import kserve.models
    import kubernetes.client

    return getattr(kserve.models, name, None) or getattr(kubernetes.client, name)


def build(data, kind, path, problems):
    """``data`` as an instance of the SDK type ``kind``; unknown keys and wrong types go to
    ``problems``. Model constructors run their setters, which check required fields."""
    # kserve's models spell containers list[T] and dict(K, V); kubernetes' List[T], Dict[K, V].
    if kind.lower().startswith("list["):
        if not isinstance(data, list):
            problems.append(f"{path}: expected a list")
            return None
        return [build(v, kind[5:-1], f"{path}[{i}]", problems) for i, v in enumerate(data)]
    if kind.startswith(("dict(", "Dict[")):
        value_kind = kind[5:-1].split(", ", 1)[1]
        if not isinstance(data, dict):
            problems.append(f"{path}: expected an object")
            return None
        return {k: build(v, value_kind, f"{path}.{k}", problems) for k, v in data.items()}
    if kind == "object":
        return data
    if kind in _PRIMITIVES:
        if not isinstance(data, _PRIMITIVES[kind]) or isinstance(data, bool) != (kind == "bool"):
            problems.append(f"{path}: {data!r} is not {kind}")
        return data
    cls = _model_class(kind)
    if not isinstance(data, dict):
        problems.append(f"{path}: expected an object ({kind})")
        return None
    by_key = {key: attr for attr, key in cls.attribute_map.items()}
    for key in data:
        if key not in by_key:
            problems.append(f"{path}.{key}: not a field of {kind} in KServe's models")
    kwargs = {
        by_key[k]: build(v, cls.openapi_types[by_key[k]], f"{path}.{k}", problems)
        for k, v in data.items()
        if k in by_key
    }
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        problems.append(f"{path}: " + " ".join(str(exc).split("For further")[0].split()))
        return None


def check(path):
    text = open(path, encoding="utf-8").read()
    doc = json.loads("\n".join(line for line in text.splitlines() if not line.startswith("#")))
    problems = []
    isvc = build(doc, "V1beta1InferenceService", "$", problems)
    if isvc is not None and (isvc.kind != "InferenceService" or not isvc.spec.predictor):
        problems.append("$: not an InferenceService with a predictor")
    return [f"{path}: {p}" for p in problems]


def main(paths):
    from importlib.metadata import version

    if not paths:
        print("usage: validate_kserve.py MANIFEST...", file=sys.stderr)
        return 2
    problems = [p for path in paths for p in check(path)]
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"{len(paths)} manifests pass kserve {version('kserve')}'s models")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
