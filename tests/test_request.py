"""``Request`` (shapetrace/records.py): how a trace was made, typed and validated, written as the
JSON object ``trace.request`` always was, and read back through ``Trace.from_dict``."""

from __future__ import annotations

import json

import pytest

from shapetrace.errors import UsageError
from shapetrace.records import Boundary, Probe, Request, Trace


def _trace(request) -> Trace:
    return Trace(
        model="m",
        probes=(Probe("image", (1, 8, 8, 1), (None, 8, 8, 3)),),
        boundary=Boundary(True, None),
        layers=(),
        broken=None,
        total_params=0,
        seconds=0.0,
        request=request,
    )


def test_a_trace_request_is_written_in_the_order_trace_wrote_it():
    request = Request(
        model="net.py:build",
        channels=1,
        size=(32, 48),
        factory_args={"width": 6},
        imports=("layers.py",),
        inputs={"image": (32, 48, 1)},
    )
    assert json.dumps(request.to_dict()) == json.dumps(
        {
            "model": "net.py:build",
            "channels": 1,
            "size": [32, 48],
            "batch": 1,
            "native": False,
            "top": False,
            "weights": None,
            "pooling": None,
            "factory_args": {"width": 6},
            "imports": ["layers.py"],
            "inputs": {"image": [32, 48, 1]},
        }
    )


def test_it_reads_as_the_json_object_it_writes():
    request = Request(model="resnet50", size=(64, 64))
    assert request["size"] == [64, 64] and request.size == (64, 64)
    assert request.get("model") == "resnet50" and request.get("imports") is None
    assert "factory_args" not in request and "weights" in request
    assert request == request.to_dict() and dict(request) == request.to_dict()
    assert {**request}["batch"] == 1


def test_a_trace_without_a_request_writes_an_empty_object():
    assert Request.empty().to_dict() == {} and Request.empty() == {}
    assert _trace(Request.empty()).to_dict()["request"] == {} == _trace({}).to_dict()["request"]


def test_a_partial_request_reads_back_as_written():
    """A hand-written baseline carries only some keys: the others stay out, typed fields take defaults."""
    data = {"model": "m.py:build", "channels": 1, "size": [8, 8], "engine": "submodels"}
    request = Request.from_dict(data)
    assert request.to_dict() == data and request.batch == 1 and request.size == (8, 8)
    assert Request.from_dict(request.to_dict()) == request


def test_reading_validates_each_key_and_drops_unknown_ones():
    with pytest.raises(UsageError, match=r"^request.size: expected \[height, width\] or null, got \[32\]$"):
        Request.from_dict({"size": [32]})
    with pytest.raises(UsageError, match=r"^request: expected an object, got 'resnet50'$"):
        Request.from_dict("resnet50")
    assert Request.from_dict({"model": "x", "colour": "blue"}).to_dict() == {"model": "x"}


def test_a_trace_made_with_a_dict_holds_a_request_and_reads_back():
    trace = _trace({"model": "m.py:build", "channels": 1, "inputs": {"image": [8, 8, 1]}})
    assert isinstance(trace.request, Request) and trace.request.inputs == {"image": (8, 8, 1)}
    again = Trace.from_dict(json.loads(json.dumps(trace.to_dict())))
    assert isinstance(again.request, Request) and again.request == trace.request
    assert again.to_dict() == trace.to_dict()


def test_rerun_options_are_the_request_fields_trace_takes():
    from shapetrace.baselines.rerun import TRACE_OPTIONS

    assert TRACE_OPTIONS == (
        "channels",
        "size",
        "batch",
        "native",
        "top",
        "weights",
        "pooling",
        "factory_args",
        "inputs",
    )


FACTORY = """
import keras


def build(width=4):
    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(width, 3, name="conv")(inputs)
    return keras.Model(inputs, keras.layers.Flatten(name="flat")(x), name="net")
"""


def test_trace_records_its_request_key_by_key(tmp_path):
    from shapetrace.api import trace

    path = tmp_path / "net.py"
    path.write_text(FACTORY)
    result = trace(f"{path}:build", channels=1, factory_args=["width=2"], inputs="8x8x1")
    assert isinstance(result.request, Request)
    assert list(result.to_dict()["request"].items()) == [
        ("model", f"{path}:build"),
        ("channels", 1),
        ("size", None),
        ("batch", 1),
        ("native", False),
        ("top", False),
        ("weights", None),
        ("pooling", None),
        ("factory_args", {"width": 2}),
        ("inputs", {"": [8, 8, 1]}),
    ]
    with pytest.raises(UsageError, match=r"'imagenet' applies to application names\)\.$"):
        trace(f"{path}:build", weights=" ImageNet ")
