"""``oip-http``: a model behind any Open Inference Protocol v2 server (ours, Triton, KServe).

The artifact is the model's URL, ``http://HOST:PORT/v2/models/NAME[/versions/V]``. Requests go
through ``tritonclient.http`` with binary tensors (float32 bytes both ways, so nothing is lost
to decimal text); tritonclient is imported when a runtime is created. Batches larger than
``max_request_batch`` (at most ``LIMITS.engine_chunk``) are sent as several requests, in order.
"""

from __future__ import annotations

import importlib.util
import os
import re
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..artifacts.layout import ArtifactKind
from ..errors import ArtifactError, LenetDeployError, RuntimeUnavailableError, first_line
from ..spec import INPUT_NAME, NUM_CLASSES, OUTPUT_NAME
from .base import Runtime
from .registry import RuntimeEntry, register_runtime

NAME = "oip-http"
INSTALL = "pip install 'tritonclient[http]'"
_URL = re.compile(
    r"^http://(?P<host>\[[0-9a-fA-F:.]+\]|[^/:\s]+)(?::(?P<port>\d+))?"
    r"/v2/models/(?P<model>[^/\s]+)(?:/versions/(?P<version>[^/\s]+))?/?$"
)


def probe() -> str | None:
    for module in ("tritonclient", "geventhttpclient"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed; {INSTALL}"
    return None


@dataclass(frozen=True)
class RemoteOptions:
    """``oip-http``: ``timeout_s`` (connect and network timeout) and ``max_request_batch``
    (images per request; larger batches are split)."""

    timeout_s: float = 30.0
    max_request_batch: int = 256

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")
        if self.max_request_batch < 1:
            raise ValueError(f"max_request_batch must be >= 1, got {self.max_request_batch}")


@register_runtime(
    NAME, artifact=ArtifactKind.URL, device="http", options=RemoteOptions, probe=probe
)
class RemoteRuntime(Runtime):
    """any OIP v2 server over HTTP (tritonclient, binary)

    LeNet served over OIP v2 REST, through tritonclient's binary tensors."""

    def __init__(
        self, artifact: str | os.PathLike, options: RemoteOptions, entry: RuntimeEntry
    ) -> None:
        self.name = entry.name
        timeout_s, max_request_batch = options.timeout_s, options.max_request_batch
        match = _URL.match(str(artifact))
        if not match:
            raise RuntimeUnavailableError(
                f"{NAME}: its model is a server URL like http://127.0.0.1:8000/v2/models/lenet "
                f"(start one with 'lenet-deploy serve'); got {str(artifact)!r}"
            )
        try:
            import tritonclient.http as triton
            from tritonclient.utils import InferenceServerException
        except ImportError as exc:
            raise RuntimeUnavailableError(f"{NAME}: {exc}; {INSTALL}") from None
        self._triton, self._server_error = triton, InferenceServerException
        host, port = match["host"], match["port"] or "80"
        self.url = str(artifact)
        self.path = self.url  # what reports show as the model
        self.device = f"http://{host}:{port}"
        self.model, self.version = match["model"], match["version"] or ""
        self.max_request_batch = int(max_request_batch)
        # Runtime.predict splits larger batches into requests of this many images, in order.
        self.chunk_size = self.max_request_batch
        self._connect = lambda: triton.InferenceServerClient(
            f"{host}:{port}", connection_timeout=timeout_s, network_timeout=timeout_s
        )
        # tritonclient.http's client (gevent underneath) hangs when threads share it, so each
        # thread that predicts gets its own; all are closed with the runtime.
        self._local, self._clients_lock = threading.local(), threading.Lock()
        self._clients: list[Any] = []
        self._client = self._local.client = self._connect()
        self._clients.append(self._client)
        try:
            self._check_model()
        except BaseException:
            self._client.close()
            raise
        self._output = [triton.InferRequestedOutput(OUTPUT_NAME, binary_data=True)]

    def _check_model(self) -> None:
        where = f"{NAME}: {self.url}"
        try:
            live = self._client.is_server_live()
        except Exception as exc:  # refused, timed out, not HTTP...
            raise RuntimeUnavailableError(
                f"{where}: server unreachable ({first_line(exc)}); start it with "
                "'lenet-deploy serve' or check the address"
            ) from None
        if not live:
            raise RuntimeUnavailableError(f"{where}: the server says it is not live")
        try:
            meta = self._client.get_model_metadata(self.model, self.version)
        except self._server_error as exc:
            raise ArtifactError(
                f"{where}: no such model on that server ({first_line(exc)})"
            ) from None
        if not self._client.is_model_ready(self.model, self.version):
            raise RuntimeUnavailableError(f"{where}: model {self.model!r} is not ready yet")
        inputs, outputs = meta.get("inputs", []), meta.get("outputs", [])
        in_ok = (
            len(inputs) == 1
            and inputs[0].get("name") == INPUT_NAME
            and inputs[0].get("datatype") == "FP32"
            and [int(d) for d in inputs[0].get("shape", [])][1:] == [1, 32, 32]
        )
        out_ok = any(
            o.get("name") == OUTPUT_NAME
            and o.get("datatype") == "FP32"
            and int(o.get("shape", [0])[-1]) == NUM_CLASSES
            for o in outputs
        )
        if not (in_ok and out_ok):
            got = ", ".join(f"{t.get('name')} {t.get('datatype')}{t.get('shape')}" for t in inputs)
            raise ArtifactError(
                f"{where}: not a LeNet (inputs: {got or 'none'}; expected {INPUT_NAME} FP32 "
                f"[-1, 1, 32, 32] -> {OUTPUT_NAME} FP32 [-1, {NUM_CLASSES}])"
            )

    def _predict(self, x: np.ndarray) -> np.ndarray:
        tensor = self._triton.InferInput(INPUT_NAME, list(x.shape), "FP32")
        tensor.set_data_from_numpy(x, binary_data=True)
        try:
            result = self._thread_client().infer(
                self.model, [tensor], model_version=self.version, outputs=self._output
            )
        except self._server_error as exc:
            raise LenetDeployError(f"{NAME}: {self.url} refused the request: {exc}") from None
        except Exception as exc:  # connection dropped mid-request
            raise RuntimeUnavailableError(f"{NAME}: {self.url} failed: {first_line(exc)}") from None
        logits = result.as_numpy(OUTPUT_NAME)
        if logits is None or logits.shape != (len(x), NUM_CLASSES):
            got = None if logits is None else logits.shape
            raise LenetDeployError(
                f"{NAME}: {self.url} returned {OUTPUT_NAME} of shape {got}; expected "
                f"({len(x)}, {NUM_CLASSES})"
            )
        return logits.astype(np.float32, copy=False)

    def _thread_client(self) -> Any:
        try:
            return self._local.client
        except AttributeError:
            client = self._local.client = self._connect()
            with self._clients_lock:
                self._clients.append(client)
            return client

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "device": self.device,
            "engine": "tritonclient.http",
            "url": self.url,
        }

    def _close(self) -> None:
        with self._clients_lock:
            for client in self._clients:
                client.close()
            self._clients.clear()
