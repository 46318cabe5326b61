"""The log's last guard: phones masked in free text and, decoded first, in request targets."""

from __future__ import annotations

import io
import json
import logging

import pytest

from barbershop_entrypoints.logging_setup import REQUEST_ID, JsonFormatter, log_handler, mask_url

PHONE_SPELLINGS = [
    "%2B79165551234",
    "%252B79165551234",
    "8+916+555-12-34",
    "%2B7+916+555+12+34",
    "8.916.555.12.34",
    "8_916_555_12_34",
    "8%20(916)%20555-12-34",
    "%38%39%31%36%35%35%35%31%32%33%34",
    "89165551234",
]


@pytest.mark.parametrize("spelling", PHONE_SPELLINGS)
def test_a_phone_in_a_query_string_is_masked_whatever_its_encoding(spelling: str) -> None:
    masked = mask_url(f"/clients?limit=10&phone={spelling}&flash=x")

    assert "555" not in masked
    assert masked.startswith("/clients?limit=10&phone=")
    assert masked.endswith("34&flash=x")


@pytest.mark.parametrize("spelling", PHONE_SPELLINGS)
def test_a_phone_in_a_path_is_masked(spelling: str) -> None:
    assert "555" not in mask_url(f"/api/clients/{spelling}")


def test_a_target_without_a_phone_keeps_its_meaning_and_no_control_character() -> None:
    assert mask_url("/api/clients/42?limit=10") == "/api/clients/42?limit=10"
    assert mask_url("/x?note=a%0Ab") == "/x?note=a%0Ab"


def test_the_access_line_of_uvicorn_is_logged_with_its_target_masked() -> None:
    buffer = io.StringIO()
    logger = logging.getLogger("uvicorn.access")
    handler = log_handler(buffer)
    logger.addHandler(handler)
    logger.propagate, propagate = False, logger.propagate
    try:
        logger.warning(
            '%s - "%s %s HTTP/%s" %d', "192.168.100.200:5000", "GET", "/clients?phone=8.916.555.12.34", "1.1", 200
        )
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate

    line = buffer.getvalue()
    assert '192.168.100.200:5000 - "GET /clients?phone=+8916*****34 HTTP/1.1" 200' in line


def _fail_with_a_phone() -> None:
    raise ValueError("bad phone 8 916 555-12-34")


def test_json_lines_mask_phones_in_the_message_and_the_exception() -> None:
    buffer = io.StringIO()
    logger = logging.getLogger("barbershop.test.json")
    handler = log_handler(buffer, "json")
    logger.addHandler(handler)
    token = REQUEST_ID.set("req-42")
    try:
        try:
            _fail_with_a_phone()
        except ValueError:
            logger.exception("failed for +79165551234")
    finally:
        REQUEST_ID.reset(token)
        logger.removeHandler(handler)

    line = json.loads(buffer.getvalue())
    assert line["request_id"] == "req-42"
    assert line["level"] == "ERROR"
    assert "555" not in line["message"]
    assert "555" not in line["exception"]
    assert "+7916*****34" in line["message"]


def test_the_log_format_comes_from_the_environment_and_text_stays_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BARBERSHOP_LOG_FORMAT", raising=False)
    assert not isinstance(log_handler().formatter, JsonFormatter)
    monkeypatch.setenv("BARBERSHOP_LOG_FORMAT", "json")
    assert isinstance(log_handler().formatter, JsonFormatter)
    monkeypatch.setenv("BARBERSHOP_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="BARBERSHOP_LOG_FORMAT"):
        log_handler()
