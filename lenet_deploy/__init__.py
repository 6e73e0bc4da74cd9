"""lenet-deploy: LeNet from training to verified, measured deployment.

Importing this package is cheap: it imports neither torch nor onnxruntime. The heavy engines
are imported by the modules that need them (``model``, ``train``, ``exporters.onnx``) and by the
runtime adapters, lazily.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
