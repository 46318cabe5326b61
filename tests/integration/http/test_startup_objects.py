"""The server keeps the cyclic collector off what it built at startup (see ``startup_objects``)."""

from __future__ import annotations

import gc

from tests.integration.http.conftest import Api


def test_a_serving_app_keeps_the_collector_off_its_startup_objects(api: Api) -> None:
    assert gc.get_freeze_count() > 0
    assert not any(candidate is api.container for candidate in gc.get_objects())
