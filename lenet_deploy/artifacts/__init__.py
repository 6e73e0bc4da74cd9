"""The files train and export leave behind: where they live (``layout``), how they are written
(``atomic``: temp file, then rename) and which checkpoint an ONNX file came from (``pairing``)."""
