"""Seed 002: a partner registers promo participants with their purchases.

The rules of the partner contract live here, not in the HTTP layer, so a Python system
calling the library gets the same checks and the same Russian messages.
Unknown fields are ignored (a tolerant reader: partners may send more than we use).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Final

import attrs

from barbershop_core.errors import (
    DomainError,
    IdempotencyInFlight,
    IdempotencyKeyReused,
    InvalidPhone,
    TemporaryError,
    ValidationError,
)
from barbershop_core.group_commit import GroupCommit
from barbershop_core.model import (
    UNSAVED,
    Actor,
    AuditAction,
    AuditEvent,
    Client,
    IdempotencyRecord,
    IdempotencyState,
    Partner,
    Person,
    Purchase,
    Staleness,
    partner_source,
)
from barbershop_core.policies import PromoPolicy
from barbershop_core.ports import (
    Clock,
    PromoParticipantIds,
    PromoParticipantRow,
    PromoSignUp,
    StorageUnavailable,
    UniqueViolation,
    UnitOfWork,
    UnitOfWorkFactory,
)
from barbershop_core.use_cases._shared import log
from barbershop_core.values import Email, FullName, Login, Money, PhoneNumber

PURCHASE_NAME_MAX = 50
IDEMPOTENCY_KEY_MAX = 255


@attrs.frozen
class PurchaseLine:
    name: str
    price: Money


@attrs.frozen
class PromoRegistration:
    fio: FullName
    phone: PhoneNumber
    email: Email
    purchases: tuple[PurchaseLine, ...]

    def fingerprint(self) -> str:
        """Identifies the body's meaning: the same registration typed differently matches."""
        canonical = json.dumps(
            [
                str(self.fio),
                str(self.phone),
                str(self.email),
                [[line.name, str(line.price)] for line in self.purchases],
            ],
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


_MISSING = {
    "fio": "Не указано ФИО",
    "phone": "Не указан номер телефона",
    "email": "Не указан email",
    "purchases": "Не указаны покупки",
}
_NOT_A_STRING = {
    "fio": "ФИО должно быть строкой",
    "phone": "Номер телефона должен быть строкой",
    "email": "Email должен быть строкой",
}


_DEFAULT_POLICY = PromoPolicy()


def parse_promo_registration(payload: object, policy: PromoPolicy = _DEFAULT_POLICY) -> PromoRegistration:
    """Check a decoded JSON body; the first problem found is raised with its own message."""
    if not isinstance(payload, Mapping):
        raise ValidationError("Тело запроса должно быть JSON-объектом")
    fio = FullName.parse(_string(payload, "fio"))
    phone_text = _string(payload, "phone")
    try:
        phone = PhoneNumber.parse_strict_e164(phone_text)
    except InvalidPhone:
        raise InvalidPhone("Номер телефона должен быть в формате E.164, например +79111234567") from None
    email = Email.parse(_string(payload, "email"))
    return PromoRegistration(fio, phone, email, _purchases(payload, policy))


def _string(payload: Mapping[object, object], field: str) -> str:
    value = payload.get(field)
    if value is None:
        raise ValidationError(_MISSING[field], field=field)
    if not isinstance(value, str):
        raise ValidationError(_NOT_A_STRING[field], field=field)
    if not value.strip():
        raise ValidationError(_MISSING[field], field=field)
    return value


def _purchases(payload: Mapping[object, object], policy: PromoPolicy) -> tuple[PurchaseLine, ...]:
    raw = payload.get("purchases")
    if raw is None:
        raise ValidationError(_MISSING["purchases"], field="purchases")
    if not isinstance(raw, list):
        raise ValidationError("Покупки должны быть списком", field="purchases")
    if not raw:
        raise ValidationError("Нужна хотя бы одна покупка", field="purchases")
    if len(raw) > policy.max_purchases:
        raise ValidationError(f"Не больше {policy.max_purchases} покупок в одной регистрации", field="purchases")
    return tuple(_purchase(item, number) for number, item in enumerate(raw, start=1))


def _purchase(item: object, number: int) -> PurchaseLine:
    field = f"purchases[{number - 1}]"
    if not isinstance(item, Mapping):
        raise ValidationError(f"Покупка №{number} должна быть объектом", field=field)
    name = item.get("name")
    if name is None or (isinstance(name, str) and not name.strip()):
        raise ValidationError(f"Не указано название покупки №{number}", field=f"{field}.name")
    if not isinstance(name, str):
        raise ValidationError(f"Название покупки №{number} должно быть строкой", field=f"{field}.name")
    name = " ".join(name.split())
    if not name.isprintable():
        raise ValidationError(f"Недопустимые символы в названии покупки №{number}", field=f"{field}.name")
    if len(name) > PURCHASE_NAME_MAX:
        raise ValidationError(f"Название покупки №{number} длиннее {PURCHASE_NAME_MAX} символов", field=f"{field}.name")
    price = item.get("price")
    if price is None:
        raise ValidationError(f"Не указана цена покупки №{number}", field=f"{field}.price")
    try:
        money = Money.parse(price, field=f"{field}.price")
    except ValidationError as exc:
        detail = exc.message[0].lower() + exc.message[1:]
        raise ValidationError(f"Покупка №{number}: {detail}", field=exc.field) from None
    return PurchaseLine(name, money)


@attrs.frozen
class RegisterPromoParticipant:
    registration: PromoRegistration
    partner: Partner
    idempotency_key: str | None = None
    request_id: str | None = None


@attrs.frozen
class PromoResult:
    client_id: int
    replayed: bool = False
    """True when an earlier identical request's answer was returned and nothing was added."""


@attrs.frozen
class PromoDeps:
    uow_factory: UnitOfWorkFactory
    clock: Clock
    policy: PromoPolicy = PromoPolicy()
    sign_ups: PromoSignUps | None = None
    """Registrations that arrive together are written together (one process's shared
    :class:`PromoSignUps`); None: each in a transaction of its own."""


async def register_promo_participant(command: RegisterPromoParticipant, deps: PromoDeps) -> PromoResult:
    """One phone, one client: a known phone adds purchases to that client.

    Idempotent per partner: an ``Idempotency-Key`` replays its first answer for 24 hours
    (another body with the same key is refused; a retry while the first runs waits for it
    and replays it); without a key the same body within five minutes adds nothing twice.
    """
    try:
        if deps.sign_ups is not None:
            if deps.sign_ups.deps != attrs.evolve(deps, sign_ups=None):
                raise ValueError("deps.sign_ups writes through other ports than deps name")
            return await deps.sign_ups.register(command)
        return await _register_alone(command, _record_key(command), deps)
    except StorageUnavailable as exc:
        log.error("ERROR_REGISTER_CLIENT partner=%s phone=%s", command.partner.id, command.registration.phone.masked)
        raise TemporaryError() from exc


class PromoSignUps:
    """Partner registrations of one process that arrive together.

    A partner pushing participants one request at a time keeps many requests in flight;
    each alone is a transaction of its own. Here the requests of one partner that arrive
    while its last batch is being written wait for it and are then written together, by
    the set-based batch (:func:`register_promo_participants`' statements); a request that
    comes alone is written alone, in one statement. Each answer is the one it would get
    alone: its client, replayed when the same body (or the same ``Idempotency-Key``) came
    within the window (also in the same batch), refused when its key came with another
    body, its own request id on its audit event. When the store fails the batch
    (unreachable, or a commit whose answer was lost), every request of it gets that
    failure at once, as each would alone — not a replay, not a wait for the others to be
    tried one by one. Any other failure of a batch (a bug) runs its requests again alone.
    """

    def __init__(self, deps: PromoDeps, *, max_batch: int = 100) -> None:
        self._deps = attrs.evolve(deps, sign_ups=None)
        self._max_batch = max_batch
        self._partners: dict[int, GroupCommit[RegisterPromoParticipant, PromoItemResult | StorageUnavailable]] = {}

    @property
    def deps(self) -> PromoDeps:
        """The ports the registrations are written through."""
        return self._deps

    async def register(self, command: RegisterPromoParticipant) -> PromoResult:
        """Register ``command`` with whatever else arrives."""
        _record_key(command)  # a malformed key is refused before the request joins a batch
        group = self._partners.get(command.partner.id)
        if group is None:
            # A request whose caller is gone before its batch starts is not written:
            # as alone, where a cancelled request never reaches its transaction.
            group = GroupCommit(self._run, max_batch=self._max_batch, skip_cancelled=True)
            self._partners[command.partner.id] = group
        result = await group.submit(command)
        if isinstance(result, StorageUnavailable):
            raise StorageUnavailable(str(result)) from result  # each caller its own exception
        if result.error is not None:
            raise result.error
        assert result.client_id is not None  # a result holds a client or an error
        return PromoResult(result.client_id, replayed=result.replayed)

    async def _run(self, commands: list[RegisterPromoParticipant]) -> list[PromoItemResult | StorageUnavailable]:
        if len(commands) == 1:
            alone = await _register_alone(commands[0], _record_key(commands[0]), self._deps)
            return [PromoItemResult(alone.client_id, replayed=alone.replayed)]
        results: list[PromoItemResult | None] = [None] * len(commands)
        batch = RegisterPromoParticipants([c.registration for c in commands], commands[0].partner)
        registrations = list(enumerate(c.registration for c in commands))
        keys = [_record_key(c) for c in commands]
        request_ids = [c.request_id for c in commands]
        try:
            await _register_batch(batch, keys, registrations, results, self._deps, request_ids)
        except StorageUnavailable as failure:
            return [failure] * len(commands)
        return [result for result in results if result is not None]


_PARTICIPANT_OF_A_BATCH: Final = re.compile(r".*/[0-9]+", re.DOTALL)
"""The shape of a batch participant's key, ``<key>/<position>``."""


def _record_key(command: RegisterPromoParticipant) -> str | None:
    """The key the request's record is kept under, from the partner's ``Idempotency-Key``
    (checked), or None for the body's own (see :func:`_write_batch`).

    A batch keeps participant ``i`` of its key ``K`` under ``key:K/i``; a single request's
    key of that shape (``K/0``) is kept apart, under ``one:``, so it never meets a batch's."""
    if command.idempotency_key is None:
        return None
    key = command.idempotency_key.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable():
        raise ValidationError("Некорректный заголовок Idempotency-Key", field="Idempotency-Key")
    return f"one:{key}" if _PARTICIPANT_OF_A_BATCH.fullmatch(key) else f"key:{key}"


async def _register_alone(command: RegisterPromoParticipant, key: str | None, deps: PromoDeps) -> PromoResult:
    """One request in a transaction of its own: its record kept under the partner's key for
    the key's lifetime, or without a key under its body's fingerprint for the replay window
    (another body under the same key is refused)."""
    fingerprint = command.registration.fingerprint()
    record_key, lifetime = _kept_under(key, fingerprint, deps.policy)
    return await _register_once(
        command, str(Actor.partner(command.partner.id)), record_key, fingerprint, lifetime, deps
    )


def _kept_under(key: str | None, fingerprint: str, policy: PromoPolicy) -> tuple[str, timedelta]:
    """The record key of a registration and how long it holds: the one made of the
    partner's key (:func:`_record_key`, a batch's ``key:K/i``) for the key's lifetime, or
    without one the body's fingerprint for the replay window."""
    if key is None:
        return f"auto:{fingerprint}", policy.replay_window
    return key, policy.idempotency_key_ttl


async def _register_once(
    command: RegisterPromoParticipant, scope: str, key: str, fingerprint: str, lifetime: timedelta, deps: PromoDeps
) -> PromoResult:
    """One transaction. The participant, its purchases, the completed record and the audit
    event are written together; a record already there (the same key within its lifetime)
    leaves the work undone and answers from that record instead. A concurrent duplicate
    waits on the record's key and then finds it, so it is answered as a replay."""
    for attempt in range(2):
        try:
            async with deps.uow_factory() as uow:
                now = deps.clock.now()
                record = IdempotencyRecord(scope, key, fingerprint, now, now + lifetime, IdempotencyState.COMPLETED)
                registered = await uow.promo.register_one(_sign_up(command, record, _staleness(now, deps.policy)))
                if isinstance(registered, IdempotencyRecord):
                    await uow.rollback()
                    result = _replay(uow, command, _answer(registered, fingerprint), now)
                    await uow.commit()
                    return result
                await uow.commit()
                return PromoResult(registered.client_id)
        except UniqueViolation:
            # A store that reports clashes at commit: another request created this phone's
            # person or client (or this record) a moment ago, and the second attempt finds them.
            if attempt:
                raise StorageUnavailable("repeated clash while registering a participant") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _sign_up(command: RegisterPromoParticipant, record: IdempotencyRecord, staleness: Staleness) -> PromoSignUp:
    """The participant's person, client, purchases and audit event, as of ``staleness.now``;
    the store links them."""
    now = staleness.now
    return PromoSignUp(
        person=_person(command.registration, now),
        client=_client(command.registration, command.partner, UNSAVED, now),
        purchases=_purchases_of(command, UNSAVED, now),
        record=record,
        staleness=staleness,
        event=_registered(command, now),
    )


def _replay(uow: UnitOfWork, command: RegisterPromoParticipant, client_id: int, now: datetime) -> PromoResult:
    uow.record(
        AuditEvent(
            action=AuditAction.PROMO_REPLAYED,
            actor=str(Actor.partner(command.partner.id)),
            occurred_at=now,
            request_id=command.request_id,
            client_id=client_id,
            masked_phone=command.registration.phone.masked,
        )
    )
    return PromoResult(client_id, replayed=True)


def _staleness(now: datetime, policy: PromoPolicy) -> Staleness:
    """Expired, or claimed by a request that died before it finished or released the key."""
    return Staleness(now, abandoned_before=now - policy.in_flight_timeout)


def _stale(record: IdempotencyRecord, now: datetime, policy: PromoPolicy) -> bool:
    return _staleness(now, policy).covers(record)


def _answer(record: IdempotencyRecord, fingerprint: str) -> int:
    if record.fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    if record.state is IdempotencyState.IN_FLIGHT or record.result_id is None:
        raise IdempotencyInFlight()
    return record.result_id


def _person(registration: PromoRegistration, now: datetime) -> Person:
    return Person(
        phone=registration.phone,
        first_name=registration.fio.first_name,
        login=Login.from_phone(registration.phone),
        created_at=now,
    )


def _client(registration: PromoRegistration, partner: Partner, person_id: int, now: datetime) -> Client:
    return Client(
        person_id=person_id,
        registered_at=now,
        registered_by=str(Actor.partner(partner.id)),
        source=partner_source(partner.name),
        full_name=registration.fio,
        email=registration.email,
    )


def _purchases_of(command: RegisterPromoParticipant, client_id: int, now: datetime) -> list[Purchase]:
    partner_id = command.partner.id
    return [Purchase(client_id, partner_id, line.name, line.price, now) for line in command.registration.purchases]


def _registered(command: RegisterPromoParticipant, now: datetime) -> AuditEvent:
    """The audit event of a registration, without its person and client (not known yet)."""
    registration = command.registration
    return AuditEvent(
        action=AuditAction.PROMO_REGISTERED,
        actor=str(Actor.partner(command.partner.id)),
        occurred_at=now,
        request_id=command.request_id,
        masked_phone=registration.phone.masked,
        details={"purchases": str(len(registration.purchases)), "email": registration.email.masked},
    )


@attrs.frozen
class RefusedPartnerRequest:
    """A partner request that was turned down, for the audit log."""

    partner_id: int | None
    """None when no valid key came with the request."""
    status: int
    reason: str
    request_id: str | None = None
    masked_phone: str | None = None


async def record_partner_refusal(refusal: RefusedPartnerRequest, deps: PromoDeps) -> None:
    """Audit a refused partner request. Best effort: a store that is down is only logged,
    since the refusal may itself come from that outage."""
    actor = str(Actor.partner(refusal.partner_id)) if refusal.partner_id is not None else "partner:unknown"
    try:
        async with deps.uow_factory() as uow:
            uow.record(
                AuditEvent(
                    action=AuditAction.PROMO_REFUSED,
                    actor=actor,
                    occurred_at=deps.clock.now(),
                    request_id=refusal.request_id,
                    masked_phone=refusal.masked_phone,
                    details={"status": str(refusal.status), "reason": refusal.reason},
                )
            )
            await uow.commit()
    except StorageUnavailable:
        log.warning("could not audit a refused request of %s (request %s)", actor, refusal.request_id)


# -- a batch of participants (set-based) ------------------------------------------------------

MAX_BATCH: Final = 1000
_BATCH_SUFFIX: Final = len(f"/{MAX_BATCH - 1}")
BATCH_IDEMPOTENCY_KEY_MAX: Final = IDEMPOTENCY_KEY_MAX - _BATCH_SUFFIX
"""A batch's key names each participant ``<key>/<index>``, which must fit a record's key."""


class BatchTooLarge(ValidationError):
    code = "batch_too_large"

    def __init__(self) -> None:
        super().__init__(f"Не больше {MAX_BATCH} участников в одном запросе")


class EmptyBatch(ValidationError):
    code = "empty_batch"

    def __init__(self) -> None:
        super().__init__("Нужен хотя бы один участник")


@attrs.frozen
class RegisterPromoParticipants:
    """Up to :data:`MAX_BATCH` participants: decoded JSON objects (checked here) or
    registrations already checked."""

    participants: Sequence[object]
    partner: Partner
    idempotency_key: str | None = None
    request_id: str | None = None
    positions: Sequence[int] | None = None
    """Each participant's number in a longer stream, for its key ``<key>/<position>``
    (by default its index in this batch)."""


@attrs.frozen
class PromoItemResult:
    """One participant's outcome: its client, or the domain error that refused it."""

    client_id: int | None = None
    error: DomainError | None = None
    replayed: bool = False


@attrs.define
class _Item:
    index: int
    registration: PromoRegistration
    record: IdempotencyRecord
    request_id: str | None
    """The request that brought this participant, for its audit event."""
    owner: _Item | None = None
    """An earlier participant of the batch with the same record key: this one repeats it."""


async def register_promo_participants(batch: RegisterPromoParticipants, deps: PromoDeps) -> list[PromoItemResult]:
    """Register a batch in one transaction of a handful of set-based statements.

    Each participant is checked like :func:`register_promo_participant`, and its result
    comes in its place; a refused participant never stops the others. Participants with
    one phone are one client with every purchase set. Idempotent per partner like the
    single registration: with a key participant ``i`` is the key ``<key>/<i>`` (a retried
    batch replays its whole answer); without one the same participant within the replay
    window adds nothing (also twice in one batch).
    """
    if not batch.participants:
        raise EmptyBatch()
    if len(batch.participants) > MAX_BATCH:
        raise BatchTooLarge()
    positions = range(len(batch.participants)) if batch.positions is None else batch.positions
    if len(positions) != len(batch.participants):
        raise ValueError("one position per participant")
    key = None if batch.idempotency_key is None else _batch_key(batch.idempotency_key, max(positions))
    keys = [None if key is None else f"key:{key}/{position}" for position in positions]
    results: list[PromoItemResult | None] = [None] * len(batch.participants)
    registrations: list[tuple[int, PromoRegistration]] = []
    for index, payload in enumerate(batch.participants):
        try:
            registration = (
                payload if isinstance(payload, PromoRegistration) else parse_promo_registration(payload, deps.policy)
            )
        except ValidationError as exc:
            results[index] = PromoItemResult(error=exc)
            continue
        registrations.append((index, registration))
    if registrations:
        try:
            await _register_batch(batch, keys, registrations, results, deps)
        except StorageUnavailable as exc:
            log.error("ERROR_REGISTER_CLIENTS partner=%s participants=%s", batch.partner.id, len(registrations))
            raise TemporaryError() from exc
    return [result for result in results if result is not None]


def _batch_key(raw: str, last_position: int) -> str:
    key = raw.strip()
    if (
        not key
        or len(key) > IDEMPOTENCY_KEY_MAX - len(f"/{max(last_position, MAX_BATCH - 1)}")
        or not key.isprintable()
    ):
        raise ValidationError("Некорректный заголовок Idempotency-Key", field="Idempotency-Key")
    return key


async def _register_batch(
    batch: RegisterPromoParticipants,
    keys: Sequence[str | None],
    registrations: list[tuple[int, PromoRegistration]],
    results: list[PromoItemResult | None],
    deps: PromoDeps,
    request_ids: Sequence[str | None] | None = None,
) -> None:
    """``keys``: the key each participant's record is kept under (None: its body's own);
    ``request_ids``: each participant's own request (by default the batch's)."""
    requests = [batch.request_id] * len(results) if request_ids is None else request_ids
    for attempt in range(2):
        try:
            async with deps.uow_factory() as uow:
                outcome = await _write_batch(uow, batch, keys, registrations, deps, requests)
                await uow.commit()
        except UniqueViolation:
            # Another request made one of these persons, clients or idempotency records a
            # moment ago: now it is known (a record's participant is then answered from it).
            if attempt:
                raise StorageUnavailable("repeated clash while registering a batch") from None
            continue
        for index, result in outcome.items():
            results[index] = result
        return


async def _write_batch(
    uow: UnitOfWork,
    batch: RegisterPromoParticipants,
    keys: Sequence[str | None],
    registrations: list[tuple[int, PromoRegistration]],
    deps: PromoDeps,
    request_ids: Sequence[str | None],
) -> dict[int, PromoItemResult]:
    now = deps.clock.now()
    scope = str(Actor.partner(batch.partner.id))
    items: list[_Item] = []
    owners: dict[str, _Item] = {}
    for index, registration in registrations:
        fingerprint = registration.fingerprint()
        record_key, lifetime = _kept_under(keys[index], fingerprint, deps.policy)
        record = IdempotencyRecord(scope, record_key, fingerprint, now, now + lifetime)
        item = _Item(index, registration, record, request_ids[index], owners.get(record_key))
        owners.setdefault(record_key, item)
        items.append(item)
    firsts = [item for item in items if item.owner is None]
    # The records are read here and written once, completed, at the end: their unique key
    # still decides between concurrent batches (the loser's write clashes, it starts again).
    earlier = await uow.promo.stored([item.record for item in firsts])
    answers: dict[int, PromoItemResult] = {}
    fresh: list[_Item] = []
    stale: list[IdempotencyRecord] = []
    kept: dict[int, IdempotencyRecord] = {}
    for item, found in zip(firsts, earlier, strict=True):
        if found is None:
            fresh.append(item)
        elif _stale(found, now, deps.policy):
            fresh.append(item)
            stale.append(found)
        else:
            kept[item.index] = found
            answers[item.index] = _answered(found, item.record.fingerprint)
    ids = await _participants(uow, batch.partner, fresh, now)
    purchases: list[Purchase] = []
    for item in fresh:
        client_id = ids[item.registration.phone.e164].client_id
        item.record.state = IdempotencyState.COMPLETED
        item.record.result_id = client_id
        purchases.extend(
            Purchase(client_id, batch.partner.id, line.name, line.price, now) for line in item.registration.purchases
        )
        answers[item.index] = PromoItemResult(client_id)
    await uow.promo.add_purchases(purchases)
    await uow.promo.complete(
        sorted((item.record for item in fresh), key=_record_order), replacing=sorted(stale, key=_record_order)
    )
    for item in items:
        if item.owner is None:
            continue
        if item.owner.index in kept:  # the key's record was there before the batch: answered from it
            answers[item.index] = _answered(kept[item.owner.index], item.record.fingerprint)
        elif item.record.fingerprint != item.owner.record.fingerprint:  # one key, another body
            answers[item.index] = PromoItemResult(error=IdempotencyKeyReused())
        else:
            first = answers[item.owner.index]
            answers[item.index] = attrs.evolve(first, replayed=first.client_id is not None)
    _audit(uow, batch, items, answers, ids, now)
    return answers


def _record_order(record: IdempotencyRecord) -> tuple[str, str]:
    """Records are written in their keys' order, for the same reason as the participants."""
    return record.scope, record.key


def _answered(record: IdempotencyRecord, fingerprint: str) -> PromoItemResult:
    try:
        return PromoItemResult(_answer(record, fingerprint), replayed=True)
    except DomainError as exc:
        return PromoItemResult(error=exc)


async def _participants(
    uow: UnitOfWork, partner: Partner, fresh: list[_Item], now: datetime
) -> dict[str, PromoParticipantIds]:
    rows: dict[str, PromoParticipantRow] = {}
    for item in fresh:
        registration = item.registration
        rows.setdefault(
            registration.phone.e164, PromoParticipantRow(registration.phone, registration.fio, registration.email)
        )
    if not rows:
        return {}
    # In the phones' order: batches that lock overlapping rows (a known client's update, a
    # new phone's insert) take the locks in one order and cannot deadlock.
    phones = sorted(rows)
    found = await uow.promo.participants(
        [rows[phone] for phone in phones],
        now=now,
        registered_by=str(Actor.partner(partner.id)),
        source=partner_source(partner.name),
    )
    return dict(zip(phones, found, strict=True))


def _audit(
    uow: UnitOfWork,
    batch: RegisterPromoParticipants,
    items: list[_Item],
    answers: dict[int, PromoItemResult],
    ids: dict[str, PromoParticipantIds],
    now: datetime,
) -> None:
    actor = str(Actor.partner(batch.partner.id))
    events: list[AuditEvent] = []
    for item in items:
        answer = answers[item.index]
        if answer.client_id is None:
            continue
        registration = item.registration
        if answer.replayed:
            events.append(
                AuditEvent(
                    action=AuditAction.PROMO_REPLAYED,
                    actor=actor,
                    occurred_at=now,
                    request_id=item.request_id,
                    client_id=answer.client_id,
                    masked_phone=registration.phone.masked,
                )
            )
            continue
        events.append(
            AuditEvent(
                action=AuditAction.PROMO_REGISTERED,
                actor=actor,
                occurred_at=now,
                request_id=item.request_id,
                person_id=ids[registration.phone.e164].person_id,
                client_id=answer.client_id,
                masked_phone=registration.phone.masked,
                details={"purchases": str(len(registration.purchases)), "email": registration.email.masked},
            )
        )
    uow.record(*events)
