"""Reading JSON back into records: each field checked, and named by its path when it does not fit.

``layers[3].output: expected a shape (a list of whole numbers and nulls) or null, got 'x'`` — the
field, what was expected, what was received, on one line. Values are shown through
:mod:`reprlib`, so a hostile document (deeply nested, huge) cannot make the message long or the
reader recurse. Nothing here imports Keras or anything that computes.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from shapetrace.errors import UsageError
from shapetrace.options import Engine, Pooling

T = TypeVar("T")
MISSING: Any = object()
_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxlist, _SHOWN.maxdict, _SHOWN.maxstring, _SHOWN.maxother = 3, 6, 4, 40, 40


def _shown(value: Any) -> str:
    if value is MISSING:
        return "nothing"
    text = _SHOWN.repr(value)  # bounded depth and length: safe on any JSON, however nested
    return text if len(text) <= 60 else text[:57] + "..."


def invalid(where: str, expected: str, value: Any) -> UsageError:
    return UsageError(f"{where or 'the document'}: expected {expected}, got {_shown(value)}")


@dataclass(frozen=True)
class Kind:
    """What one JSON field may hold, in words for the error, and how it becomes record data."""

    expected: str
    accepts: Callable[[Any], bool]
    convert: Callable[[Any], Any] = lambda value: value

    def read(self, value: Any, where: str) -> Any:
        if value is MISSING or not self.accepts(value):
            raise invalid(where, self.expected, value)
        return self.convert(value)


def is_int(value: Any, minimum: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def is_shape(value: Any) -> bool:
    return isinstance(value, list) and all(d is None or is_int(d) for d in value)


def optional(kind: Kind) -> Kind:
    return Kind(
        f"{kind.expected} or null",
        lambda v: v is None or kind.accepts(v),
        lambda v: None if v is None else kind.convert(v),
    )


def one_of(*values: str) -> Kind:
    return Kind(" or ".join(f'"{v}"' for v in values), lambda v: isinstance(v, str) and v in values)


WHOLE = Kind("a whole number", is_int)
POSITIVE = Kind("a whole number of at least 1", lambda v: is_int(v, 1))
TEXT = Kind("a string", lambda v: isinstance(v, str))
NAME = Kind("a non-empty string", lambda v: isinstance(v, str) and v != "")
FLAG = Kind("true or false", lambda v: isinstance(v, bool))
SECONDS = Kind(
    "a number of seconds",
    lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < float("inf"),
    float,
)
SHAPE = Kind("a shape (a list of whole numbers and nulls)", is_shape, tuple)
SHAPES = Kind(
    "a list of shapes",
    lambda v: isinstance(v, list) and all(is_shape(s) for s in v),
    lambda v: tuple(tuple(s) for s in v),
)
NAMES = Kind("a list of strings", lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v), tuple)
OBJECT = Kind("an object", lambda v: isinstance(v, dict), dict)
VERSIONS = Kind(
    "an object of version strings",
    lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
    dict,
)
LIST = Kind("a list", lambda v: isinstance(v, list))
ENGINE = one_of(*(e.value for e in Engine))
# What a trace's ``request`` (how to run it again, :class:`shapetrace.records.Request`) may hold;
# a key that is absent is fine.
REQUEST_FIELDS: dict[str, Kind] = {
    "model": optional(
        Kind("a model name, file or factory", lambda v: isinstance(v, str) and v.strip() != "")
    ),
    "channels": optional(POSITIVE),
    "size": optional(
        Kind(
            "[height, width]",
            lambda v: isinstance(v, list) and len(v) == 2 and all(is_int(d, 1) for d in v),
            tuple,
        )
    ),
    "batch": POSITIVE,
    "native": FLAG,
    "top": FLAG,
    "weights": optional(TEXT),
    "pooling": optional(one_of(*(p.value for p in Pooling))),
    "factory_args": OBJECT,
    "inputs": Kind(
        "an object of input name → [dims]",
        lambda v: (
            isinstance(v, dict)
            and all(isinstance(d, list) and d and all(is_int(x, 1) for x in d) for d in v.values())
        ),
        lambda v: {name: tuple(dims) for name, dims in v.items()},
    ),
    "imports": Kind(
        "a list of files or modules to import",
        lambda v: isinstance(v, list) and all(isinstance(i, str) and i.strip() for i in v),
        tuple,
    ),
    "engine": ENGINE,
}


class Fields:
    """One JSON object being read: each field is named by its path when it does not fit."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, Mapping):
            raise invalid(where, "an object", data)
        self.data, self.where = data, where

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def raw(self, key: str) -> Any:
        return self.data.get(key, MISSING)

    def get(self, key: str, kind: Kind, default: Any = MISSING) -> Any:
        value = self.data.get(key, MISSING)
        if value is MISSING and default is not MISSING:
            return default
        return kind.read(value, self.path(key))

    def records(self, key: str, read: Callable[[Any, str], T], *, required: bool = True) -> tuple[T, ...]:
        items = self.get(key, LIST, MISSING if required else [])
        return tuple(read(item, f"{self.path(key)}[{i}]") for i, item in enumerate(items))
