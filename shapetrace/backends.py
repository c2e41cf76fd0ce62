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

__all__ = ["configured_backend", "BACKEND_TITLES", "BACKEND_PACKAGES"]

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
