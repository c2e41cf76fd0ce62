"""shapetrace: show what really happens to a tensor's shape inside a Keras model.

``import shapetrace`` is cheap; TensorFlow loads when a model is first built or traced.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shapetrace import display as _display
from shapetrace._version import __version__ as __version__
from shapetrace.errors import (
    ModelNotFoundError,
    ProbeBroken,
    ShapetraceError,
    UsageError,
    VerificationFailed,
    WeightsError,
)
from shapetrace.options import Engine, OutputFormat, Pooling, TraceOptions
from shapetrace.records import SCHEMA, Boundary, Break, LayerTrace, Probe, Trace

if TYPE_CHECKING:
    from types import ModuleType

    from shapetrace.models.catalog import Application


def _notebook_renderers() -> ModuleType:
    # Imported when a notebook (or rich) first shows a record: ``import shapetrace`` loads no
    # rendering. The records' floor (display.py) names no renderer; the public face wires them.
    from shapetrace.render import notebook

    return notebook


_display.use_renderers(_notebook_renderers)


__all__ = [
    "trace",
    "trace_model",
    "list_applications",
    "TraceOptions",
    "Trace",
    "LayerTrace",
    "Probe",
    "Boundary",
    "Break",
    "SCHEMA",
    "Engine",
    "OutputFormat",
    "Pooling",
    "ShapetraceError",
    "UsageError",
    "ModelNotFoundError",
    "WeightsError",
    "VerificationFailed",
    "ProbeBroken",
]


def trace(model: Any, **options: Any) -> Trace:
    """Trace a probe through ``model`` (an application name or a ``keras.Model``).

    See :func:`shapetrace.api.trace` for the options (``channels=``, ``options=TraceOptions(...)``
    or its fields as keywords).
    """
    from shapetrace.api import trace as _trace

    return _trace(model, **options)


def trace_model(model: Any, **options: Any) -> Trace:
    """Trace an already-built ``keras.Model``; see :func:`shapetrace.api.trace_model`."""
    from shapetrace.api import trace_model as _trace_model

    return _trace_model(model, **options)


def list_applications() -> list[Application]:
    """The 40 ``keras.applications`` models with their default and minimum input sizes."""
    from shapetrace.models.catalog import APPLICATIONS

    return list(APPLICATIONS.values())
