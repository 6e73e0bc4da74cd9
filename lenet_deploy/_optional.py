"""Optional dependencies: import them where needed, or say which extra installs them.

The core install (numpy, onnx, onnxruntime, pillow, tqdm) runs ``predict``,
``serve``, ``package`` and ``verify --reference ort-cpu``. Training, export and the torch-*
runtimes need torch, which is the ``[train]`` extra so that a deploy image does not carry it.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from .errors import MissingDependencyError

#: Import name -> what pip calls it, when they differ.
_DISTRIBUTIONS = {"PIL": "pillow", "sklearn": "scikit-learn", "yaml": "pyyaml"}


def missing_reason(module: str, extra: str, purpose: str) -> str | None:
    """None if ``module`` can be imported, else the one-line reason with the install command.

    Only looks the module up (``find_spec``); nothing is imported.
    """
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or sys.modules[...] = None
        found = False
    return None if found else _message(module, extra, purpose)


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import and return ``module``; raise MissingDependencyError naming ``extra`` if absent.

    An ImportError from inside an installed ``module`` (a broken install) is not hidden.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name is not None and exc.name.split(".")[0] != module.split(".")[0]:
            raise
        raise MissingDependencyError(_message(module, extra, purpose)) from None


def _message(module: str, extra: str, purpose: str) -> str:
    top = module.split(".")[0]
    name = _DISTRIBUTIONS.get(top, top)
    return f"{purpose} needs {name}, which is not installed: pip install 'lenet-deploy[{extra}]'"
