"""Fitting a table to a window: the columns chosen by priority, prose that wraps around shapes."""

from __future__ import annotations

from conftest import render_terminal, split_shapes
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from shapetrace.render.fit import (
    ColumnSpec,
    ShapeSafeText,
    choose_columns,
    compact_shape_text,
    spec_of,
    table_width,
)


def test_table_width_is_what_rich_draws():
    """The fitter's arithmetic matches rich's box drawing, with and without the outer edge."""
    for edge in (True, False):
        table = Table(show_edge=edge, pad_edge=edge)
        widths = (3, 12, 7, 20)
        for w in widths:
            table.add_column("h", width=w)
        table.add_row(*["x" * w for w in widths])
        lines = render_terminal(table, 200).splitlines()
        assert max(cell_len(line.rstrip()) for line in lines) == table_width(widths, edge=edge)


def test_required_columns_stay_and_optional_ones_join_by_priority():
    specs = [
        ColumnSpec("index", 3, 3, required=True),
        ColumnSpec("layer", 20, 20, required=True),
        ColumnSpec("type", 14, 14),
        ColumnSpec("declared", 16, 16),
        ColumnSpec("actual", 13, 13, required=True),
        ColumnSpec("params", 9, 9),
        ColumnSpec("why", 60, 24, required=True),
    ]
    narrow = choose_columns(specs, 86, ("type", "declared", "params"))
    assert {"index", "layer", "actual", "why"} <= set(narrow.shown)
    assert narrow.width <= 86 and narrow.fits
    # type (the most wanted) does not fit in 86, but params (narrower) does: the window is used.
    assert narrow.shown == ("index", "layer", "actual", "params", "why")
    assert narrow.left_out == ("type", "declared")
    wide = choose_columns(specs, 200, ("type", "declared", "params"))
    assert wide.left_out == () and wide.width_of("why") == 60  # room: prose unwrapped
    middle = choose_columns(specs, 120, ("type", "declared", "params"))
    assert middle.shown[:3] == ("index", "layer", "type") and middle.width == 120
    assert 24 <= middle.width_of("why") < 60  # the prose column takes what is left


def test_priority_decides_who_gets_the_room():
    specs = [ColumnSpec("a", 10, 10, required=True), ColumnSpec("b", 10, 10), ColumnSpec("c", 10, 10)]
    assert choose_columns(specs, 30, ("c", "b")).shown == ("a", "c")
    assert choose_columns(specs, 30, ("b", "c")).shown == ("a", "b")


def test_a_window_too_narrow_folds_names_before_anything_else():
    specs = [
        spec_of("layer", ["block1a_project_conv"], header="layer", required=True, folds=True),
        spec_of("actual", ["(1,64,64,3)"], header="actual", required=True),
        spec_of("why", ["the input broadcasts against its mean"], header="why", wraps=True, required=True),
    ]
    fit = choose_columns(specs, 50, edge=False)
    assert fit.width_of("actual") == len("(1,64,64,3)")  # a shape column never narrows
    assert fit.width <= 50 and fit.width_of("layer") < len("block1a_project_conv")


def test_spec_of_prose_asks_for_most_of_its_lines():
    cells = ["Conv2D with filters=32"] * 9 + ["the input broadcasts against its mean of shape (1,1,1,3)"]
    spec = spec_of("why", cells, header="why", wraps=True)
    assert spec.natural == len(cells[-1])
    assert spec.minimum == len("Conv2D with filters=32")  # nine in ten cells stay on one line
    assert spec.floor == len("broadcasts")  # its longest word


def test_compact_shapes_lose_only_their_spaces():
    assert (
        compact_shape_text("mean of shape (1, 1, 1, 3), static (None, 64, 64, 1)")
        == "mean of shape (1,1,1,3), static (None,64,64,1)"
    )
    assert compact_shape_text("(5,) and (1, 2, 3)") == "(5,) and (1,2,3)"
    assert compact_shape_text("1 → 3 at norm (broadcast)") == "1 → 3 at norm (broadcast)"


def test_shape_safe_text_breaks_between_words_never_inside_a_shape():
    prose = "the input broadcasts against its mean of shape (1, 1, 1, 3) at normalization"
    for width in range(len("normalization"), len(prose) + 1):  # its longest word fits
        lines = [line.plain for line in ShapeSafeText(prose).lines(width)]
        assert all(cell_len(line) <= width for line in lines), (width, lines)
        assert " ".join(lines) == prose  # only spaces between words were turned into breaks
        assert not split_shapes("\n".join(lines)), (width, lines)
        assert any("(1, 1, 1, 3)" in line for line in lines)


def test_shape_safe_text_folds_a_word_wider_than_the_line_and_keeps_styles():
    text = Text("abcdefghij end")
    text.stylize("bold", 0, 3)
    lines = ShapeSafeText(text).lines(4)
    assert [line.plain for line in lines] == ["abcdefghij", "end"]  # divided at the space only
    assert lines[0].overflow == "fold" and lines[0].spans[0].style == "bold"
    rendered = render_terminal(ShapeSafeText(text), 4)
    assert all(cell_len(line) <= 4 for line in rendered.splitlines())
