"""Reading JSON fields back: each checked, converted, and named by its path when it does not fit."""

from __future__ import annotations

import pytest

from shapetrace._fields import SHAPE, WHOLE, Fields, optional
from shapetrace.errors import UsageError
from shapetrace.records import Request


def test_a_field_is_converted_or_defaulted():
    fields = Fields({"output": [1, None, 3], "count": 4}, "layers[2]")
    assert fields.get("output", SHAPE) == (1, None, 3)
    assert fields.get("count", WHOLE) == 4
    assert fields.get("absent", WHOLE, 7) == 7
    assert fields.get("output", optional(SHAPE)) == (1, None, 3)
    assert Fields({"output": None}, "").get("output", optional(SHAPE)) is None


@pytest.mark.parametrize(
    "data, key, message",
    [
        ({}, "count", "layers[2].count: expected a whole number, got nothing"),
        ({"count": True}, "count", "layers[2].count: expected a whole number, got True"),
        ({"count": -1}, "count", "layers[2].count: expected a whole number, got -1"),
        (
            {"output": [1, "x"]},
            "output",
            "layers[2].output: expected a shape (a list of whole numbers and nulls), got [1, 'x']",
        ),
    ],
    ids=["missing", "bool", "negative", "shape"],
)
def test_a_field_that_does_not_fit_is_named_by_its_path(data, key, message):
    kind = WHOLE if key == "count" else SHAPE
    with pytest.raises(UsageError) as info:
        Fields(data, "layers[2]").get(key, kind)
    assert str(info.value) == message


def test_records_are_named_by_their_index():
    fields = Fields({"layers": [{"n": 1}, {"n": "x"}]}, "")
    with pytest.raises(UsageError, match=r"^layers\[1\]\.n: expected a whole number, got 'x'$"):
        fields.records("layers", lambda item, where: Fields(item, where).get("n", WHOLE))
    assert Fields({}, "").records("layers", lambda item, where: item, required=False) == ()
    with pytest.raises(UsageError, match=r"^doc: expected an object, got \[\]$"):
        Fields([], "doc")


def test_a_huge_value_is_shown_short():
    with pytest.raises(UsageError) as info:
        Fields({"count": "x" * 10_000}, "").get("count", WHOLE)
    assert len(str(info.value)) < 120


def test_a_request_is_read_back_field_by_field():
    request = {"model": "net.py:build", "size": [32, 32], "batch": 2, "custom": "dropped"}
    read = Request.from_dict(request)
    assert (read.model, read.size, read.batch) == ("net.py:build", (32, 32), 2)
    assert read.to_dict() == {"model": "net.py:build", "size": [32, 32], "batch": 2}  # unknown keys dropped
    with pytest.raises(UsageError, match=r"^request\.size: expected \[height, width\] or null, got \[32\]$"):
        Request.from_dict({"size": [32]})
    with pytest.raises(UsageError, match=r"^request\.engine: expected "):
        Request.from_dict({"engine": "fast"})
