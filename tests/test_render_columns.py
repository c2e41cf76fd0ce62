"""Tables from column tables (shapetrace/render/columns.py): the full table, the fitted one, gaps."""

from __future__ import annotations

from rich.text import Text

from shapetrace.render.columns import (
    GAP,
    Column,
    build_table,
    fit_columns,
    fit_whole_or_compact,
    left_out_note,
    natural_width,
    rows_of,
)
from shapetrace.render.text import render_text

PEOPLE = [
    ("ada", 36, "wrote the first program for an engine that was never finished"),
    ("alan", 41, "asked whether machines can think"),
]
COLUMNS = [
    Column[tuple]("name", "Name", lambda p: p[0]),
    Column[tuple]("age", "Age", lambda p: str(p[1]), justify="right", optional=True),
    Column[tuple]("note", "Note", lambda p: Text(p[2]), wraps=True, prose_min=10),
]


def _lines(table, width=200) -> list[str]:
    return render_text(table, width=width).splitlines()


def test_the_full_table_has_every_column_and_a_gap_row():
    rows = rows_of(COLUMNS, [PEOPLE[0], None, PEOPLE[1]])
    assert rows[1] is GAP
    lines = _lines(build_table(COLUMNS, rows))
    assert all(word in lines[1] for word in ("Name", "Age", "Note"))
    body = [line for line in lines if "│" in line or "┃" in line][1:]
    assert "ada" in body[0] and "36" in body[0]
    assert "⋮" in body[1] and "ada" not in body[1] and "alan" not in body[1]
    assert "alan" in body[2] and body[2].rstrip().endswith("│")
    assert max(len(line) for line in lines) == natural_width(COLUMNS, rows)


def test_a_narrow_window_leaves_out_optional_columns_and_wraps_prose():
    rows = rows_of(COLUMNS, PEOPLE)
    fit = fit_columns(COLUMNS, rows, 30, priority=("age",))
    assert "age" in fit.left_out and fit.shown == ("name", "note")
    lines = _lines(build_table(COLUMNS, rows, fit), width=30)
    assert max(len(line) for line in lines) <= 30
    assert "engine" in "".join(lines)  # the prose wrapped, nothing cut
    note = left_out_note(fit)
    assert note is not None and "Left out to fit 30 columns: age" in note.plain and "--columns" in note.plain
    assert "--columns" not in left_out_note(fit, columns_option=False).plain


def test_everything_fits_in_a_wide_window():
    rows = rows_of(COLUMNS, PEOPLE)
    fit = fit_columns(COLUMNS, rows, 200, priority=("age",))
    assert fit.shown == ("name", "age", "note") and not fit.left_out and fit.fits
    assert left_out_note(fit) is None


def test_whole_form_when_it_fits_else_the_compact_one():
    asked = []

    def form(compact: bool):
        asked.append(compact)
        return COLUMNS, rows_of(COLUMNS, PEOPLE)

    _, _, fit = fit_whole_or_compact(form, 200, ("age",))
    assert asked == [False] and fit.edge
    asked.clear()
    _, _, fit = fit_whole_or_compact(form, 30, ("age",))
    assert asked == [False, True] and not fit.edge


def test_room_for_keeps_a_column_wide_enough_without_rows():
    arrow = [Column[tuple]("to", "", lambda p: "→", room_for="→→→→→→")]
    assert natural_width(arrow, []) > natural_width([Column[tuple]("to", "", lambda p: "→")], [])
