"""Property-based fuzzing (Hypothesis) of everything that reads user input before a model is built.

The property: arbitrary input ends in a value or in one :class:`UsageError` line (exit 2) —
never another exception, a traceback or exit 3. The examples are bounded so the file runs in
a few seconds, and none of it needs TensorFlow.
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shapetrace.baselines.baseline import load_baseline
from shapetrace.baselines.project import allowed_code
from shapetrace.errors import UsageError
from shapetrace.models.catalog import parse_size
from shapetrace.models.loading import parse_factory_args, parse_input_shapes, parse_model_spec

FUZZ = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# Text that looks like what people type for these options, plus anything at all.
option_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=string.digits + "xX×,=-. _" + "abc", max_size=30),
    st.from_regex(r"[a-z_]{1,8}=[0-9x]{0,12}", fullmatch=True),
    st.from_regex(r"[a-z_]{1,8}=.{0,20}", fullmatch=True),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def ends_in_value_or_usage_error(function, *args):
    try:
        return function(*args)
    except UsageError as error:
        message = str(error)
        assert message and "\n" not in message and "Traceback" not in message
        return None


@FUZZ
@given(option_text)
def test_size_parser(text):
    result = ends_in_value_or_usage_error(parse_size, text)
    assert result is None or (len(result) == 2 and min(result) >= 1)


@FUZZ
@given(st.lists(option_text, max_size=4))
def test_input_shape_parser(items):
    result = ends_in_value_or_usage_error(parse_input_shapes, items)
    assert result is None or all(dims and min(dims) >= 1 for dims in result.values())


@FUZZ
@given(st.lists(option_text, max_size=4))
def test_factory_arg_parser(items):
    result = ends_in_value_or_usage_error(parse_factory_args, items)
    assert result is None or all(key.isidentifier() for key in result)


@FUZZ
@given(st.text(max_size=60))
def test_model_spec_parser(text):
    spec = ends_in_value_or_usage_error(parse_model_spec, text)
    assert spec is None or spec.kind in ("application", "file", "factory")


@pytest.fixture(scope="module")
def fuzz_project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzz_project")
    (root / "pyproject.toml").write_text("")
    return root


VALID = {
    "schema": "shapetrace.baseline/1",
    "request": {"model": "mobilenetv3small", "channels": 1, "size": [32, 32], "batch": 1},
    "verdict": "ok",
    "boundary": {"accepted": True, "reason": None},
    "broken": None,
    "probes": [{"name": "input_layer", "shape": [1, 32, 32, 1]}],
    "layers": [
        {
            "path": "m/conv",
            "name": "conv",
            "type": "Conv2D",
            "output": [1, 16, 16, 16],
            "declared_output": [None, 16, 16, 16],
            "static_output": [None, 16, 16, 16],
        }
    ],
}


@FUZZ
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_baseline_reader_on_arbitrary_bytes(fuzz_project, raw):
    path = fuzz_project / "bytes.json"
    path.write_bytes(raw)
    ends_in_value_or_usage_error(load_baseline, path)


@FUZZ
@given(
    st.sampled_from(
        [
            "request",
            "model",
            "size",
            "channels",
            "factory_args",
            "imports",
            "layers",
            "probes",
            "verdict",
            "inputs",
        ]
    ),
    json_values,
)
def test_baseline_reader_and_its_code_check_on_edited_documents(fuzz_project, field, value):
    """A valid baseline with one field replaced by arbitrary JSON: read, validate, and decide what
    code it may run — which must never be anything (the fuzz project holds no code)."""
    doc = json.loads(json.dumps(VALID))
    if field in ("request", "layers", "probes", "verdict"):
        doc[field] = value
    else:
        doc["request"][field] = value
    path = fuzz_project / "edited.json"
    path.write_text(json.dumps(doc))
    data = ends_in_value_or_usage_error(load_baseline, path)
    if data is not None:
        code = ends_in_value_or_usage_error(allowed_code, data.request, path)
        assert code is None or (code.factory is None and code.imports == ())


@settings(FUZZ, max_examples=30)
@given(option_text, st.lists(option_text, max_size=2), st.lists(option_text, max_size=2), option_text)
def test_cli_options_never_exit_3(fuzz_project, capsys, size, inputs, factory_args, weights):
    """The CLI with arbitrary --size/--input/--factory-arg/--weights on a missing model file:
    always exit 2 and one error line (the parsers run before the model is looked at)."""
    from shapetrace.cli.app import main

    argv = ["trace", str(fuzz_project / "missing.keras"), "--size", size, "--weights", weights]
    for item in inputs:
        argv += ["--input", item]
    for item in factory_args:
        argv += ["--factory-arg", item]
    with pytest.raises(SystemExit) as info:
        main(argv)
    _, err = capsys.readouterr()
    assert info.value.code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


# --------------------------------------------------------------------------- issue 22's families

# Any character at all, with the ones terminals and file systems treat specially over-represented.
hostile_text = st.text(
    alphabet=st.one_of(
        st.characters(),
        st.sampled_from(["\x00", "\x1b", "\x9b", "\u202e", "\u2066", "\ud800", "/", "[", "]", "\n", "."]),
    ),
    max_size=40,
)


@FUZZ
@given(hostile_text)
def test_visible_leaves_nothing_a_terminal_acts_on(text):
    from shapetrace.messages import visible

    shown = visible(text)
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", shown)
    assert visible(shown) == shown  # escaping twice changes nothing


@FUZZ
@given(hostile_text)
def test_output_paths_are_refused_in_one_line_or_accepted(tmp_path_factory, text):
    from shapetrace.fileio import validate_writable

    folder = tmp_path_factory.mktemp("out")
    result = ends_in_value_or_usage_error(validate_writable, str(folder / text) if text else text, "svg")
    assert result is None or not result.exists() or result.is_file()


@FUZZ
@given(hostile_text)
def test_layers_patterns_end_in_a_filter_or_one_line(text):
    from shapetrace.tracing.selection import parse_layers

    ends_in_value_or_usage_error(parse_layers, text)


@FUZZ
@given(
    st.one_of(
        st.tuples(st.integers(), st.integers()), st.lists(st.integers(), max_size=3), st.text(max_size=8)
    )
)
def test_api_size_values_are_checked_before_anything_is_built(size):
    from shapetrace.api import _size_pair
    from shapetrace.models.catalog import parse_size

    parse = parse_size if isinstance(size, str) else _size_pair
    result = ends_in_value_or_usage_error(parse, size)
    assert result is None or (len(result) == 2 and min(result) >= 1)
