"""Schemathesis fuzzes the partner operations of ``/schema`` against ``barbershop serve``, with a key.

Bodies valid by the request schema must be accepted (the few rules a schema cannot state
aside); bodies that break it must get the contract's ``400 {"error": …}`` (never Litestar's
own validation error, never a 5xx), and every answer must match its documented status,
media type and schema.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
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
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.http.server import Server, barbershop, environment, running_server
from tests.integration.partner.conftest import BULK, SINGLE

EXAMPLES_PER_OPERATION = 25
INVALID_NUMBER = "Номер телефона должен быть в формате E.164, например +79111234567"
CHECKS: list[Any] = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def server_and_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    root = tmp_path_factory.mktemp("partner-fuzz")
    env = environment(root / "data")
    with running_server(root / "data", root, env) as running:
        created = subprocess.run(  # noqa: S603 -- our own CLI with fixed arguments
            barbershop("partner", "create", "--name", "fuzzer"),
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        key = re.search(r"bsk_[\w-]+", created.stdout)
        assert key is not None, created.stdout
        yield running, key.group(0)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
@pytest.mark.parametrize("path", [SINGLE, BULK])
def test_the_partner_operations_answer_as_documented(
    server_and_key: tuple[Server, str], mode: GenerationMode, path: str
) -> None:
    server, key = server_and_key
    schema = schemathesis.openapi.from_url(f"{server.base_url}/schema/openapi.json")
    result = next(r for r in schema.get_all_operations() if isinstance(r, Ok) and r.ok().path == path)
    operation = result.ok()
    headers = {"X-API-Key": key}
    refusals: set[str] = set()

    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def requests_conform(case: Any) -> None:
        case.headers = {**(case.headers or {}), **headers}
        response = case.call(base_url=server.base_url, timeout=60)
        case.validate_response(response, checks=CHECKS)
        if response.status_code == 400:
            body = response.json()
            assert set(body) == {"error"}
            refusals.add(body["error"])

    requests_conform()
    if mode is GenerationMode.POSITIVE:
        # What a regex cannot say: a number outside its country's numbering plan, a
        # character Unicode does not print. Any other refusal of a valid body is a bug.
        unexplained = {m for m in refusals if m != INVALID_NUMBER and not m.startswith("Недопустимые символы")}
        assert not unexplained, unexplained
    assert "Traceback" not in server.stderr
