"""The published JSON of a trace (schema ``shapetrace.trace/1``): the record plus what is computed from it.

:meth:`Trace.to_dict <shapetrace.records.Trace.to_dict>` is the record's own data, which
:meth:`Trace.from_dict <shapetrace.records.Trace.from_dict>` reads back. The document that
``shapetrace trace --format json``, baselines and training outputs publish adds two things
computed from it — the verdict in plain words (:mod:`shapetrace.tracing.explain`) and the cost totals
(:mod:`shapetrace.tracing.costs`) — in the same place the layout has always had them. Records stay
pure data; this is where data meets the modules that compute and explain.
"""

from __future__ import annotations

from typing import Any

from shapetrace.records import Trace
from shapetrace.tracing.costs import totals_of
from shapetrace.tracing.explain import verdict_text

__all__ = ["trace_document"]


def trace_document(trace: Trace) -> dict[str, Any]:
    """The JSON document of ``trace``: :meth:`Trace.to_dict` plus ``summary`` and ``costs``.

    Args:
        trace: any trace (run now or read back with :meth:`Trace.from_dict`).

    Returns:
        JSON-ready data; ``summary`` follows ``verdict`` and ``costs`` ends the document,
        as in every release so far.
    """
    document: dict[str, Any] = {}
    for key, value in trace.to_dict().items():
        document[key] = value
        if key == "verdict":
            document["summary"] = verdict_text(trace)
    document["costs"] = totals_of(trace).to_dict()
    return document
