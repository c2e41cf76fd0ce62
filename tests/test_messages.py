"""Messages as one readable line: exceptions reduced, echoed input clipped, control characters shown."""

from __future__ import annotations

from shapetrace.messages import ECHO_LIMIT, LINE_LIMIT, clip_message, one_line, visible


def test_clip_message_keeps_short_messages():
    text = "Baseline 'shapes/net.json' does not exist: create it."
    assert clip_message(text) == text
    assert clip_message("a" * 300) == "a" * 199 + "…"


def test_visible_escapes_every_control_and_keeps_text():
    assert visible("plain name/é·→") == "plain name/é·→"
    assert visible("a\x1b[2Jb\u202ec\x9b\u2066\x00\x7f") == "a\\x1b[2Jb\\u202ec\\x9b\\u2066\\x00\\x7f"
    assert visible("line\nnext\tcol") == "line\nnext\tcol"


def test_clip_message_cuts_long_runs_and_keeps_the_tail_of_a_long_message():
    clipped = clip_message("name " + "n" * (ECHO_LIMIT + 50) + " end")
    assert clipped == "name " + "n" * (ECHO_LIMIT - 1) + "… end"
    words = " ".join(f"w{i}" for i in range(1000)) + " run `shapetrace snapshot`"
    long = clip_message(words)
    assert (
        len(long) == LINE_LIMIT and long.startswith("w0 w1 ") and long.endswith("run `shapetrace snapshot`")
    )
    assert " … " in long


def test_one_line_drops_the_call_context_and_tensor_values():
    error = ValueError(
        "Exception encountered when calling Conv2D.call().\n\n"
        "Input 0 is incompatible: expected axis -1 of input shape to have value 3, "
        "but received input with shape (1, 8, 8, 1)\n\n"
        "Arguments received by Conv2D.call():\n  • inputs=tf.Tensor(shape=(1, 8, 8, 1), dtype=float32)"
    )
    assert one_line(error) == (
        "Input 0 is incompatible: expected axis -1 of input shape to have value 3, "
        "but received input with shape (1, 8, 8, 1)"
    )
    tensor = ValueError("bad value <tf.Tensor: shape=(2, 3), dtype=float32, numpy=array([[1, 2, 3]])>")
    assert one_line(tensor) == "bad value tensor of shape (2, 3)"


def test_one_line_is_bounded_and_never_fails():
    assert one_line(ValueError("x" * 400), limit=50) == "x" * 49 + "…"
    assert one_line(KeyError()) == "KeyError"  # an empty message: the exception's name

    class Unprintable(Exception):
        def __str__(self):
            raise RuntimeError("no")

    assert one_line(Unprintable()) == "Unprintable (its message cannot be shown)"
