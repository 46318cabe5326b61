"""The pieces of manager auth on their own: the manager API's JWT and the login throttle."""

from __future__ import annotations

import base64
import json
from collections import OrderedDict
from datetime import timedelta
from typing import Any

import jwt
import pytest
from litestar.security.jwt import token as litestar_token

from barbershop_entrypoints.http import jwt_auth
from barbershop_entrypoints.http.auth import MANAGER_API
from barbershop_entrypoints.http.client_auth import CLIENT_API
from barbershop_entrypoints.http.jwt_auth import IssuedToken, SessionToken, bearer_auth, session_auth
from barbershop_entrypoints.http.throttle import LoginThrottle, ThrottlePolicy
from barbershop_entrypoints.http.web.security import MANAGER_PAGE
from tests.fakes import InMemoryAttemptCounter
from tests.integration.http.conftest import Api, assert_problem

_INVALID = "Сессия истекла или токен неверен — войдите снова"


def _manager_id(api: Api) -> int:
    return int(api.login().json()["manager"]["id"])


def _issue(api: Api, manager_id: int, version: int = 0) -> IssuedToken:
    return session_auth(api.client.app.state, MANAGER_API).issue(manager_id, version, api.clock.now())


def _channels(api: Api, token: str) -> Any:
    return api.client.get("/api/channels", headers={"Authorization": f"Bearer {token}"})


def _b64(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def test_a_token_carries_the_manager_id_and_session_version_until_it_expires(sqlite_api: Api) -> None:
    manager_id = _manager_id(sqlite_api)
    issued = _issue(sqlite_api, manager_id, 0)
    claims = jwt.decode(issued.token, options={"verify_signature": False})

    assert (claims["sub"], claims["ver"], claims["aud"]) == (str(manager_id), 0, "manager-api")
    assert jwt.get_unverified_header(issued.token)["alg"] == "HS256"
    assert issued.expires_at == sqlite_api.clock.now() + timedelta(hours=12)
    assert _channels(sqlite_api, issued.token).status_code == 200
    sqlite_api.clock.advance(timedelta(hours=12))
    assert assert_problem(_channels(sqlite_api, issued.token), 401, "unauthorized")["detail"] == _INVALID


def test_a_token_of_another_session_version_is_refused(sqlite_api: Api) -> None:
    stale = _issue(sqlite_api, _manager_id(sqlite_api), 1).token

    problem = assert_problem(_channels(sqlite_api, stale), 401, "unauthorized")
    assert problem["detail"] == "Сессия завершена (выход или смена пароля) — войдите снова"


def test_a_token_signed_with_another_key_or_for_another_audience_is_refused(sqlite_api: Api) -> None:
    manager_id, state = _manager_id(sqlite_api), sqlite_api.client.app.state
    now = sqlite_api.clock.now()
    other_key = bearer_auth(MANAGER_API, b"other" * 8, timedelta(minutes=10)).issue(manager_id, 0, now)
    # The other uses, each with the installation's own key: a page session, a client token.
    page = session_auth(state, MANAGER_PAGE).issue(manager_id, 0, now)
    client = session_auth(state, CLIENT_API).issue(manager_id, 0, now)
    # The manager API's audience, signed with the client API's key.
    crossed = bearer_auth(CLIENT_API, sqlite_api.container.token_key, timedelta(minutes=10))
    claims = jwt.decode(crossed.issue(manager_id, 0, now).token, options={"verify_signature": False})
    claims["aud"] = "manager-api"
    resigned = jwt.encode(claims, crossed.config.token_secret, algorithm="HS256")

    for token in (other_key.token, page.token, client.token, resigned):
        assert assert_problem(_channels(sqlite_api, token), 401, "unauthorized")["detail"] == _INVALID


def test_a_token_whose_payload_was_edited_is_refused(sqlite_api: Api) -> None:
    manager_id = _manager_id(sqlite_api)
    header, _, signature = _issue(sqlite_api, manager_id).token.split(".")
    forged = _issue(sqlite_api, manager_id + 1).token.split(".")[1]

    assert_problem(_channels(sqlite_api, f"{header}.{forged}.{signature}"), 401, "unauthorized")
    assert_problem(_channels(sqlite_api, f"{header}.{forged}"), 401, "unauthorized")


@pytest.mark.parametrize(
    "hostile",
    [
        pytest.param("alg-none", id="alg-none"),
        pytest.param("hs512", id="another-algorithm"),
        pytest.param("no-ver", id="no-session-version"),
        pytest.param("ver-text", id="session-version-not-a-number"),
        pytest.param("sub-text", id="subject-not-a-number"),
        pytest.param("sub-huge", id="subject-beyond-int64"),
        pytest.param("aud-list", id="audience-list"),
        pytest.param("exp-huge", id="expiry-beyond-datetime"),
    ],
)
def test_a_hostile_token_with_valid_looking_claims_is_401(sqlite_api: Api, hostile: str) -> None:
    manager_id = _manager_id(sqlite_api)
    auth = session_auth(sqlite_api.client.app.state, MANAGER_API)
    claims = jwt.decode(_issue(sqlite_api, manager_id).token, options={"verify_signature": False})
    secret, algorithm = auth.config.token_secret, "HS256"
    if hostile == "alg-none":
        token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    else:
        if hostile == "hs512":
            algorithm = "HS512"
        elif hostile == "no-ver":
            del claims["ver"]
        elif hostile == "ver-text":
            claims["ver"] = "zero"
        elif hostile == "sub-text":
            claims["sub"] = "anna"
        elif hostile == "sub-huge":
            claims["sub"] = "9" * 30
        elif hostile == "aud-list":
            claims["aud"] = ["manager-api", "client-api"]
        elif hostile == "exp-huge":
            claims["exp"] = 10**30
        token = jwt.encode(claims, secret, algorithm=algorithm)

    assert_problem(_channels(sqlite_api, token), 401, "unauthorized")


def test_a_token_sent_again_is_not_verified_again_and_the_memory_of_tokens_is_bounded(
    sqlite_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager_id = _manager_id(sqlite_api)
    tokens = [_issue(sqlite_api, manager_id).token]
    sqlite_api.clock.advance(timedelta(seconds=1))
    tokens.append(_issue(sqlite_api, manager_id).token)  # another iat: another token
    assert tokens[0] != tokens[1]
    verified: list[str] = []
    decode = jwt.decode

    def counting(**arguments: Any) -> Any:
        verified.append(arguments["jwt"])
        return decode(**arguments)

    monkeypatch.setattr(litestar_token.jwt, "decode", counting)
    monkeypatch.setattr(jwt_auth, "VERIFIED_TOKENS", 1)
    monkeypatch.setattr(jwt_auth, "_VERIFIED", OrderedDict())  # nothing remembered from other tests

    for token in (tokens[0], tokens[0], tokens[1], tokens[1], tokens[0]):
        assert _channels(sqlite_api, token).status_code == 200

    # the first token forgotten when the second was remembered (one at most), then verified again
    assert verified == [tokens[0], tokens[1], tokens[0]]


def test_claims_a_token_carries_beyond_the_known_ones_do_not_leak_into_its_next_check(sqlite_api: Api) -> None:
    manager_id = _manager_id(sqlite_api)
    auth = session_auth(sqlite_api.client.app.state, MANAGER_API)
    claims = jwt.decode(_issue(sqlite_api, manager_id).token, options={"verify_signature": False})
    claims["note"] = "extra"  # Litestar moves unknown claims into the payload's "extras"
    token = jwt.encode(claims, auth.config.token_secret, algorithm="HS256")

    first = SessionToken.decode(token, auth.config.token_secret, "HS256", audience="manager-api")
    again = SessionToken.decode(token, auth.config.token_secret, "HS256", audience="manager-api")

    assert first.extras == again.extras == {"note": "extra"}
    [remembered] = [claims for claims in jwt_auth._VERIFIED.values() if claims.get("note") == "extra"]
    assert remembered["extras"] == {}  # as signed: the decodes filled copies of it


class Ticker:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def a_throttle(ticker: Ticker, **policy: Any) -> LoginThrottle:
    return LoginThrottle(InMemoryAttemptCounter(), ThrottlePolicy(**policy), now=ticker)


async def test_five_wrong_passwords_slow_that_login_from_that_address_only() -> None:
    ticker = Ticker()
    ticker.now = 1020.0  # a window starts here
    throttle = a_throttle(ticker, window=timedelta(seconds=60))
    for _ in range(5):
        assert await throttle.begin("Anna", "10.0.0.1") is None

    ticker.now += 10
    assert await throttle.begin(" anna ", "10.0.0.1") == 50
    # The real manager, elsewhere, is not locked out by someone guessing on purpose.
    assert await throttle.begin("anna", "10.0.0.2") is None
    ticker.now += 50
    assert await throttle.begin("ANNA", "10.0.0.1") is None


async def test_one_address_cannot_spray_guesses_over_many_logins() -> None:
    throttle = a_throttle(Ticker(), failures_per_address=3)
    for number in range(3):
        assert await throttle.begin(f"guess-{number}", "10.0.0.9") is None

    assert await throttle.begin("guess-new", "10.0.0.9") is not None
    assert await throttle.begin("guess-new", "10.0.0.10") is None


async def test_a_success_forgives_the_pair_and_takes_back_the_address_attempt() -> None:
    throttle = a_throttle(Ticker(), failures_per_login_and_address=2, failures_per_address=2)
    await throttle.begin("anna", "10.0.0.1")
    await throttle.begin("anna", "10.0.0.1")
    await throttle.succeeded("anna", "10.0.0.1")

    assert await throttle.begin("anna", "10.0.0.1") is None


async def test_scopes_are_counted_apart_and_keys_hold_no_login_or_address_in_clear() -> None:
    counter = InMemoryAttemptCounter()
    throttle = LoginThrottle(counter, ThrottlePolicy(failures_per_login_and_address=1), now=Ticker())
    await throttle.begin("anna", "10.0.0.1")

    assert await throttle.begin("anna", "10.0.0.1", scope="password") is None
    assert all("anna" not in key and "10.0.0.1" not in key for key, _ in counter.counts)
