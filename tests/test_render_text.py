"""Plain text from renderables: as wide as the table needs, never cut, control characters escaped."""

from __future__ import annotations

from rich.table import Table

from shapetrace.render.text import MIN_WIDTH, PROSE_MIN_WIDTH, VisibleConsole, needed_width, render_text


def _table(name: str = "n" * 150, prose: str = "why " * 20) -> Table:
    table = Table()
    table.add_column("layer", no_wrap=True)
    table.add_column("why")
    table.add_row(name, prose.strip())
    return table


def test_a_table_is_rendered_as_wide_as_it_needs_and_never_cut():
    table = _table()
    text = render_text(table, measure=table)
    assert "n" * 150 in text and "…" not in text
    assert max(len(line) for line in text.splitlines()) == needed_width(VisibleConsole(), table)
    assert all(line == line.rstrip() for line in text.splitlines())


def test_prose_may_wrap_to_its_floor_while_names_keep_their_width():
    table = _table()
    console = VisibleConsole()
    wide, narrow = needed_width(console, table), needed_width(console, table, wrap=True)
    assert narrow < wide
    assert narrow >= 150 + PROSE_MIN_WIDTH
    assert [c.max_width for c in table.columns] == [None, None]  # the table is left as it was


def test_short_text_gets_the_minimum_width_and_controls_are_escaped():
    assert render_text("plain") == "plain\n"
    assert render_text("a\x1b[2Jb") == "a\\x1b[2Jb\n"
    text = render_text("x " * 60)
    assert max(len(line) for line in text.splitlines()) <= MIN_WIDTH
