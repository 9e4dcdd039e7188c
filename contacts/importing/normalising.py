"""Normalise the scanned rows of a file; a large file on two processors at once.

Normalising is most of an import's CPU: about 70 µs per row, two thirds of it for the phone
number, which libphonenumber parses and validates in pure Python. From SPLIT_FROM rows on, the
process forks: the child normalises the second half, from the rows it already shares with the
parent, and sends its outcomes back through a pipe, while the parent does the first half.

The child touches nothing but the rows and the pipe, and leaves with os._exit, so no database
connection, cache client or file it inherited is used or closed. If it fails in any way, the
parent normalises the second half itself: the result is the same either way (tests compare).
"""

from __future__ import annotations

import logging
import os
import pickle

from .rows import OwnerLookup, RowOutcome

logger = logging.getLogger(__name__)

SPLIT_FROM = 20_000  # rows; below this a fork costs more than it saves
PROGRESS_EVERY = 200  # rows between two progress(done, total) calls


def normalise_rows(data_rows: list, people, progress=None) -> list[RowOutcome]:
    """The outcome of every scanned row, in order. Uses the rows up (one at a time)."""
    total = len(data_rows)
    owners = OwnerLookup(people)
    if total < SPLIT_FROM or not hasattr(os, "fork"):
        return _normalise(data_rows, 0, total, owners, progress, total)
    middle = total // 2
    child = _fork_second_half(data_rows, middle, owners)
    first = _normalise(data_rows, 0, middle, owners, progress, total, scale=2)
    second = _collect(child) if child else None
    if second is None:
        second = _normalise(data_rows, middle, total, owners, progress, total)
    else:
        data_rows[middle:] = [None] * (total - middle)
    if progress is not None:
        progress(total, total)
    return first + second


def _normalise(data_rows, start, stop, owners, progress, total, scale=1) -> list[RowOutcome]:
    outcomes = []
    for index in range(start, stop):
        row = data_rows[index]
        data_rows[index] = None  # the raw row is done with: memory stays one row per row
        outcomes.append(owners.read(row.sheet, row.row, row.cells, sheet_owner=row.sheet_owner))
        done = index + 1
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress(min(done * scale, total), total)
    if progress is not None and scale == 1:
        progress(stop, total)
    return outcomes


def _fork_second_half(data_rows, middle, owners):
    """(pid, read end of the pipe) of a child normalising data_rows[middle:], or None."""
    try:
        read_end, write_end = os.pipe()
        pid = os.fork()
    except OSError as error:
        logger.warning("import normalises in one process: %s", error)
        return None
    if pid:
        os.close(write_end)
        return pid, read_end
    # The child. Whatever happens, it ends here, without running any cleanup it inherited.
    status = 1
    try:
        os.close(read_end)
        outcomes = _normalise(data_rows, middle, len(data_rows), owners, None, 0)
        payload = pickle.dumps(
            [(o.sheet, o.row, o.email, o.values, o.warnings, o.rejection) for o in outcomes],
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(payload)
        status = 0
    finally:
        os._exit(status)


def _collect(child) -> list[RowOutcome] | None:
    pid, read_end = child
    with os.fdopen(read_end, "rb") as pipe:
        payload = pipe.read()  # the child is done computing; it waits for this read
    _pid, status = os.waitpid(pid, 0)
    if status != 0 or not payload:
        logger.warning("import: the second half's process failed (status %s)", status)
        return None
    # Our own child's pickle, through a pipe only it and we hold.
    return [RowOutcome(*fields) for fields in pickle.loads(payload)]  # noqa: S301
