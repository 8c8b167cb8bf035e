"""The garbage collector's pause: nested, in threads, and restoring what it found."""

from __future__ import annotations

import gc
import threading

import pytest

from eudr_pipeline.collector import collector_paused


def test_pauses_nest_and_restore():
    assert gc.isenabled()
    with collector_paused():
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError), collector_paused():
        raise ValueError
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off():
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overlapping_threads_turn_it_on_when_the_last_ends():
    inside, release = threading.Event(), threading.Event()

    def hold():
        with collector_paused():
            inside.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    inside.wait(10)
    with collector_paused():
        pass
    assert not gc.isenabled()  # the thread's pause still holds
    release.set()
    t.join(10)
    assert gc.isenabled()
