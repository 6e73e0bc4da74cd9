"""Pictures to model input: the one recipe (``recipe``, with ``ink`` for finding and framing the
digit) and classifying image files with a runtime (``classify``)."""
