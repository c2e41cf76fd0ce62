"""Views of a trace (``columns``, ``depth``, ``layers``, changes only): the same rows for the table and JSON."""

from __future__ import annotations

import pytest
from conftest import render_plain
from toy_models import conv_rows, hand_trace

from shapetrace.errors import UsageError
from shapetrace.tracing.selection import (
    ALWAYS_IN_JSON,
    COLUMNS,
    DEFAULT_COLUMNS,
    View,
    changed_rows,
    parse_columns,
    parse_layers,
)


def test_columns_choose_table_and_json_alike(nested_trace):
    from shapetrace.render.table import trace_table

    view = View.parse(columns="layer,actual,macs")
    text = render_plain(trace_table(nested_trace, view=view))
    header = text.splitlines()[2]
    assert "layer" in header and "MACs" in header and "declared" not in header and "params" not in header
    rows = view.trace_dict(nested_trace)["layers"]
    assert set(rows[0]) == {"index", "path", "failed", "name", "depth", "output", "macs"}


def test_depth_collapses_nested_models_with_summed_costs(nested_trace):
    view = View.parse(depth=0)
    rows = view.rows(nested_trace)
    inner = [r for r in nested_trace.layers if r.depth == 1]
    merged = [r for r in rows if r.path == "seq/efficientnetb0"]
    assert len(merged) == 1 and len(rows) == len(nested_trace.layers) - len(inner) + 1
    (row,) = merged
    assert row.macs == sum(r.macs for r in inner)
    assert row.params == sum(r.params for r in inner)
    assert row.channels_in == 1 and row.channels_out == 1280 and row.channels_changed
    assert sum(r.params for r in rows) == nested_trace.total_params  # the invariant survives
    data = view.trace_dict(nested_trace)
    assert [r["path"] for r in data["layers"]] == [r.path for r in rows]


def test_layers_regex_and_range(nested_trace):
    rows = View.parse(layers="block1a_").rows(nested_trace)
    assert rows and all("block1a_" in r.path for r in rows)
    span = View.parse(layers="normalization..stem_activation").rows(nested_trace)
    assert [r.name for r in span][0] == "normalization" and span[-1].name == "stem_activation"
    assert [r.name for r in span] == [
        "normalization",
        "stem_conv_pad",
        "stem_conv",
        "stem_bn",
        "stem_activation",
    ]
    with pytest.raises(UsageError, match="no layer named 'nope'"):
        View.parse(layers="nope..stem_bn").rows(nested_trace)
    with pytest.raises(UsageError, match="matches none of the"):
        View.parse(layers="^no_such_layer$").rows(nested_trace)


@pytest.mark.parametrize(
    "parse, text, words",
    [
        (parse_columns, "layer,bogus", "Unknown column 'bogus'"),
        (parse_columns, " , ", "Empty `columns`"),
        (parse_layers, "", "Empty `layers`"),
        (parse_layers, "block(", "Invalid `layers` regular expression"),
    ],
)
def test_bad_view_options_raise(parse, text, words):
    with pytest.raises(UsageError, match=words.replace("(", r"\(")):
        parse(text)


def test_layer_filter_bound_is_a_usage_error():
    with pytest.raises(UsageError, match="Invalid `layers`"):
        parse_layers("(")
    assert parse_layers("block[12]") is not None


def test_changes_only_keeps_the_changes_and_both_ends():
    trace = hand_trace(conv_rows("a", "b", "c", "d", "e", changes_at="c"))
    assert [r.name for r in changed_rows(trace.layers)] == ["a", "c", "e"]
    assert [r.name for r in View(changes_only=True).rows(trace)] == ["a", "c", "e"]
    short = hand_trace(conv_rows("a", "b")).layers
    assert changed_rows(short) == short


def test_ranges_with_an_open_end_and_in_the_wrong_order():
    trace = hand_trace(conv_rows("a", "b", "c", "d"))
    assert [r.name for r in View.parse(layers="c..").rows(trace)] == ["c", "d"]
    assert [r.name for r in View.parse(layers="..b").rows(trace)] == ["a", "b"]
    assert [r.name for r in View.parse(layers="m/b..m/c").rows(trace)] == ["b", "c"]  # paths too
    with pytest.raises(UsageError, match="runs before"):
        View.parse(layers="d..b").rows(trace)
    with pytest.raises(UsageError, match="names no layer"):
        parse_layers(" .. ")


def test_a_range_and_an_expression_are_told_apart():
    assert parse_layers(None) is None
    span = parse_layers("stem..head")
    assert (span.start, span.stop, span.pattern) == ("stem", "head", None)
    pattern = parse_layers("block.*_add")
    assert pattern.pattern is not None and pattern.start is None


def test_columns_in_the_order_given_aliases_resolved_repeats_dropped():
    assert parse_columns(None) == DEFAULT_COLUMNS
    assert parse_columns("Output, name, layer, bytes") == ("actual", "layer", "memory")
    assert parse_columns("all") == tuple(COLUMNS)
    assert parse_columns("macs,default") == ("macs", *(c for c in DEFAULT_COLUMNS if c != "macs"))


def test_a_trimmed_row_keeps_the_keys_every_row_has():
    trace = hand_trace(conv_rows("a", "b"))
    assert View().is_default and not View.parse(columns="layer").is_default
    assert View().row_dict(trace.layers[0]) == trace.layers[0].to_dict()
    trimmed = View.parse(columns="layer").row_dict(trace.layers[0])
    assert set(ALWAYS_IN_JSON) <= set(trimmed) < set(trace.layers[0].to_dict())
