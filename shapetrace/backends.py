"""Which Keras backend this process will run on, known without importing Keras.

Keras fixes its backend once per process, at import: ``KERAS_BACKEND`` when set, else the
``backend`` of ``$KERAS_HOME/keras.json`` (``~/.keras/keras.json``), else TensorFlow. The CLI
needs the answer before that import (``--version``, the status line that says what is
loading); the result of a trace records the backend Keras actually reports.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from shapetrace.errors import UsageError
from shapetrace.messages import one_line

__all__ = ["configured_backend", "backend_unavailable", "BACKEND_TITLES", "BACKEND_PACKAGES"]

BACKEND_TITLES = {
    "tensorflow": "TensorFlow",
    "jax": "JAX",
    "torch": "PyTorch",
    "numpy": "NumPy",
    "openvino": "OpenVINO",
}
"""How each backend is called in prose."""

BACKEND_PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch", "numpy": "numpy"}
"""The package that provides each backend, whose version a result records beside Keras's."""


def configured_backend() -> str:
    """The backend Keras will load (or has loaded) in this process."""
    if "keras" in sys.modules:
        import keras

        return keras.backend.backend()
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or str(Path("~").expanduser() / ".keras")
    try:
        config = json.loads((Path(home) / "keras.json").read_text())
    except (OSError, ValueError):
        return "tensorflow"
    backend = config.get("backend") if isinstance(config, dict) else None
    return backend if isinstance(backend, str) and backend else "tensorflow"


def backend_unavailable(error: BaseException) -> UsageError:
    """The one line for a Keras that cannot import its backend: unknown, or not installed."""
    backend = configured_backend()
    where = "KERAS_BACKEND" if os.environ.get("KERAS_BACKEND") else "the Keras configuration (keras.json)"
    if backend not in BACKEND_TITLES:
        return UsageError(
            f"Keras backend {backend!r} (from {where}) is not a backend Keras knows: expected one of "
            f"{', '.join(BACKEND_TITLES)}; set KERAS_BACKEND to one of them or unset it."
        )
    if isinstance(error, ImportError):
        package = BACKEND_PACKAGES.get(backend, backend)
        return UsageError(
            f"Keras backend {backend!r} (from {where}) is not installed ({one_line(error, 120)}): "
            f"install it with `pip install {package}`, or choose another with KERAS_BACKEND."
        )
    return UsageError(f"Keras cannot load its backend {backend!r} (from {where}): {one_line(error, 200)}.")
