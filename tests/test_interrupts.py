"""Ctrl-C and SIGTERM recorded while the CLI runs, raised again where a library swallowed them."""

from __future__ import annotations

import signal
import threading

import pytest

from shapetrace.errors import Terminated
from shapetrace.interrupts import (
    handling_signals,
    interrupt_exit_code,
    interrupted_code,
    raise_if_interrupted,
)


def test_exit_codes_follow_the_shell():
    assert interrupt_exit_code(signal.SIGINT) == 130
    assert interrupt_exit_code(signal.SIGTERM) == 143


def test_a_swallowed_ctrl_c_is_raised_again_until_the_block_ends():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    raise_if_interrupted()  # nothing recorded: nothing happens
    with handling_signals():
        assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) != before
        assert interrupted_code() is None
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        assert interrupted_code() == 130
        with pytest.raises(KeyboardInterrupt):  # a library swallowed it: the next check raises it again
            raise_if_interrupted()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    assert interrupted_code() is None
    raise_if_interrupted()


def test_sigterm_is_a_keyboard_interrupt_that_exits_143():
    with handling_signals():
        handler = signal.getsignal(signal.SIGTERM)
        with pytest.raises(Terminated):
            handler(signal.SIGTERM, None)
        assert issubclass(Terminated, KeyboardInterrupt) and interrupted_code() == 143
        with pytest.raises(Terminated):
            raise_if_interrupted()


def test_outside_the_main_thread_nothing_is_installed():
    before = signal.getsignal(signal.SIGINT)
    seen = []

    def work():
        with handling_signals():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen == [before]
