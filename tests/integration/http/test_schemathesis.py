"""Schemathesis fuzzes every operation of ``/schema`` against ``barbershop serve``, logged in.

Bounded: a few dozen generated requests per operation and mode (valid data, then data that
breaks the schema), about a minute in all. Every answer must be no 5xx, a documented
status, the documented media type and headers, and a body that matches its schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.http.server import Server, create_manager, environment, running_server

EXAMPLES_PER_OPERATION = 25
CHECKS: list[Callable[..., Any]] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
PASSWORD = "fuzzing manager's long password"
WEBHOOKS = "/api/webhooks/"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("schemathesis")
    env = environment(root / "data")
    with running_server(root / "data", root, env) as running:
        assert create_manager(env, "fuzzer", PASSWORD).returncode == 0
        yield running


@pytest.fixture(scope="module")
def auth(server: Server) -> dict[str, str]:
    import httpx  # noqa: PLC0415 -- only the login needs a plain client

    answer = httpx.post(f"{server.base_url}/api/auth/login", json={"login": "fuzzer", "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _fuzz(operation: Any, mode: GenerationMode, base_url: str, headers: dict[str, str]) -> None:
    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def requests_conform(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        case.validate_response(response, checks=CHECKS, headers=headers)

    requests_conform()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_every_operation_answers_as_documented(server: Server, auth: dict[str, str], mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{server.base_url}/schema/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the document itself must be valid
        operation = result.ok()
        operations += 1
        if operation.path.startswith(WEBHOOKS):
            continue  # providers' own formats and signatures: tests/integration/reports drives them
        try:
            _fuzz(operation, mode, server.base_url, auth)
        except hypothesis.errors.Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE, operation.path  # an operation with no input has none to break
        except Exception as failure:  # noqa: BLE001 -- collect every operation's failure, report all at once
            failures.append(f"{operation.method.upper()} {operation.path}:\n{failure}")
    assert (
        operations == 32
    )  # section 5 (logout, timeline, the client's four), the two of seed 002, the four webhooks, the audit trail
    assert not failures, "\n\n".join(failures)
    assert "Traceback" not in server.stderr
