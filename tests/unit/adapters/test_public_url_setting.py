"""``BARBERSHOP_PUBLIC_URL``: where the welcome message sends the client to sign in."""

from __future__ import annotations

import attrs
import pytest

from barbershop_entrypoints.settings import Settings, SettingsError
from tests.conftest import UNIT_SETTINGS, World


def test_the_sign_in_address_defaults_to_the_embedded_server() -> None:
    assert Settings.from_env({}).sign_in_url == "http://127.0.0.1:8000/client/login"


def test_a_configured_public_url_reaches_the_senders_without_its_trailing_slash() -> None:
    settings = Settings.from_env({"BARBERSHOP_PUBLIC_URL": "https://barber.example/salon/"})

    deps = World(settings=attrs.evolve(UNIT_SETTINGS, web=settings.web)).delivery()

    assert deps.sign_in_url == "https://barber.example/salon/client/login"


@pytest.mark.parametrize("raw", ["barber.example", "ftp://barber.example", "https://barber.example/?a=1", "https://"])
def test_a_public_url_that_is_not_an_http_address_is_refused_by_name(raw: str) -> None:
    with pytest.raises(SettingsError, match="BARBERSHOP_PUBLIC_URL"):
        Settings.from_env({"BARBERSHOP_PUBLIC_URL": raw})
