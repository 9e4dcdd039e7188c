"""Bulk work that builds hundreds of thousands of small objects (an import's rows) pays for
Python's cyclic garbage collector again and again: every full collection walks every object
still alive, and a 50,000-row import keeps most of them alive until it ends. Reference counting
frees everything else as usual; a pause only puts off the search for reference cycles."""

from __future__ import annotations

import gc
from contextlib import contextmanager


@contextmanager
def cycle_collection_paused():
    """No cyclic garbage collection inside the block; the collector's state is restored after
    (a nested pause leaves it off until the outer one ends)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
