"""Python's cyclic garbage collector paused while large structures without reference
cycles are built: a parsed plots file, a job's analyses, a response object of thousands of
plots. Each of the many collections their allocations trigger would walk every live
object again: a quarter of `eudr analyze`'s time at 10,000 plots, more than half of a
10,000-plot GET /jobs/{id} (BENCHMARKS.md). Reference counting still frees everything;
cycles wait for the collection after the pause."""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from typing import Iterator

_lock = threading.Lock()
_holders = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """The collector off while the block runs. Counted, so blocks overlapping in threads
    (API requests) turn it back on when the last one ends, and only if it was on when the
    first began."""
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()
