"""The Trace is the one currency: its JSON reads back into the same records, and nothing else does.

``Trace.from_dict(t.to_dict()).to_dict() == t.to_dict()`` for real traces (an application, a
subclassed model, a broken probe, several inputs); a corrupted document ends in one
:class:`UsageError` line naming the field — never another exception.
"""

from __future__ import annotations

import copy
import json
import sys

import pytest
import user_models as um
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shapetrace import trace, trace_model
from shapetrace.errors import UsageError
from shapetrace.records import Boundary, LayerTrace, Probe, Trace, shapes_compatible
from shapetrace.tracing.report import trace_document

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _real_traces() -> dict[str, Trace]:
    return {
        "application": trace("mobilenetv3small", size="32x32", channels=1),
        "subclassed": trace_model(um.resnetish_called()),
        "broken": trace_model(um.resnetish_called(), channels=1),
        "multi_input": trace_model(um.ticket_classifier(), inputs={"title": (10,), "body": (20,)}),
    }


@pytest.fixture(scope="module")
def real_traces() -> dict[str, Trace]:
    return _real_traces()


def test_real_traces_round_trip(real_traces):
    assert not real_traces["broken"].ok and real_traces["broken"].broken is not None
    assert len(real_traces["multi_input"].probes) > 1
    assert any(layer.container for layer in real_traces["subclassed"].layers)
    for name, t in real_traces.items():
        data = json.loads(json.dumps(t.to_dict()))  # through JSON text, as a file would carry it
        again = Trace.from_dict(data)
        assert again.to_dict() == t.to_dict(), name
        assert again.layers == t.layers and again.broken == t.broken and again.probes == t.probes, name
        # The published document (summary and costs added) reads back to the same trace.
        assert Trace.from_dict(json.loads(json.dumps(trace_document(t)))).to_dict() == t.to_dict(), name


def test_every_layer_says_whether_it_failed(real_traces):
    for t in real_traces.values():
        assert all("failed" in row for row in t.to_dict()["layers"])
    broken = real_traces["broken"].to_dict()
    assert [row["failed"] for row in broken["layers"]].count(True) == 1


def test_records_import_neither_explain_nor_costs():
    import subprocess

    code = "import sys, shapetrace.records; print([m for m in ('shapetrace.tracing.explain', 'shapetrace.tracing.costs') if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_shapes_compatible_treats_none_as_unknown_on_either_side():
    # Both former copies agreed here: a declared None allows any actual dimension.
    assert shapes_compatible((None, 8, 8, 3), (1, 8, 8, 3))
    assert not shapes_compatible((None, 8, 8, 3), (1, 8, 8, 1))
    assert not shapes_compatible((None, 8), (1, 8, 8))
    assert (
        shapes_compatible(None, None)
        and not shapes_compatible(None, (1,))
        and not shapes_compatible((1,), None)
    )
    # records' copy refused this, the baseline's allowed it: an unknown actual dimension (the
    # batch-free probe ``(None, *dims)``) cannot contradict a model built with a fixed batch.
    assert shapes_compatible((1, 8, 8, 3), (None, 8, 8, 3))
    assert not shapes_compatible((1, 8, 8, 3), (None, 8, 8, 1))


# --------------------------------------------------------------------------- corrupted documents

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10**12) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _small_trace() -> dict:
    row = LayerTrace(
        index=0,
        path="m/conv",
        name="conv",
        type="Conv2D",
        depth=0,
        inputs=((1, 8, 8, 1),),
        declared_output=(None, 8, 8, 4),
        static_output=(None, 8, 8, 4),
        output=(1, 8, 8, 4),
        params=40,
        mechanism="conv",
        why="conv",
        sources=("image",),
    )
    t = Trace(
        model="m",
        probes=(Probe("image", (1, 8, 8, 1), (None, 8, 8, 3)),),
        boundary=Boundary(True, None),
        layers=(row,),
        broken=None,
        total_params=40,
        seconds=0.5,
        request={"model": "m.py:build", "channels": 1, "size": [8, 8], "batch": 1},
        versions={"keras": "3"},
    )
    return json.loads(json.dumps(t.to_dict()))


SMALL = _small_trace()


def _paths(data, prefix=()):
    """Every (path of keys) inside ``data``, objects and lists alike."""
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _paths(value, (*prefix, i))


PATHS = [p for p in _paths(SMALL) if p]


@FUZZ
@given(st.sampled_from(PATHS), json_values, st.booleans())
def test_a_corrupted_trace_reads_back_or_names_its_field(path, value, delete):
    data = copy.deepcopy(SMALL)
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    try:
        result = Trace.from_dict(data)
    except UsageError as error:
        message = str(error)
        assert message and "\n" not in message and ": expected " in message, message
        assert len(message) < 300
    else:
        assert Trace.from_dict(result.to_dict()).to_dict() == result.to_dict()


@FUZZ
@given(json_values)
def test_anything_at_all_reads_back_or_is_one_usage_error(value):
    try:
        Trace.from_dict(value)
    except UsageError as error:
        assert "\n" not in str(error)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d["layers"][0].update(output="x"), "layers[0].output: expected a shape"),
        (lambda d: d["layers"][0].update(params=-1), "layers[0].params: expected a whole number, got -1"),
        (lambda d: d["layers"][0].update(failed="no"), "layers[0].failed: expected true or false, got 'no'"),
        (
            lambda d: d["probes"][0].pop("shape"),
            "probes[0].shape: expected a shape (a list of whole numbers and nulls), got nothing",
        ),
        (lambda d: d.update(boundary=[]), "boundary: expected an object, got []"),
        (lambda d: d.update(schema="other/1"), "schema: expected \"shapetrace.trace/1\", got 'other/1'"),
        (
            lambda d: d["request"].update(pooling="mean"),
            'request.pooling: expected "avg" or "max" or null, got \'mean\'',
        ),
        (lambda d: d.update(broken={"layer": 3}), "broken.layer: expected a string, got 3"),
        (lambda d: d["totals"].update(seconds=-1), "totals.seconds: expected a number of seconds, got -1"),
    ],
)
def test_errors_name_the_field_the_expectation_and_what_was_received(edit, message):
    data = copy.deepcopy(SMALL)
    edit(data)
    with pytest.raises(UsageError) as info:
        Trace.from_dict(data)
    assert str(info.value).startswith(message)


def test_the_cli_json_reads_back_and_a_partial_one_is_refused(cli):
    from shapetrace.records import _DEFAULT_VIEW_COLUMNS
    from shapetrace.tracing.selection import DEFAULT_COLUMNS

    assert _DEFAULT_VIEW_COLUMNS == DEFAULT_COLUMNS  # records spell the default out, not import it
    base = ["efficientnetb0", "-c", "1", "-s", "32", "-f", "json"]
    code, out, err = cli(*base)
    assert code == 0, err
    published = json.loads(out)
    again = trace_document(Trace.from_dict(published))
    assert again == {k: v for k, v in published.items() if k != "view"}
    for extra, named in (
        (["--changes-only"], "changes_only=True"),
        (["--columns", "layer,actual"], "columns='layer,actual'"),
        (["--depth", "0"], "depth=0"),
        (["--layers", "stem_conv"], "layers='stem_conv'"),
    ):
        code, out, err = cli(*base, *extra)
        assert code == 0, err
        with pytest.raises(UsageError, match="shows part of a trace") as refused:
            Trace.from_dict(json.loads(out))
        assert named in str(refused.value) and "\n" not in str(refused.value)
