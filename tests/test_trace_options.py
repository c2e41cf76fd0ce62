"""TraceOptions: one type for what trace, snapshot and compare share, in the library and the CLI."""

from __future__ import annotations

import pytest

from shapetrace.errors import UsageError
from shapetrace.options import Engine, Pooling, TraceOptions


def test_the_vocabularies_become_enums_and_imports_a_tuple():
    options = TraceOptions(engine="submodels", pooling="avg", imports=["layers.py"])
    assert options.engine is Engine.submodels and options.pooling is Pooling.avg
    assert options.imports == ("layers.py",)
    with pytest.raises(UsageError, match=r"engine='walk' is not one of stream, submodels"):
        TraceOptions(engine="walk")


def test_keywords_are_fields_applied_over_options():
    base = TraceOptions(size=(32, 32), batch=2)
    merged = TraceOptions.merged(base, {"batch": 4})
    assert merged == TraceOptions(size=(32, 32), batch=4)
    assert TraceOptions.merged(None, {}) == TraceOptions()
    with pytest.raises(TypeError, match=r"'sise'.*size, batch"):
        TraceOptions.merged(base, {"sise": (32, 32)})


def test_trace_takes_options_or_their_fields_alike():
    import shapetrace

    by_options = shapetrace.trace(
        "mobilenetv3small", channels=1, options=TraceOptions(size=(32, 32), native=True)
    )
    by_keywords = shapetrace.trace("mobilenetv3small", channels=1, size=(32, 32), native=True)
    assert by_options.request == by_keywords.request
    assert [layer.output for layer in by_options.layers] == [layer.output for layer in by_keywords.layers]
    with pytest.raises(TypeError, match="unexpected keyword argument 'sise'"):
        shapetrace.trace("mobilenetv3small", sise=(32, 32))


def test_trace_and_snapshot_declare_the_shared_options_once():
    import typer.main

    from shapetrace.cli.app import app

    group = typer.main.get_command(app)
    shared = {"--size", "--batch", "--weights", "--pooling", "--native", "--top", "--engine"}
    shared |= {"--factory-arg", "--input", "--unsafe-load", "--import"}
    for name in ("trace", "snapshot"):
        flags = {flag for param in group.commands[name].params for flag in param.opts}
        assert shared <= flags, (name, shared - flags)
        assert "--options" not in flags  # the decorator's parameter never shows
