"""Every application traces at 1 and 3 channels to a complete trace or a precise break,
and the two engines agree layer by layer wherever the probe passes."""

from __future__ import annotations

import gc

import pytest

from shapetrace.api import trace_model
from shapetrace.models.applications import build_application
from shapetrace.models.catalog import APPLICATIONS

# The default run traces three cheap applications that cover every outcome (EfficientNetB0 passes at
# 1 channel and the engines are compared, ResNet50 breaks at its stem, MobileNetV3Small rescales
# inside the model); the other 37 are the same test on other weights of the same code (slow, CI).
DEFAULT = {"efficientnetb0", "resnet50", "mobilenetv3small"}


@pytest.mark.parametrize(
    "key", [k if k in DEFAULT else pytest.param(k, marks=pytest.mark.slow) for k in sorted(APPLICATIONS)]
)
def test_application_traces_completely_or_breaks_precisely(key):
    app = APPLICATIONS[key]
    model = build_application(app, size=(app.min_size, app.min_size))
    try:
        for channels in (1, 3):
            stream = trace_model(model, channels=channels)
            assert stream.boundary.accepted  # 1 and 3 both pass Keras's own input check
            if stream.broken is None:
                assert stream.layers[-1].output[0] == 1 and not any(r.failed for r in stream.layers)
                sub = trace_model(model, channels=channels, engine="submodels")
                assert [(r.path, r.output, r.static_output, r.params) for r in stream.layers] == [
                    (r.path, r.output, r.static_output, r.params) for r in sub.layers
                ]
            else:
                b = stream.broken
                assert stream.layers[-1].failed and stream.layers[-1].path == b.layer
                assert b.expected.endswith(", 3)") and b.received.endswith(f", {channels})")
                assert "\n" not in b.message and len(b.message) <= 300
        # Declared for 3 channels, a 3-channel probe always passes.
        assert stream.ok
    finally:
        del model
        gc.collect()
