"""A serving process keeps the collector off what it built at startup."""

from __future__ import annotations

import gc

from barbershop_entrypoints.startup_objects import startup_objects_frozen


def _walked(obj: object) -> bool:
    return any(candidate is obj for candidate in gc.get_objects())


def test_objects_made_before_serving_are_not_walked_by_the_collector_while_serving() -> None:
    made_at_startup: list[object] = [[]]

    with startup_objects_frozen():
        made_while_serving: list[object] = [[]]
        assert gc.get_freeze_count() > 0
        assert not _walked(made_at_startup)
        assert _walked(made_while_serving)

    assert gc.get_freeze_count() == 0
    assert _walked(made_at_startup)  # a process that goes on collects them again
