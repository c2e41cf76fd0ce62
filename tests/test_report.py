"""A trace's published JSON document: the record, its verdict in words and its cost totals."""

from __future__ import annotations

from toy_models import conv_rows, hand_trace

from shapetrace.records import Trace
from shapetrace.tracing.costs import totals_of
from shapetrace.tracing.explain import verdict_text
from shapetrace.tracing.report import trace_document


def test_the_document_is_the_record_with_summary_after_verdict_and_costs_last():
    trace = hand_trace(conv_rows("a", "b", changes_at="a"))
    document = trace_document(trace)
    record = trace.to_dict()
    keys = list(document)
    assert keys == [
        *list(record)[: list(record).index("verdict") + 1],
        "summary",
        *list(record)[list(record).index("verdict") + 1 :],
        "costs",
    ]
    assert {k: v for k, v in document.items() if k not in ("summary", "costs")} == record
    assert document["summary"] == verdict_text(trace)
    assert document["costs"] == totals_of(trace).to_dict()


def test_the_record_reads_back_from_the_document():
    trace = hand_trace(conv_rows("a", "b"))
    assert Trace.from_dict(trace_document(trace)) == trace
