"""``POST /api/register-clients`` with ``application/x-ndjson``: a day's promo in one request.

One participant per line (blank lines are skipped), up to :data:`MAX_LINES`. Lines are
gathered into batches of up to 1000 as they arrive and each batch goes to the core's
set-based :func:`register_promo_participants` at once; its results are written back, one
JSON line per participant line, in order, before the next batch is read. Neither side
holds more than a batch. A line that is not JSON, or longer than a single participant may
be, gets its own ``{"error": …}`` line and the others go on; past :data:`MAX_LINES` the
stream ends with an error line. With an ``Idempotency-Key`` participant line ``i`` (from 0)
is the key ``<key>/<i>``: a retried stream replays.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Final

import attrs
from litestar.response import Stream
from litestar.response.base import ASGIResponse
from litestar.response.streaming import ASGIStreamingResponse
from litestar.types import Receive, Send

from barbershop_core.errors import DomainError
from barbershop_core.model import Partner
from barbershop_core.ports import StorageUnavailable
from barbershop_core.use_cases.promo import (
    IDEMPOTENCY_KEY_MAX,
    MAX_BATCH,
    PromoDeps,
    PromoItemResult,
    RegisterPromoParticipants,
    register_promo_participants,
)
from barbershop_entrypoints.http.partner_errors import PartnerRefusal, error_body, item_error
from barbershop_entrypoints.http.partner_json import decode_json
from barbershop_entrypoints.http.partner_openapi import MAX_LINES, NDJSON

MEDIA_TYPE: Final = NDJSON
LINE_MAX: Final = 64 * 1024
"""A participant with ten purchases is under 4 KiB even with every character \\u-escaped."""
MAX_BODY: Final = MAX_LINES * 4 * 1024
KEY_MAX: Final = IDEMPOTENCY_KEY_MAX - len(f"/{MAX_LINES - 1}")
TOO_MANY_LINES: Final = f"Не больше {MAX_LINES} участников в одном потоке: остальные строки не обработаны"
LINE_TOO_LONG: Final = f"Строка длиннее {LINE_MAX // 1024} КиБ"


async def lines(chunks: AsyncIterator[bytes], max_line: int = LINE_MAX) -> AsyncIterator[bytes | None]:
    """The non-blank lines of a byte stream, as they complete; None stands for a line
    longer than ``max_line``, which is dropped as it arrives (never buffered whole)."""
    buffer = bytearray()
    skipping = False
    async for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            piece, start = chunk[start:end], end + 1
            if skipping:
                skipping = False
                continue
            if len(buffer) + len(piece) > max_line:
                buffer.clear()
                yield None
                continue
            buffer += piece
            line = bytes(buffer)
            buffer.clear()
            if line.strip():
                yield line
        if skipping:
            continue
        rest = chunk[start:]
        if len(buffer) + len(rest) > max_line:
            buffer.clear()
            skipping = True
            yield None
        else:
            buffer += rest
    if not skipping and buffer.strip():
        yield bytes(buffer)


@attrs.define
class StreamCounts:
    registered: int = 0
    replayed: int = 0
    refused: int = 0


@attrs.define
class _Pending:
    """The lines of the batch being gathered: an error already, or a participant to register."""

    answers: list[dict[str, Any] | None] = attrs.field(factory=list)
    participants: list[object] = attrs.field(factory=list)
    positions: list[int] = attrs.field(factory=list)
    slots: list[int] = attrs.field(factory=list)


async def register_stream(
    source: AsyncIterator[bytes | None],
    partner: Partner,
    promo: PromoDeps,
    key: str | None,
    request_id: str,
    counts: StreamCounts,
) -> AsyncIterator[bytes]:
    """The result lines of a stream of participant lines, batch by batch, in order."""
    pending = _Pending()
    position = 0
    async for line in source:
        if position == MAX_LINES:
            async for out in _flush(pending, partner, promo, key, request_id, counts):
                yield out
            counts.refused += 1
            yield _line(error_body(TOO_MANY_LINES))
            return
        _take(pending, line, position)
        position += 1
        if len(pending.participants) == MAX_BATCH:
            async for out in _flush(pending, partner, promo, key, request_id, counts):
                yield out
            pending = _Pending()
    async for out in _flush(pending, partner, promo, key, request_id, counts):
        yield out


def _take(pending: _Pending, line: bytes | None, position: int) -> None:
    if line is None:
        pending.answers.append(error_body(LINE_TOO_LONG))
        return
    try:
        payload = decode_json(line)
    except PartnerRefusal as refusal:
        pending.answers.append(error_body(refusal.message))
        return
    pending.slots.append(len(pending.answers))
    pending.answers.append(None)
    pending.participants.append(payload)
    pending.positions.append(position)


async def _flush(
    pending: _Pending, partner: Partner, promo: PromoDeps, key: str | None, request_id: str, counts: StreamCounts
) -> AsyncIterator[bytes]:
    if pending.participants:
        batch = RegisterPromoParticipants(pending.participants, partner, key, request_id, pending.positions)
        try:
            answers = [_answer(result, counts) for result in await register_promo_participants(batch, promo)]
        except (DomainError, StorageUnavailable) as exc:
            # The store failed this batch: each of its lines says so; a retry of the stream replays the rest.
            answers = [item_error(exc)] * len(pending.slots)
        for slot, answer in zip(pending.slots, answers, strict=True):
            pending.answers[slot] = answer
    done = [answer for answer in pending.answers if answer is not None]
    counts.refused += sum(1 for answer in done if "error" in answer)
    if done:
        yield b"".join(_line(answer) for answer in done)


def _answer(result: PromoItemResult, counts: StreamCounts) -> dict[str, Any]:
    if result.error is not None:
        return item_error(result.error)
    if result.replayed:
        counts.replayed += 1
    else:
        counts.registered += 1
    return {"client_id": result.client_id}


def _line(answer: dict[str, Any]) -> bytes:
    return json.dumps(answer, ensure_ascii=False).encode() + b"\n"


class _ReadingWhileWriting(ASGIStreamingResponse):
    """Litestar's streaming response without its disconnect listener: that listener calls
    ``receive`` while the body is sent, and would take the request's own lines, which the
    results are made of. A client that goes away is noticed when a send fails."""

    __slots__ = ()

    async def send_body(self, send: Send, receive: Receive) -> None:
        await self._stream(send)


class NdjsonStream(Stream):
    """A streamed NDJSON answer whose iterator may still read the request body."""

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> ASGIResponse:
        response = super().to_asgi_response(*args, **kwargs)
        response.__class__ = _ReadingWhileWriting
        return response
