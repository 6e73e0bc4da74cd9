"""``InferError``: a request the server refuses, with the HTTP status to answer."""

from __future__ import annotations

from ..errors import LenetDeployError


class InferError(LenetDeployError):
    """A request the server refuses (infer, upload); ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status
