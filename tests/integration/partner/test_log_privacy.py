"""No log line holds a participant's raw phone or e-mail, or a partner's key, whatever happens.

The log is captured through the production handler at DEBUG (stricter than production's
INFO) while partner requests run every way they can: registered, replayed, refused for
each kind of reason, failed in the database, failed by a bug quoting personal data.
"""

from __future__ import annotations

import io
from urllib.parse import quote

import pytest

from barbershop_entrypoints.http.controllers import partner as partner_controller
from barbershop_entrypoints.http.partner_trace import mask_personal_data
from tests.integration.http.conftest import clients_table_refusing_rows, new_phone
from tests.integration.partner.conftest import PartnerApi, participant


def _spellings(phone: str) -> list[str]:
    digits = phone[1:]
    return [phone, digits, "8" + digits[1:], digits[1:], quote(phone), quote(phone, safe="")]


def test_no_log_line_holds_a_phone_an_email_or_a_key(
    sqlite_partner: PartnerApi, captured_log: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    partner = sqlite_partner
    phones = [new_phone() for _ in range(6)]
    emails = [f"person.{index}@example.org" for index in range(6)]
    registered, replayed, refused, failing, buggy, bulk = zip(phones, emails, strict=True)

    assert partner.register(participant(phone=registered[0], email=registered[1])).status_code == 200
    body = participant(phone=replayed[0], email=replayed[1])
    for _ in range(2):
        assert partner.register(body, headers={"Idempotency-Key": "k"}).status_code == 200
    assert partner.register(body | {"fio": "Другой"}, headers={"Idempotency-Key": "k"}).status_code == 422
    assert partner.register(participant(phone=refused[0], email="broken@")).status_code == 400
    assert partner.register(participant(phone=refused[0], email=refused[1], purchases=[])).status_code == 400
    assert (
        partner.register(participant(phone=refused[0], email=refused[1]), headers={"X-API-Key": "bsk_x"}).status_code
        == 401
    )
    with clients_table_refusing_rows(partner.api):
        assert partner.register(participant(phone=failing[0], email=failing[1])).status_code == 500
    assert (
        partner.bulk([participant(phone=bulk[0], email=bulk[1]), participant(email=bulk[1], phone="8")]).status_code
        == 200
    )

    async def leaky(*_: object) -> None:
        raise RuntimeError(f"row ({buggy[0]}, {buggy[1]}) refused")

    monkeypatch.setattr(partner_controller, "register_promo_participant", leaky)
    assert partner.register(participant(phone=buggy[0], email=buggy[1])).status_code == 500

    log = captured_log.getvalue()
    assert "internal_error" in log
    assert "RuntimeError: row (+7911*****" in log
    assert "p***@example.org" in log
    assert log.count("partner_request ") == 10
    leaks = [spelling for phone in phones for spelling in _spellings(phone) if spelling in log]
    leaks += [email for email in emails if email in log]
    leaks += [partner.key] if partner.key in log else []
    assert not leaks, f"found in the log: {leaks}"


def test_the_mask_hides_emails_and_phones_and_keeps_the_rest() -> None:
    text = "phone=+79111234567 email=ivan.petrov@mail.ru status=400 client_id=42"

    assert mask_personal_data(text) == "phone=+7911*****67 email=i***@mail.ru status=400 client_id=42"
    assert mask_personal_data(mask_personal_data(text)) == mask_personal_data(text)
