"""Keys are rotatable per purpose: raising one purpose's version replaces that key alone."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from litestar.exceptions import NotAuthorizedException

from barbershop_adapters.key_derivation import KEY_PURPOSES, KeyRing
from barbershop_core.model import Manager
from barbershop_entrypoints.bootstrap import Container, build_container
from barbershop_entrypoints.http.auth import MANAGER_API
from barbershop_entrypoints.http.jwt_auth import SessionAuth, SessionToken, bearer_auth
from barbershop_entrypoints.settings import Settings, SettingsError
from tests.fakes import FakeClock

SECRET = "a master secret of at least thirty-two characters"


def test_rotating_one_purpose_changes_its_key_and_no_other() -> None:
    before = KeyRing(SECRET.encode())
    after = KeyRing(SECRET.encode(), {"tokens": 2})

    assert after.key("tokens") != before.key("tokens")
    for purpose in set(KEY_PURPOSES) - {"tokens"}:
        assert after.key(purpose) == before.key(purpose)
    assert KeyRing(SECRET.encode(), {"tokens": 1}).key("tokens") == before.key("tokens")
    assert KeyRing(SECRET.encode(), {"tokens": 3}).key("tokens") not in {before.key("tokens"), after.key("tokens")}


def test_an_unknown_purpose_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown key purpose"):
        KeyRing(SECRET.encode()).key("sessions")
    with pytest.raises(ValueError, match="unknown key purposes"):
        KeyRing(SECRET.encode(), {"sessions": 2})


def _container(tmp_path: Path, **versions: str) -> Container:
    env = {"BARBERSHOP_DATA_DIR": str(tmp_path), "BARBERSHOP_SECRET_KEY": SECRET} | {
        f"BARBERSHOP_KEY_VERSION_{name}": value for name, value in versions.items()
    }
    return build_container(Settings.from_env(env))


def _manager_api(container: Container) -> SessionAuth[Manager]:
    return bearer_auth(MANAGER_API, container.token_key, timedelta(hours=1))


async def test_rotating_the_token_key_ends_tokens_and_keeps_sealed_passwords_partner_keys_and_callbacks(
    tmp_path: Path,
) -> None:
    old, new = _container(tmp_path), _container(tmp_path, TOKENS="2")
    try:
        clock = FakeClock()
        before, after = _manager_api(old), _manager_api(new)
        token = before.issue(1, 0, clock.now()).token
        assert SessionToken.decode(token, before.config.token_secret, "HS256", audience="manager-api").sub == "1"
        with pytest.raises(NotAuthorizedException) as refused:
            SessionToken.decode(token, after.config.token_secret, "HS256", audience="manager-api")
        assert isinstance(refused.value.__cause__, jwt.InvalidSignatureError)
        assert new.secret_box.open(old.secret_box.seal("Temp-Pass-123")) == "Temp-Pass-123"
        assert new.digester.digest("bsk_key") == old.digester.digest("bsk_key")
        assert new.callback_secret("sms") == old.callback_secret("sms")
    finally:
        await old.aclose()
        await new.aclose()


async def test_rotating_the_partner_key_digests_leaves_tokens_working(tmp_path: Path) -> None:
    old, new = _container(tmp_path), _container(tmp_path, PARTNER_KEYS="2")
    try:
        assert new.digester.digest("bsk_key") != old.digester.digest("bsk_key")
        assert new.token_key == old.token_key
    finally:
        await old.aclose()
        await new.aclose()


def test_a_key_version_below_one_stops_the_start_naming_the_variable() -> None:
    with pytest.raises(
        SettingsError, match="BARBERSHOP_KEY_VERSION_SECRET_BOX: expected a whole number, at least 1, got '0'"
    ):
        Settings.from_env({"BARBERSHOP_KEY_VERSION_SECRET_BOX": "0"})
