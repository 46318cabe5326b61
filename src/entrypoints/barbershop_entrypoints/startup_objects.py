"""Keep the cyclic garbage collector off the objects a process builds at startup.

A server process holds a few hundred thousand long-lived objects once it has started: the
framework's routes and handlers, SQLAlchemy's tables and compiled statements, the phone
number metadata, the container. Python's collector walks all of them in every full
collection, and a bulk registration allocates enough objects (rows, records, audit events)
to trigger one every few requests: 25–30 % of the loop's CPU under bulk load
(``docs/performance.md``). ``gc.freeze()`` moves what exists at the end of startup into a
generation the collector never scans; objects made afterwards are collected as before.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def startup_objects_frozen() -> Iterator[None]:
    """Freeze the objects that exist now for the duration of the block (a process's serving
    life); unfrozen afterwards, so that a process that goes on (a test) collects them again."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
