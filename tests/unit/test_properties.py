"""Hypothesis properties: phone normalisation and masking, and the notification status machine."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import phonenumbers
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from barbershop_core.errors import InvalidPhone, InvalidTransition
from barbershop_core.model import ClientNotification, NotificationStatus, TemplateKind
from barbershop_core.values import PhoneNumber

# --- phone numbers --------------------------------------------------------------------------

_TYPES = (
    PhoneNumberType.MOBILE,
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER,
    PhoneNumberType.UAN,
)
# The core stores E.164 with 7 to 15 digits; phonenumbers also knows a few shorter service numbers.
_E164_DIGITS = re.compile(r"\+[1-9]\d{6,14}")
_EXAMPLES = tuple(
    (region, example)
    for region in sorted(phonenumbers.SUPPORTED_REGIONS)
    for number_type in _TYPES
    if (example := phonenumbers.example_number_for_type(region, number_type)) is not None
)


@st.composite
def valid_numbers(draw: st.DrawFn) -> tuple[str, phonenumbers.PhoneNumber]:
    """A region and a valid number of it: an example number with its last digits varied."""
    region, example = draw(st.sampled_from(_EXAMPLES))
    national = str(example.national_number)
    keep = max(len(national) - 4, 1)
    tail = draw(st.text("0123456789", min_size=len(national) - keep, max_size=len(national) - keep))
    candidate = phonenumbers.PhoneNumber(
        country_code=example.country_code,
        national_number=int(national[:keep] + tail),
        italian_leading_zero=example.italian_leading_zero,
        number_of_leading_zeros=example.number_of_leading_zeros,
    )
    number = candidate if phonenumbers.is_valid_number_for_region(candidate, region) else example
    assume(_E164_DIGITS.fullmatch(phonenumbers.format_number(number, PhoneNumberFormat.E164)))
    return region, number


@given(valid_numbers(), st.sampled_from([PhoneNumberFormat.E164, PhoneNumberFormat.INTERNATIONAL]))
@settings(max_examples=400)
def test_any_valid_number_in_international_form_parses_back_to_its_e164(
    region_and_number: tuple[str, phonenumbers.PhoneNumber], number_format: int
) -> None:
    _, number = region_and_number
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)

    assert PhoneNumber.parse(phonenumbers.format_number(number, number_format)).e164 == e164
    assert PhoneNumber.parse_strict_e164(e164).e164 == e164


@given(valid_numbers())
@settings(max_examples=400)
def test_any_valid_number_in_national_form_parses_back_with_its_region_as_default(
    region_and_number: tuple[str, phonenumbers.PhoneNumber],
) -> None:
    region, number = region_and_number
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)

    assert PhoneNumber.parse(national, region).e164 == phonenumbers.format_number(number, PhoneNumberFormat.E164)


@given(valid_numbers())
def test_a_parsed_number_is_already_normal_so_parsing_it_again_changes_nothing(
    region_and_number: tuple[str, phonenumbers.PhoneNumber],
) -> None:
    region, number = region_and_number
    phone = PhoneNumber.parse(phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL), region)

    assert PhoneNumber.parse(phone.e164) == phone


@given(valid_numbers())
def test_masking_reveals_at_most_five_leading_and_two_trailing_characters(
    region_and_number: tuple[str, phonenumbers.PhoneNumber],
) -> None:
    _, number = region_and_number
    phone = PhoneNumber.parse(phonenumbers.format_number(number, PhoneNumberFormat.E164))

    masked = phone.masked

    assert len(masked) == len(phone.e164)
    assert masked[:5] == phone.e164[:5]
    assert masked[-2:] == phone.e164[-2:]
    assert set(masked[5:-2]) == {"*"}
    assert phone.e164 not in masked


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_parsing_anything_either_gives_e164_or_answers_invalid_phone(raw: str) -> None:
    try:
        phone = PhoneNumber.parse(raw)
    except InvalidPhone:
        return
    assert phone.e164.startswith("+")
    assert phone.e164[1:].isascii()
    assert phone.e164[1:].isdigit()


# --- the status machine ---------------------------------------------------------------------

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
PROGRESS = {
    NotificationStatus.HELD: 0,
    NotificationStatus.SCHEDULED: 0,
    NotificationStatus.SENT: 1,
    NotificationStatus.DELIVERED: 2,
    NotificationStatus.FAILED: 2,
}
FINAL = {NotificationStatus.DELIVERED, NotificationStatus.FAILED}
WITHOUT_SECRET = {NotificationStatus.SENT, NotificationStatus.DELIVERED, NotificationStatus.FAILED}

Operation = Callable[[ClientNotification, datetime], object]
OPERATIONS: dict[str, Operation] = {
    "claim": lambda n, now: n.claim(now, now + timedelta(minutes=2)),
    "record_sent": lambda n, now: n.record_sent(now, "p-1"),
    "retryable_failure": lambda n, now: n.record_retryable_failure(now, "timeout", now + timedelta(seconds=30)),
    "last_retryable_failure": lambda n, now: n.record_retryable_failure(now, "timeout", None),
    "permanent_failure": lambda n, now: n.record_permanent_failure(now, "blocked"),
    "hold": lambda n, now: n.hold(now, "Канал недоступен"),
    "release": lambda n, now: n.release(now, "telegram"),
    "fail": lambda n, now: n.fail(now, "Срок действия временного пароля истёк"),
    "report_delivered": lambda n, now: n.apply_delivery_report(now, NotificationStatus.DELIVERED, None),
    "report_failed": lambda n, now: n.apply_delivery_report(now, NotificationStatus.FAILED, "undelivered"),
    "wipe_secret": lambda n, now: n.wipe_secret(),
}


@given(
    held=st.booleans(),
    with_secret=st.booleans(),
    operations=st.lists(st.sampled_from(sorted(OPERATIONS)), max_size=25),
)
@settings(max_examples=500)
def test_no_sequence_of_operations_breaks_the_status_machine(
    held: bool, with_secret: bool, operations: list[str]
) -> None:
    n = ClientNotification.new(
        client_id=1,
        channel="sms",
        template_code="REG_WELCOME",
        kind=TemplateKind.SERVICE,
        now=T0,
        held=held,
        secret=b"sealed" if with_secret else None,
        secret_expires_at=T0 + timedelta(hours=72) if with_secret else None,
    )
    for step, name in enumerate(operations, start=1):
        now = T0 + timedelta(seconds=step)
        before, history_before = n.status, list(n.history)

        with contextlib.suppress(InvalidTransition):  # refusing a move is allowed; breaking a rule is not
            OPERATIONS[name](n, now)

        assert PROGRESS[n.status] >= PROGRESS[before], f"{name} moved {before} back to {n.status}"
        if before in FINAL:
            assert n.status is before
        if n.status is before:
            assert n.history == history_before
        else:
            assert n.history[:-1] == history_before
            assert (n.history[-1].status, n.history[-1].at) == (n.status, now)
        if n.status in WITHOUT_SECRET:
            assert (n.secret, n.secret_expires_at) == (None, None)
        assert n.history[-1].status is n.status
        assert [change.at for change in n.history] == sorted(change.at for change in n.history)
        assert n.is_final is (n.status in FINAL)
